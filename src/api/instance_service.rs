//! `stopgate.v1.InstanceService`: authorizes and validates, then streams the engine's events
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
pub struct InstanceService {
    engine: Arc<Engine>,
}

impl InstanceService {
    pub fn new(engine: Arc<Engine>) -> InstanceService {
        InstanceService { engine }
    }
}

type Stream = ReceiverStream<Result<pb::StopInstancesResponse, Status>>;

#[tonic::async_trait]
impl pb::instance_service_server::InstanceService for InstanceService {
    type StopInstancesStream = Stream;

    async fn stop_instances(
        &self,
        request: Request<pb::StopInstancesRequest>,
    ) -> Result<Response<Stream>, Status> {
        let rpc = Rpc::start(
            "stopgate.v1.InstanceService",
            "StopInstances",
            request.metadata(),
        );
        let prepared = rpc.span.in_scope(|| {
            auth::authorize(&request, &request.get_ref().account)?;
            let deadline = deadline::of(request.metadata());
            let converted = convert::stop_request(request.into_inner()).map_err(status::invalid_fields)?;
            let valid = self.engine.validate_stop(converted).map_err(|invalid| status::invalid_request(&invalid))?;
            tracing::info!(provider = %valid.provider, region = %valid.region, account = %valid.account, instances = valid.ids.len(), dry_run = valid.dry_run, "StopInstances");
            Ok((valid, deadline))
        });
        let (valid, deadline) = prepared.map_err(|status: Status| rpc.refused(status))?;
        let (events_tx, events_rx) = mpsc::channel(256);
        let ledger = Arc::new(
            Ledger::new(valid.ids.clone(), valid.requested, events_tx)
                .labelled("StopInstances", valid.provider),
        );
        let engine = self.engine.clone();
        let work = async move { engine.stop_instances(valid, ledger, deadline).await };
        Ok(Response::new(stream::spawn(
            rpc,
            events_rx,
            work,
            convert::instance_event,
        )))
    }
}
