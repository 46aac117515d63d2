//! The normalized, vendor-neutral model shared by the engine, the adapters and the api layer
//! (docs/design.md "Normalized model"): providers here, states and outcomes in `state`, the one
//! error type in `error`.

mod error;
mod state;

pub use error::{CodeClass, ErrorKind, ErrorScope, Reason, RetryClass, StopError};
pub use state::{
    Billing, CommandOutcome, DryRunAction, InstanceOutcome, InstanceState, StopMode, TaskState,
};

pub use stopgate_vendor::Provider;
