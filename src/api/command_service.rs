//! `stopgate.v1.CommandService`: authorizes and validates, then streams the engine's events
//! ([`super::stream`]) inside the RPC's span.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::stream::{self, Rpc};
use super::{auth, convert, deadline, pb, status};
use crate::engine::Engine;
use crate::engine::ledger::Ledger;

/// The service implementation.
#[derive(Clone)]
pub struct CommandService {
    engine: Arc<Engine>,
}

impl CommandService {
    pub fn new(engine: Arc<Engine>) -> CommandService {
        CommandService { engine }
    }
}

type Stream = ReceiverStream<Result<pb::StopCommandExecutionResponse, Status>>;

#[tonic::async_trait]
impl pb::command_service_server::CommandService for CommandService {
    type StopCommandExecutionStream = Stream;

    async fn stop_command_execution(
        &self,
        request: Request<pb::StopCommandExecutionRequest>,
    ) -> Result<Response<Stream>, Status> {
        let rpc = Rpc::start(
            "stopgate.v1.CommandService",
            "StopCommandExecution",
            request.metadata(),
        );
        let prepared = rpc.span.in_scope(|| {
            auth::authorize(&request, &request.get_ref().account)?;
            let deadline = deadline::of(request.metadata());
            let converted = convert::command_request(request.into_inner()).map_err(status::invalid_fields)?;
            let valid = self.engine.validate_command(converted).map_err(|invalid| status::invalid_request(&invalid))?;
            tracing::info!(provider = %valid.provider, region = %valid.region, account = %valid.account, execution = %valid.execution_id, instances = valid.ids.len(), dry_run = valid.dry_run, "StopCommandExecution");
            Ok((valid, deadline))
        });
        let (valid, deadline) = prepared.map_err(|status: Status| rpc.refused(status))?;
        let (events_tx, events_rx) = mpsc::channel(256);
        let ledger = Arc::new(
            Ledger::new(valid.ids.clone(), valid.requested, events_tx)
                .labelled("StopCommandExecution", valid.provider),
        );
        let engine = self.engine.clone();
        let work = async move { engine.stop_command(valid, ledger, deadline).await };
        Ok(Response::new(stream::spawn(
            rpc,
            events_rx,
            work,
            convert::command_event,
        )))
    }
}
