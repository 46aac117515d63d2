//! stopgate: one gRPC API to stop VM instances and running commands on Alibaba Cloud and
//! Tencent Cloud.
//!
//! The workspace: this crate is the gateway; `crates/stopgate-vendor` holds what the gateway and
//! the simulator share (the [`model::Provider`] id and both vendors' request signatures);
//! `crates/stopgate-sim` is the simulator, compiled in only with the default cargo feature
//! `sim` (production images leave it out).
//!
//! Module map (`docs/design.md` "The shape"), request path first:
//! - [`server`]: the gRPC listener: services, health, reflection, TLS, HTTP/2 limits, drain.
//! - [`api`]: tonic services (`instance_service`, `command_service`) over one streaming helper
//!   (`stream`: request ids, new operation or re-attach), proto ↔ model (`convert`), the one error → status mapping (`status`),
//!   callers' tokens (`auth`), admission control (the counts in `admission`, the call limit as
//!   a tower layer in `admission_layer`), the caller's deadline (`deadline`).
//! - [`operations`]: every accepted stop is an operation that outlives its stream: the journal
//!   that records its results (`journal`; in process: `memory`), the recorder of the engine's
//!   events (`record`), the stream that replays and follows it (`follow`), and this process's
//!   register of running operations with the hand-over on shutdown.
//! - [`audit`]: the audit log lines naming the caller of each operation and vendor call.
//! - [`engine`]: provider-neutral execution: validation (`request`), StopInstances
//!   (`stop_instances`, its results in `instance_result`, `wait`), StopInstances by selector
//!   (its checks in `selector`; read every region, guard rail, stop each: `stop_selected`),
//!   StopCommandExecution
//!   (`stop_command`), poll pauses (`pace`), the one retry path and its budget (`call`), the one
//!   deadline margin (`deadline`), one result per instance (`ledger`); unit tests on a
//!   scripted vendor in `engine/tests`.
//! - [`pacing`]: when each vendor call may start: the fair front (`Pacer`), the schedule rules
//!   (`rules`), and the stores behind it: in process (`local`) or shared by replicas in Redis
//!   (`redis`, with its Lua script and local fallback).
//! - [`provider`]: the [`provider::Adapter`] trait and one adapter per vendor, each with
//!   `sign` (from `stopgate-vendor`), `client`, `errors` and its actions (Alibaba
//!   `ecs`/`assistant`/`select`, Tencent `cvm`/`tat`/`select`); tag matching and the pages
//!   of a tag-filtered read (`select`); the error classes both share (`classes`), the
//!   bounded HTTP reads (`http`) and each call's current credentials (`signing`).
//! - [`model`]: the normalized vocabulary: providers, states, outcomes, reasons, the error type.
//! - [`config`]: accounts, credential sources (`source`), endpoints, limits, retry budget, TLS,
//!   callers.
//! - [`credentials`]: each account × provider's credentials: static, or fetched from STS or a
//!   metadata service (`alibaba_sts`, `alibaba_metadata`, `tencent_sts`, `tencent_metadata`,
//!   `chain`), cached and refreshed ahead of expiry (`cache`, `schedule`, `store`).
//! - [`telemetry`]: logs, OpenTelemetry traces and metrics.
//! - `sim` (feature `sim`): the `stopgate-sim` crate, the emulator of both vendors' HTTP APIs
//!   (`docs/simulator.md`): `world`/`instance`/`invocation` hold the state machines,
//!   `alibaba`/`tencent` speak the wire protocols, `admin` is the control API,
//!   `faults`/`ratelimit`/`calllog` do what they say.
//! - `sandbox` (feature `sim`): the gateway with the simulator embedded and seeded.
//! - [`cli`]: the command-line client (`stop-instances`, `stop-execution`).
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod engine;
pub mod model;
pub mod operations;
pub mod pacing;
pub mod provider;
#[cfg(feature = "sim")]
pub mod sandbox;
pub mod server;
#[cfg(feature = "sim")]
pub use stopgate_sim as sim;
pub mod telemetry;
