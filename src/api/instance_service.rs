//! `stopgate.v1.InstanceService`: StopInstances as an [`Operation`] served by the shared
//! stream helper ([`super::stream`]).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::admission::Admission;
use super::admission_layer::Method;
use super::stream::{self, Operation, Target};
use super::{convert, pb, status};
use crate::engine::Engine;
use crate::engine::ledger::{Event, Ledger};
use crate::engine::request::ValidStop;
use crate::operations::Operations;
use crate::operations::record::ProgressOf;

/// The service implementation.
#[derive(Clone)]
pub struct InstanceService {
    engine: Arc<Engine>,
    admission: Arc<Admission>,
    operations: Arc<Operations>,
}

impl InstanceService {
    pub fn new(
        engine: Arc<Engine>,
        admission: Arc<Admission>,
        operations: Arc<Operations>,
    ) -> InstanceService {
        InstanceService {
            engine,
            admission,
            operations,
        }
    }
}

/// StopInstances.
struct StopInstances;

/// StopInstances, as the call limit ([`super::admission_layer`]) names it.
pub const STOP_INSTANCES: Method = Method {
    service: <StopInstances as Operation>::SERVICE,
    method: <StopInstances as Operation>::METHOD,
};

type Progress = crate::engine::stop_instances::InstanceProgress;
type Outcome = crate::engine::stop_instances::InstanceResult;

impl Operation for StopInstances {
    type Request = pb::StopInstancesRequest;
    type Valid = ValidStop;
    type Progress = Progress;
    type Result = Outcome;
    type Message = pb::StopInstancesResponse;
    const SERVICE: &'static str = "stopgate.v1.InstanceService";
    const METHOD: &'static str = "StopInstances";

    fn account(request: &Self::Request) -> &str {
        &request.account
    }

    fn validate(engine: &Engine, request: Self::Request) -> Result<ValidStop, Status> {
        let converted = convert::stop_request(request).map_err(status::invalid_fields)?;
        let valid = engine
            .validate_stop(converted)
            .map_err(|invalid| status::invalid_request(&invalid))?;
        match &valid.selection {
            Some(s) => {
                tracing::info!(provider = %valid.provider, regions = %valid.region, account = %valid.account, tags = %s.tags_text(), expect_at_most = s.expect_at_most, dry_run = valid.dry_run, "StopInstances by selector")
            }
            None => {
                tracing::info!(provider = %valid.provider, region = %valid.region, account = %valid.account, instances = valid.ids.len(), dry_run = valid.dry_run, "StopInstances")
            }
        }
        Ok(valid)
    }

    fn request_id(request: &mut Self::Request) -> &mut String {
        &mut request.request_id
    }

    fn target(valid: &ValidStop) -> Target<'_> {
        Target {
            provider: valid.provider,
            region: &valid.region,
            account: &valid.account,
            ids: &valid.ids,
            requested: valid.requested,
            at_most: valid
                .selection
                .as_ref()
                .map_or(valid.ids.len(), |s| s.expect_at_most),
        }
    }

    async fn run(
        engine: Arc<Engine>,
        valid: ValidStop,
        ledger: Arc<Ledger<Progress, Outcome>>,
        deadline: Option<tokio::time::Instant>,
    ) {
        if valid.selection.is_some() {
            engine.stop_selected(valid, ledger, deadline).await
        } else {
            engine.stop_instances(valid, ledger, deadline).await
        }
    }

    fn convert(event: Event<Progress, Outcome>) -> Result<pb::StopInstancesResponse, Status> {
        convert::instance_event(event)
    }

    fn accepted(accepted: pb::OperationAccepted) -> pb::StopInstancesResponse {
        pb::StopInstancesResponse {
            event: Some(pb::stop_instances_response::Event::Accepted(accepted)),
        }
    }

    fn resume(valid: &mut ValidStop, resume: &crate::operations::journal::Resume) {
        valid.ids.retain(|id| !resume.decided.contains(id));
        valid.sent = resume.sent.clone();
        // The force (or the wait's end) stays due when it was due with the earlier owner.
        if let Some(left) = resume.remaining {
            let left = left.max(std::time::Duration::from_secs(1));
            match &mut valid.wait {
                Some(wait) => *wait = left,
                None => valid.graceful_timeout = left,
            }
        }
    }

    fn result_instance(message: &pb::StopInstancesResponse) -> Option<&str> {
        match &message.event {
            Some(pb::stop_instances_response::Event::Result(r)) => Some(&r.instance_id),
            _ => None,
        }
    }
}

impl ProgressOf for Progress {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

type Stream = stream::CallStream<pb::StopInstancesResponse>;

/// Continues a StopInstances operation taken over from a replica that is gone.
pub async fn resume(
    engine: &Arc<Engine>,
    operations: &Arc<Operations>,
    resume: crate::operations::journal::Resume,
) {
    stream::resume::<StopInstances>(engine, operations, resume).await
}

#[tonic::async_trait]
impl pb::instance_service_server::InstanceService for InstanceService {
    type StopInstancesStream = Stream;

    async fn stop_instances(
        &self,
        request: Request<pb::StopInstancesRequest>,
    ) -> Result<Response<Stream>, Status> {
        stream::serve::<StopInstances>(&self.engine, &self.admission, &self.operations, request)
            .await
    }
}
