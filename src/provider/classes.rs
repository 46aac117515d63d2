//! Error classes both vendors' tables use (kind, retry, scope, reason); each vendor's
//! `errors` module maps its own codes onto these and adds its own.

use crate::model::ErrorKind::*;
use crate::model::ErrorScope::*;
use crate::model::RetryClass::*;
use crate::model::{CodeClass, Reason};

pub const THROTTLED: CodeClass = CodeClass::new(
    ResourceExhausted,
    Temporary,
    Request,
    Reason::Throttled.as_str(),
);
pub const VENDOR_UNAVAILABLE: CodeClass = CodeClass::new(
    Unavailable,
    Temporary,
    Request,
    Reason::VendorUnavailable.as_str(),
);
pub const VENDOR_INTERNAL_ERROR: CodeClass = CodeClass::new(
    Unavailable,
    Temporary,
    Request,
    Reason::VendorInternalError.as_str(),
);
pub const OPERATION_IN_PROGRESS: CodeClass =
    CodeClass::new(Aborted, Temporary, Request, "OPERATION_IN_PROGRESS");
pub const AUTH_FAILED: CodeClass =
    CodeClass::new(Unauthenticated, Permanent, Request, "AUTH_FAILED");
pub const SIGNATURE_MISMATCH: CodeClass =
    CodeClass::new(Unauthenticated, Permanent, Request, "SIGNATURE_MISMATCH");
pub const CLOCK_SKEW: CodeClass = CodeClass::new(Unauthenticated, Permanent, Request, "CLOCK_SKEW");
pub const PERMISSION_DENIED: CodeClass =
    CodeClass::new(PermissionDenied, Permanent, Request, "PERMISSION_DENIED");
pub const INVALID_PARAMETER: CodeClass =
    CodeClass::new(InvalidArgument, Permanent, Request, "INVALID_PARAMETER");
pub const REGION_UNSUPPORTED: CodeClass =
    CodeClass::new(Unimplemented, Permanent, Request, "REGION_UNSUPPORTED");
pub const ACTION_UNSUPPORTED: CodeClass =
    CodeClass::new(Unimplemented, Permanent, Request, "UNSUPPORTED_OPERATION");
pub const EXECUTION_NOT_FOUND: CodeClass = CodeClass::new(
    NotFound,
    Permanent,
    Request,
    Reason::ExecutionNotFound.as_str(),
);
pub const RESOURCE_NOT_FOUND: CodeClass =
    CodeClass::new(NotFound, Permanent, Request, "RESOURCE_NOT_FOUND");
/// The engine special-cases the dry-run success codes before classification (docs/design.md rule 6);
/// this class only keeps a stray one from ever reading as a real stop.
pub const DRY_RUN_PASSED: CodeClass =
    CodeClass::new(Aborted, Permanent, Request, Reason::DryRunPassed.as_str());
/// Any code stopgate does not know; the caller keeps the raw code beside it.
pub const UNKNOWN: CodeClass = CodeClass::new(Internal, Permanent, Request, "UNKNOWN_VENDOR_ERROR");
pub const INSTANCE_NOT_FOUND: CodeClass =
    CodeClass::new(NotFound, Permanent, Instance, "INSTANCE_NOT_FOUND");
pub const INSTANCE_STATE: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Instance,
    Reason::InstanceState.as_str(),
);
pub const INSTANCE_LOCKED: CodeClass =
    CodeClass::new(FailedPrecondition, Permanent, Instance, "INSTANCE_LOCKED");
pub const INSTANCE_UNSUPPORTED: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Instance,
    "UNSUPPORTED_OPERATION",
);
pub const HIBERNATION: CodeClass =
    CodeClass::new(FailedPrecondition, Permanent, Instance, "HIBERNATION");
pub const INVALID_INSTANCE_ID: CodeClass =
    CodeClass::new(InvalidArgument, Permanent, Instance, "INVALID_INSTANCE_ID");
