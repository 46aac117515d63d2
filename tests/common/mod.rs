//! Black-box harness: the real simulator and the real gateway on loopback sockets, a generated
//! gRPC client, and helpers for the simulator's admin API.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use stopgate::api::pb;
use stopgate::api::pb::instance_service_client::InstanceServiceClient;
use stopgate::config::Config;
use stopgate::engine::Engine;
use stopgate::sim::{SimConfig, Simulator};
use tonic::transport::Channel;

pub mod cluster;
pub mod roles;

/// Runs each behaviour `fn name(v: Vendor)` against both clouds, as `name::alibaba` and
/// `name::tencent`.
#[macro_export]
macro_rules! on_both_clouds {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn alibaba() { super::$name(super::ALIBABA).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tencent() { super::$name(super::TENCENT).await }
        }
    )*};
}

/// One vendor as the shared behaviour tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Vendor {
    pub provider: pb::Provider,
    pub name: &'static str,
    pub region: &'static str,
    /// Raw state words.
    pub running: &'static str,
    pub stopped: &'static str,
    pub stopping: &'static str,
    pub starting: &'static str,
}

pub const ALIBABA: Vendor = Vendor {
    provider: pb::Provider::Alibaba,
    name: "alibaba",
    region: "cn-hangzhou",
    running: "Running",
    stopped: "Stopped",
    stopping: "Stopping",
    starting: "Starting",
};

pub const TENCENT: Vendor = Vendor {
    provider: pb::Provider::Tencent,
    name: "tencent",
    region: "ap-guangzhou",
    running: "RUNNING",
    stopped: "STOPPED",
    stopping: "STOPPING",
    starting: "STARTING",
};

impl Vendor {
    /// A well-formed instance id, distinct per `n`.
    pub fn id(&self, n: usize) -> String {
        match self.provider {
            pb::Provider::Alibaba => format!("i-bp1test{n:012}"),
            _ => format!("ins-t{n:07}"),
        }
    }

    pub fn ids(&self, range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|n| self.id(n)).collect()
    }

    pub fn request(&self, ids: &[String]) -> pb::StopInstancesRequest {
        pb::StopInstancesRequest {
            provider: self.provider as i32,
            region: self.region.to_string(),
            instance_ids: ids.to_vec(),
            ..Default::default()
        }
    }
}

/// What one StopInstances stream carried.
#[derive(Debug, Default)]
pub struct Stream {
    /// The first message: the operation this call started or re-attached to.
    pub accepted: Option<pb::OperationAccepted>,
    pub results: Vec<pb::InstanceResult>,
    pub progress: Vec<pb::InstanceProgress>,
    pub summary: Option<pb::Summary>,
}

impl Stream {
    pub fn result(&self, id: &str) -> &pb::InstanceResult {
        let matching: Vec<_> = self
            .results
            .iter()
            .filter(|r| r.instance_id == id)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "exactly one result for {id}: {:#?}",
            self.results
        );
        matching[0]
    }

    pub fn outcome(&self, id: &str) -> pb::InstanceOutcome {
        pb::InstanceOutcome::try_from(self.result(id).outcome).unwrap()
    }

    /// The ErrorInfo reason of a failed result.
    pub fn reason(&self, id: &str) -> String {
        error_info(self.result(id)).reason
    }
}

pub fn error_info(result: &pb::InstanceResult) -> tonic_types::pb::ErrorInfo {
    use prost::Message;
    let status = result
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no error: {result:#?}", result.instance_id));
    let any = status
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.ErrorInfo"))
        .expect("ErrorInfo");
    tonic_types::pb::ErrorInfo::decode(any.value.as_slice()).unwrap()
}

pub struct Harness {
    pub sim: SocketAddr,
    pub simulator: Sim,
    pub gateway: SocketAddr,
    pub client: InstanceServiceClient<Channel>,
    pub channel: Channel,
}

impl Harness {
    /// Simulator (empty world, fast timings) and gateway (polling every 50 ms).
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Harness {
        Harness::start_on(Sim::start().await, adjust).await
    }

    /// A gateway on `simulator`, already seeded (e.g. with roles the configuration names).
    pub async fn start_on(simulator: Sim, adjust: impl FnOnce(&mut Config)) -> Harness {
        let sim = simulator.addr;
        let mut config = stopgate::sandbox::config(sim);
        config.poll_interval_ms = 50;
        adjust(&mut config);
        let engine = Arc::new(Engine::new(config).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = listener.local_addr().unwrap();
        tokio::spawn(stopgate::server::serve(
            engine,
            listener,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        ));
        let channel = Channel::from_shared(format!("http://{gateway}"))
            .unwrap()
            .connect_lazy();
        let harness = Harness {
            sim,
            simulator,
            gateway,
            client: InstanceServiceClient::new(channel.clone()),
            channel,
        };
        harness
            .admin("POST", "/_sim/timings", json!({"stop_ms": 150, "force_stop_ms": 50, "start_ms": 150, "graceful_timeout_ms": 300, "deliver_ms": 50, "cancel_ms": 150}))
            .await;
        harness
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        self.simulator.admin(method, path, body).await
    }

    /// Seeds instances; each spec is an InstanceSpec (docs/simulator.md).
    pub async fn seed(&self, vendor: Vendor, instances: Vec<Value>) {
        self.simulator.seed(vendor, instances).await
    }

    /// Seeds running instances with these ids.
    pub async fn seed_running(&self, vendor: Vendor, ids: &[String]) {
        self.simulator.seed_running(vendor, ids).await
    }

    /// The vendor calls the simulator received for an action.
    pub async fn calls(&self, vendor: Vendor, action: &str) -> Vec<Value> {
        self.simulator.calls(vendor, action).await
    }

    /// The simulator's current raw state of an instance.
    pub async fn state(&self, vendor: Vendor, id: &str) -> String {
        self.simulator.state(vendor, id).await
    }

    /// The simulator's current raw state of every instance in the vendor's region, by id.
    pub async fn states(&self, vendor: Vendor) -> std::collections::HashMap<String, String> {
        self.simulator.states(vendor).await
    }

    pub async fn fault(&self, spec: Value) {
        self.simulator.fault(spec).await
    }

    /// Runs a StopInstances call to the end of its stream.
    pub async fn stop(&self, request: pb::StopInstancesRequest) -> Stream {
        self.stop_with(tonic::Request::new(request))
            .await
            .expect("the call succeeds")
    }

    /// Runs a StopCommandExecution call to the end of its stream.
    pub async fn stop_command(
        &self,
        request: pb::StopCommandExecutionRequest,
    ) -> Result<CommandStream, tonic::Status> {
        let mut client =
            pb::command_service_client::CommandServiceClient::new(self.channel.clone());
        let mut inbound = client.stop_command_execution(request).await?.into_inner();
        let mut stream = CommandStream::default();
        while let Some(message) = inbound.message().await? {
            assert!(stream.summary.is_none(), "nothing may follow the summary");
            let event = message.event.expect("an event");
            let first = matches!(
                event,
                pb::stop_command_execution_response::Event::Accepted(_)
            );
            assert_eq!(
                first,
                stream.accepted.is_none(),
                "the first message, and only it, is OperationAccepted"
            );
            match event {
                pb::stop_command_execution_response::Event::Accepted(a) => {
                    stream.accepted = Some(a)
                }
                pb::stop_command_execution_response::Event::Result(r) => stream.results.push(r),
                pb::stop_command_execution_response::Event::Progress(p) => stream.progress.push(p),
                pb::stop_command_execution_response::Event::Summary(s) => stream.summary = Some(s),
            }
        }
        assert!(stream.summary.is_some(), "the stream ends with a summary");
        Ok(stream)
    }

    pub async fn stop_with(
        &self,
        request: tonic::Request<pb::StopInstancesRequest>,
    ) -> Result<Stream, tonic::Status> {
        collect_stop(&self.client, request).await
    }
}

/// Runs a StopInstances call on `client` to the end of its stream.
pub async fn collect_stop(
    client: &InstanceServiceClient<Channel>,
    request: tonic::Request<pb::StopInstancesRequest>,
) -> Result<Stream, tonic::Status> {
    let mut client = client.clone();
    let mut inbound = client.stop_instances(request).await?.into_inner();
    let mut stream = Stream::default();
    while let Some(message) = inbound.message().await? {
        assert!(stream.summary.is_none(), "nothing may follow the summary");
        let event = message.event.expect("an event");
        let first = matches!(event, pb::stop_instances_response::Event::Accepted(_));
        assert_eq!(
            first,
            stream.accepted.is_none(),
            "the first message, and only it, is OperationAccepted"
        );
        match event {
            pb::stop_instances_response::Event::Accepted(a) => stream.accepted = Some(a),
            pb::stop_instances_response::Event::Result(r) => stream.results.push(r),
            pb::stop_instances_response::Event::Progress(p) => stream.progress.push(p),
            pb::stop_instances_response::Event::Summary(s) => stream.summary = Some(s),
        }
    }
    assert!(stream.summary.is_some(), "the stream ends with a summary");
    Ok(stream)
}

/// A simulator's admin API.
#[derive(Clone)]
pub struct Sim {
    pub addr: SocketAddr,
    http: reqwest::Client,
}

impl Sim {
    /// An empty simulator in this process.
    pub async fn start() -> Sim {
        let addr = Simulator::new(&SimConfig {
            seed_demo: false,
            ..SimConfig::default()
        })
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        Sim {
            addr,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("http://{}{path}", self.addr);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(
            status.is_success(),
            "admin {method} {path}: {status} {value}"
        );
        value
    }

    /// Seeds instances; each spec is an InstanceSpec (docs/simulator.md).
    pub async fn seed(&self, vendor: Vendor, instances: Vec<Value>) {
        self.admin(
            "POST",
            "/_sim/instances",
            json!({"provider": vendor.name, "region": vendor.region, "instances": instances}),
        )
        .await;
    }

    /// Seeds running instances with these ids.
    pub async fn seed_running(&self, vendor: Vendor, ids: &[String]) {
        self.seed(vendor, ids.iter().map(|id| json!({"id": id})).collect())
            .await;
    }

    /// Seeds running instances `ids` in `region`, each carrying `tags` (a JSON object).
    pub async fn seed_tagged(&self, vendor: Vendor, region: &str, ids: &[String], tags: Value) {
        let instances: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        self.admin(
            "POST",
            "/_sim/instances",
            json!({"provider": vendor.name, "region": region, "tags": tags, "instances": instances}),
        )
        .await;
    }

    /// The vendor calls the simulator received for an action.
    pub async fn calls(&self, vendor: Vendor, action: &str) -> Vec<Value> {
        let v = self
            .admin(
                "GET",
                &format!("/_sim/calls?provider={}&action={action}", vendor.name),
                Value::Null,
            )
            .await;
        v["calls"].as_array().unwrap().clone()
    }

    /// The simulator's current raw state of an instance.
    pub async fn state(&self, vendor: Vendor, id: &str) -> String {
        self.states(vendor).await.remove(id).unwrap_or_default()
    }

    /// The simulator's current raw state of every instance in the vendor's region, by id.
    pub async fn states(&self, vendor: Vendor) -> std::collections::HashMap<String, String> {
        self.states_in(vendor, vendor.region).await
    }

    /// The simulator's current raw state of every instance in `region`, by id.
    pub async fn states_in(
        &self,
        vendor: Vendor,
        region: &str,
    ) -> std::collections::HashMap<String, String> {
        let v = self
            .admin(
                "GET",
                &format!("/_sim/instances?provider={}&region={region}", vendor.name),
                Value::Null,
            )
            .await;
        v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    i["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub async fn fault(&self, spec: Value) {
        self.admin("POST", "/_sim/faults", spec).await;
    }
}

/// What one StopCommandExecution stream carried.
#[derive(Debug, Default)]
pub struct CommandStream {
    /// The first message: the operation this call started or re-attached to.
    pub accepted: Option<pb::OperationAccepted>,
    pub results: Vec<pb::TaskResult>,
    pub progress: Vec<pb::TaskProgress>,
    pub summary: Option<pb::Summary>,
}

impl CommandStream {
    pub fn result(&self, id: &str) -> &pb::TaskResult {
        let matching: Vec<_> = self
            .results
            .iter()
            .filter(|r| r.instance_id == id)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "exactly one result for {id}: {:#?}",
            self.results
        );
        matching[0]
    }

    pub fn outcome(&self, id: &str) -> pb::CommandOutcome {
        pb::CommandOutcome::try_from(self.result(id).outcome).unwrap()
    }

    pub fn current(&self, id: &str) -> pb::TaskState {
        pb::TaskState::try_from(self.result(id).current_state).unwrap()
    }
}

/// The instance ids a call in the simulator's call log named, in order (StopInstances, and the
/// command stops, which name instances the same way).
pub fn params_ids(call: &Value, vendor: Vendor) -> Vec<String> {
    match vendor.provider {
        pb::Provider::Alibaba => {
            let params = call["params"].as_object().unwrap();
            let mut ids: Vec<(usize, String)> = params
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.strip_prefix("InstanceId.")?.parse().ok()?,
                        v.as_str()?.to_string(),
                    ))
                })
                .collect();
            ids.sort();
            ids.into_iter().map(|(_, id)| id).collect()
        }
        // A TAT CancelInvocation without InstanceIds names every instance.
        _ => call["params"]["InstanceIds"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
    }
}

/// How many accepted StopInstances calls named each instance.
pub fn accepted_stops(calls: &[Value], vendor: Vendor) -> std::collections::HashMap<String, usize> {
    let mut named = std::collections::HashMap::new();
    for call in calls.iter().filter(|c| c["outcome"] == "ok") {
        for id in params_ids(call, vendor) {
            *named.entry(id).or_default() += 1;
        }
    }
    named
}
