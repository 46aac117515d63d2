//! stopgate: one gRPC API to stop VM instances and running commands on Alibaba Cloud and
//! Tencent Cloud.
//!
//! Module map (`DESIGN.md` "The shape"), request path first:
//! - [`server`]: the gRPC listener: services, health, reflection, TLS, graceful drain.
//! - [`api`]: tonic services (`instance_service`, `command_service`), proto ↔ model
//!   (`convert`), the one error → status mapping (`status`), callers' tokens (`auth`), the
//!   shared streaming loop (`stream`), the caller's deadline (`deadline`).
//! - [`engine`]: provider-neutral execution: validation (`request`), StopInstances
//!   (`stop_instances`, `wait`), StopCommandExecution (`stop_command`), pacing (`pace`),
//!   retries (`call`), one result per instance (`ledger`).
//! - [`provider`]: the [`provider::Adapter`] trait and one adapter per vendor, each with
//!   `sign`, `client`, `errors` and its actions (Alibaba `ecs`/`assistant`, Tencent `cvm`/`tat`).
//! - [`model`]: the normalized vocabulary: providers, states, outcomes, the error type.
//! - [`config`]: accounts, credentials, endpoints, limits, TLS, callers.
//! - [`telemetry`]: logs, OpenTelemetry traces and metrics.
//! - [`sim`]: `stopgate sim`, the emulator of both vendors' HTTP APIs (`docs/simulator.md`):
//!   `world`/`instance`/`invocation` hold the state machines, `alibaba`/`tencent` speak the wire
//!   protocols, `admin` is the control API, `faults`/`ratelimit`/`calllog` do what they say.
//! - [`sandbox`]: the gateway with the simulator embedded and seeded.
//! - [`cli`]: the command-line client (`stop-instances`, `stop-execution`).
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod engine;
pub mod model;
pub mod provider;
pub mod sandbox;
pub mod server;
pub mod sim;
pub mod telemetry;
