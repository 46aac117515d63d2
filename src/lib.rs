//! stopgate: one gRPC API to stop VM instances and running commands on Alibaba Cloud and
//! Tencent Cloud.
//!
//! Module map (`DESIGN.md` "The shape"):
//! - [`model`]: the normalized, vendor-neutral vocabulary (providers, states, outcomes, errors).
//! - [`provider`]: one adapter per vendor; today their request signatures (`alibaba::sign`,
//!   `tencent::sign`), shared with the simulator's verifier.
//! - [`sim`]: `stopgate sim`, the emulator of both vendors' HTTP APIs (`docs/simulator.md`):
//!   `world`/`instance`/`invocation` hold the state machines, `alibaba`/`tencent` speak the wire
//!   protocols, `admin` is the control API, `faults`/`ratelimit`/`calllog` do what they say.
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
