//! `stopgate.v1.CommandService`: StopCommandExecution as an [`Operation`] served by the shared
//! stream helper ([`super::stream`]).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::admission::Admission;
use super::admission_layer::Method;
use super::stream::{self, Operation, Target};
use super::{convert, pb, status};
use crate::engine::Engine;
use crate::engine::ledger::{Event, Ledger};
use crate::engine::request::ValidCommandStop;
use crate::engine::stop_command::{TaskProgress, TaskResult};
use crate::operations::Operations;
use crate::operations::record::ProgressOf;

/// The service implementation.
#[derive(Clone)]
pub struct CommandService {
    engine: Arc<Engine>,
    admission: Arc<Admission>,
    operations: Arc<Operations>,
}

impl CommandService {
    pub fn new(
        engine: Arc<Engine>,
        admission: Arc<Admission>,
        operations: Arc<Operations>,
    ) -> CommandService {
        CommandService {
            engine,
            admission,
            operations,
        }
    }
}

/// StopCommandExecution.
struct StopCommandExecution;

/// StopCommandExecution, as the call limit ([`super::admission_layer`]) names it.
pub const STOP_COMMAND_EXECUTION: Method = Method {
    service: <StopCommandExecution as Operation>::SERVICE,
    method: <StopCommandExecution as Operation>::METHOD,
};

impl Operation for StopCommandExecution {
    type Request = pb::StopCommandExecutionRequest;
    type Valid = ValidCommandStop;
    type Progress = TaskProgress;
    type Result = TaskResult;
    type Message = pb::StopCommandExecutionResponse;
    const SERVICE: &'static str = "stopgate.v1.CommandService";
    const METHOD: &'static str = "StopCommandExecution";

    fn account(request: &Self::Request) -> &str {
        &request.account
    }

    fn validate(engine: &Engine, request: Self::Request) -> Result<ValidCommandStop, Status> {
        let converted = convert::command_request(request).map_err(status::invalid_fields)?;
        let valid = engine
            .validate_command(converted)
            .map_err(|invalid| status::invalid_request(&invalid))?;
        tracing::info!(provider = %valid.provider, region = %valid.region, account = %valid.account, execution = %valid.execution_id, instances = valid.ids.len(), dry_run = valid.dry_run, "StopCommandExecution");
        Ok(valid)
    }

    fn request_id(request: &mut Self::Request) -> &mut String {
        &mut request.request_id
    }

    fn target(valid: &ValidCommandStop) -> Target<'_> {
        Target {
            provider: valid.provider,
            region: &valid.region,
            account: &valid.account,
            ids: &valid.ids,
            requested: valid.requested,
            at_most: valid.ids.len(),
        }
    }

    async fn run(
        engine: Arc<Engine>,
        valid: ValidCommandStop,
        ledger: Arc<Ledger<TaskProgress, TaskResult>>,
        deadline: Option<tokio::time::Instant>,
    ) {
        engine.stop_command(valid, ledger, deadline).await
    }

    fn convert(
        event: Event<TaskProgress, TaskResult>,
    ) -> Result<pb::StopCommandExecutionResponse, Status> {
        convert::command_event(event)
    }

    fn accepted(accepted: pb::OperationAccepted) -> pb::StopCommandExecutionResponse {
        pb::StopCommandExecutionResponse {
            event: Some(pb::stop_command_execution_response::Event::Accepted(
                accepted,
            )),
        }
    }

    fn resume(valid: &mut ValidCommandStop, resume: &crate::operations::journal::Resume) {
        // A command stop naming no instance learns them again from the vendor; the ledger
        // drops those already decided. Cancels already sent are read back as the tasks' states.
        valid.ids.retain(|id| !resume.decided.contains(id));
    }

    fn result_instance(message: &pb::StopCommandExecutionResponse) -> Option<&str> {
        match &message.event {
            Some(pb::stop_command_execution_response::Event::Result(r)) => Some(&r.instance_id),
            _ => None,
        }
    }
}

impl ProgressOf for TaskProgress {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

type Stream = stream::CallStream<pb::StopCommandExecutionResponse>;

/// Continues a StopCommandExecution operation taken over from a replica that is gone.
pub async fn resume(
    engine: &Arc<Engine>,
    operations: &Arc<Operations>,
    resume: crate::operations::journal::Resume,
) {
    stream::resume::<StopCommandExecution>(engine, operations, resume).await
}

#[tonic::async_trait]
impl pb::command_service_server::CommandService for CommandService {
    type StopCommandExecutionStream = Stream;

    async fn stop_command_execution(
        &self,
        request: Request<pb::StopCommandExecutionRequest>,
    ) -> Result<Response<Stream>, Status> {
        stream::serve::<StopCommandExecution>(
            &self.engine,
            &self.admission,
            &self.operations,
            request,
        )
        .await
    }
}
