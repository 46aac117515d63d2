//! `stopgate.v1.CommandService`: validates, then streams the engine's events ([`super::stream`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{auth, convert, deadline, pb, status, stream};
use crate::engine::Engine;
use crate::engine::ledger::Ledger;
use crate::engine::request::{FieldViolation, InvalidRequest};

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
        auth::authorize(&request, &request.get_ref().account)?;
        let deadline = deadline::of(request.metadata());
        let converted = convert::command_request(request.into_inner()).map_err(|problems| {
            status::invalid_request(&InvalidRequest {
                violations: problems
                    .into_iter()
                    .map(|(field, description)| FieldViolation { field, description })
                    .collect(),
            })
        })?;
        let valid = self
            .engine
            .validate_command(converted)
            .map_err(|invalid| status::invalid_request(&invalid))?;
        tracing::info!(provider = %valid.provider, region = %valid.region, account = %valid.account, execution = %valid.execution_id, instances = valid.ids.len(), dry_run = valid.dry_run, "StopCommandExecution");

        let (events_tx, events_rx) = mpsc::channel(256);
        let ledger = Arc::new(Ledger::new(valid.ids.clone(), valid.requested, events_tx));
        let engine = self.engine.clone();
        let work = async move { engine.stop_command(valid, ledger, deadline).await };
        Ok(Response::new(stream::spawn(
            events_rx,
            work,
            convert::command_event,
        )))
    }
}
