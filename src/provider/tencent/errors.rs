//! Tencent Cloud error classification: every API 3.0 error `Code` that
//! `docs/vendors/tencent.md` documents for the actions stopgate calls (CVM StopInstances,
//! DescribeInstancesStatus, DescribeInstances, §2.1–2.3; TAT CancelInvocation,
//! DescribeInvocations, DescribeInvocationTasks and the RunCommand codes, §1.1–1.4) and the common
//! codes (§3.4), mapped onto the normalized [`CodeClass`] (`docs/design.md` "Normalized model").
//!
//! Lookup order: the exact table `CODES`, then the code families (`family`), then `UNKNOWN`.
//! Only the `Code` decides: Tencent answers every API error inside HTTP 200 (docs/vendors/tencent.md, §3.3) and
//! its messages default to Chinese (docs/vendors/tencent.md, §6.11), so [`classify`] never reads the message.
//!
//! Scope matters most here: StopInstances and CancelInvocation answer one code for a whole batch
//! (docs/vendors/tencent.md, §1.1, §2.1), and an [`Instance`]-scoped code is what lets the engine bisect the
//! batch to isolate the instance (docs/design.md rule 3).

use crate::model::ErrorKind::{
    Aborted, FailedPrecondition, Internal, NotFound, PermissionDenied, ResourceExhausted,
};
use crate::model::ErrorScope::{Instance, Request};
use crate::model::RetryClass::{Permanent, Temporary};
use crate::model::{CodeClass, StopError};
use crate::provider::classes::*;

/// Pseudo code the client synthesizes for an HTTP 5xx (Tencent itself answers API errors in 200).
pub const HTTP_5XX: &str = "HTTP_5XX";
/// Pseudo code the client synthesizes when the vendor could not be reached (connect, TLS, reset,
/// timeout).
pub const NETWORK: &str = "NETWORK";
/// Pseudo code the client synthesizes for a body that is not Tencent's `{"Response": …}`.
pub const MALFORMED_RESPONSE: &str = "MALFORMED_RESPONSE";

// === request-scoped classes ===

const QUOTA_EXCEEDED: CodeClass =
    CodeClass::new(ResourceExhausted, Permanent, Request, "QUOTA_EXCEEDED");
const RESOURCE_INSUFFICIENT: CodeClass = CodeClass::new(
    ResourceExhausted,
    Permanent,
    Request,
    "RESOURCE_INSUFFICIENT",
);
const OPERATION_FAILED: CodeClass =
    CodeClass::new(Internal, Permanent, Request, "OPERATION_FAILED");
const MFA_REQUIRED: CodeClass =
    CodeClass::new(PermissionDenied, Permanent, Request, "MFA_REQUIRED");
const OPERATION_UNSUPPORTED: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Request,
    "UNSUPPORTED_OPERATION",
);

// === instance-scoped classes (about one instance of a batch) ===

const INSTANCE_NOT_IN_EXECUTION: CodeClass = CodeClass::new(
    NotFound,
    Permanent,
    Instance,
    crate::model::Reason::InstanceNotInExecution.as_str(),
);
const STOP_CHARGING_UNSUPPORTED: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Instance,
    "STOP_CHARGING_UNSUPPORTED",
);
const AGENT_UNAVAILABLE: CodeClass =
    CodeClass::new(FailedPrecondition, Permanent, Instance, "AGENT_UNAVAILABLE");
const INSTANCE_OPERATION_IN_PROGRESS: CodeClass =
    CodeClass::new(Aborted, Temporary, Instance, "OPERATION_IN_PROGRESS");

/// Exact codes. Entries here win over the families, which is how the exceptions to a family
/// (e.g. `LimitExceeded.FilterValueExceeded` is not a quota) are expressed.
const CODES: &[(&str, CodeClass)] = &[
    // Synthesized by our client, never sent by Tencent.
    (HTTP_5XX, VENDOR_UNAVAILABLE),
    (NETWORK, VENDOR_UNAVAILABLE),
    (MALFORMED_RESPONSE, VENDOR_UNAVAILABLE),
    ("DryRunOperation", DRY_RUN_PASSED),
    // --- CVM StopInstances (§2.1) ---
    // docs/vendors/tencent.md, §3.4: CVM spells it InternalServerError, TAT InternalError.
    ("InternalServerError", VENDOR_INTERNAL_ERROR),
    // docs/vendors/tencent.md, §2.4: also what a LAUNCH_FAILED instance presumably gets.
    ("InvalidInstance.NotSupported", INSTANCE_UNSUPPORTED),
    // docs/vendors/tencent.md, §6.6: StopInstances lists two malformed-id codes; both name one instance.
    ("InvalidInstanceId.Malformed", INVALID_INSTANCE_ID),
    (
        "InvalidParameterValue.InstanceIdMalformed",
        INVALID_INSTANCE_ID,
    ),
    ("InvalidInstanceId.NotFound", INSTANCE_NOT_FOUND),
    // docs/vendors/tencent.md, §6.4: ForceStop together with StopType.
    ("InvalidParameterCombination", INVALID_PARAMETER),
    // docs/vendors/tencent.md, §6.5: more than 100 ids, which our chunking prevents. A bad request, not a
    // quota and not throttling.
    ("InvalidParameterValue.LimitExceeded", INVALID_PARAMETER),
    // A zone that cannot take the operation is a property of the instances in it.
    (
        "InvalidParameterValue.ZoneNotSupported",
        INSTANCE_UNSUPPORTED,
    ),
    // docs/vendors/tencent.md, §6.2: transient; Terraform retries the second.
    ("MutexOperation.TaskRunning", OPERATION_IN_PROGRESS),
    (
        "OperationDenied.InstanceOperationInProgress",
        INSTANCE_OPERATION_IN_PROGRESS,
    ),
    ("UnauthorizedOperation.MFAExpired", MFA_REQUIRED),
    ("UnauthorizedOperation.MFANotFound", MFA_REQUIRED),
    (
        "UnsupportedOperation.HibernationForNormalInstance",
        HIBERNATION,
    ),
    (
        "UnsupportedOperation.InstanceReinstallFailed",
        INSTANCE_STATE,
    ),
    // Every other `UnsupportedOperation.InstanceState*` is a plain state (family below),
    // including docs/vendors/tencent.md, §6.1: `…Stopped`/`…Stopping` for an instance already stopped or
    // stopping, which the adapter turns into ALREADY_STOPPED / accepted (docs/design.md rule 2).
    // These two are locks rather than states.
    ("UnsupportedOperation.InstanceStateBanning", INSTANCE_LOCKED),
    (
        "UnsupportedOperation.InstanceStateFreezing",
        INSTANCE_LOCKED,
    ),
    // docs/vendors/tencent.md, §6.3: STOP_CHARGING works only on some pay-as-you-go cloud-disk instances.
    (
        "UnsupportedOperation.StoppedModeStopCharging",
        STOP_CHARGING_UNSUPPORTED,
    ),
    // --- CVM DescribeInstancesStatus / DescribeInstances (§2.2, §2.3) ---
    ("InvalidFilter", INVALID_PARAMETER),
    // Too many filter values: a bad request, not a quota.
    ("InvalidFilterValue.LimitExceeded", INVALID_PARAMETER),
    ("InvalidZone.MismatchRegion", INVALID_PARAMETER),
    // Looks like the CAM family, but it is the session token (X-TC-Token) that is bad: the
    // gateway's credentials, not its permissions.
    ("UnauthorizedOperation.InvalidToken", AUTH_FAILED),
    // --- TAT CancelInvocation / DescribeInvocations / DescribeInvocationTasks (§1.1–1.3) ---
    (
        "InvalidParameterValue.InstanceIsNotRelatedToInvocation",
        INSTANCE_NOT_IN_EXECUTION,
    ),
    (
        "InvalidParameterValue.InvalidInstanceId",
        INVALID_INSTANCE_ID,
    ),
    (
        "InvalidParameterValue.InvalidInvocationId",
        INVALID_PARAMETER,
    ),
    (
        "InvalidParameterValue.InvalidInvocationTaskId",
        INVALID_PARAMETER,
    ),
    ("InvalidParameterValue.InvalidCommandId", INVALID_PARAMETER),
    ("InvalidParameterValue.InvalidFilter", INVALID_PARAMETER),
    ("InvalidParameterValue.TooLong", INVALID_PARAMETER),
    ("InvalidParameter.ConflictParameter", INVALID_PARAMETER),
    // docs/vendors/tencent.md, §1.2: "Too many Filter values", under the quota family's name.
    ("LimitExceeded.FilterValueExceeded", INVALID_PARAMETER),
    ("ResourceNotFound.InvocationNotFound", EXECUTION_NOT_FOUND),
    ("UnauthorizedOperation.CamAuthFailed", PERMISSION_DENIED),
    // --- TAT RunCommand / InvokeCommand (§1.4) ---
    ("ResourceUnavailable.AgentNotInstalled", AGENT_UNAVAILABLE),
    (
        "ResourceUnavailable.AgentStatusNotOnline",
        AGENT_UNAVAILABLE,
    ),
    (
        "ResourceUnavailable.InstanceStateNotRunning",
        INSTANCE_STATE,
    ),
    ("ResourceNotFound.InstanceNotFound", INSTANCE_NOT_FOUND),
    // CVM and Lighthouse instances mixed in one call.
    (
        "InvalidParameterValue.InconsistentInstance",
        INVALID_PARAMETER,
    ),
    // --- common codes (§3.4) ---
    ("ActionOffline", ACTION_UNSUPPORTED),
    ("AuthFailure.InvalidAuthorization", AUTH_FAILED),
    ("AuthFailure.InvalidSecretId", AUTH_FAILED),
    // MFA is a permission question, as for UnauthorizedOperation.MFA* above.
    ("AuthFailure.MFAFailure", MFA_REQUIRED),
    ("AuthFailure.SecretIdNotFound", AUTH_FAILED),
    // docs/vendors/tencent.md, §6.12: X-TC-Timestamp more than 5 minutes off the server's clock.
    ("AuthFailure.SignatureExpire", CLOCK_SKEW),
    ("AuthFailure.SignatureFailure", SIGNATURE_MISMATCH),
    ("AuthFailure.TokenFailure", AUTH_FAILED),
    // The one AuthFailure that is about permissions (CAM), not credentials.
    ("AuthFailure.UnauthorizedOperation", PERMISSION_DENIED),
    ("FailedOperation", OPERATION_FAILED),
    ("InternalError", VENDOR_INTERNAL_ERROR),
    ("InvalidAction", ACTION_UNSUPPORTED),
    ("InvalidParameter", INVALID_PARAMETER),
    ("InvalidParameterValue", INVALID_PARAMETER),
    ("InvalidRequest", INVALID_PARAMETER),
    ("IpInBlacklist", PERMISSION_DENIED),
    ("IpNotInWhitelist", PERMISSION_DENIED),
    // docs/vendors/tencent.md, §3.4: "Quota limit exceeded", not the request rate (docs/design.md rule 9).
    ("LimitExceeded", QUOTA_EXCEEDED),
    ("MissingParameter", INVALID_PARAMETER),
    ("NoSuchProduct", ACTION_UNSUPPORTED),
    ("NoSuchVersion", ACTION_UNSUPPORTED),
    ("RequestLimitExceeded", THROTTLED),
    (
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        THROTTLED,
    ),
    // docs/vendors/tencent.md, §5.1: the Python SDK does not retry this one; it is still a rate, so we do.
    ("RequestLimitExceeded.IPLimitExceeded", THROTTLED),
    ("RequestLimitExceeded.UinLimitExceeded", THROTTLED),
    ("RequestSizeLimitExceeded", INVALID_PARAMETER),
    // docs/vendors/tencent.md, §2.1 (Terraform's retryable codes): in use and unavailable are transient.
    ("ResourceInUse", OPERATION_IN_PROGRESS),
    ("ResourceInsufficient", RESOURCE_INSUFFICIENT),
    ("ResourceNotFound", RESOURCE_NOT_FOUND),
    ("ResourceUnavailable", VENDOR_UNAVAILABLE),
    ("ResponseSizeLimitExceeded", INVALID_PARAMETER),
    ("ServiceUnavailable", VENDOR_UNAVAILABLE),
    ("UnauthorizedOperation", PERMISSION_DENIED),
    ("UnknownParameter", INVALID_PARAMETER),
    ("UnsupportedOperation", OPERATION_UNSUPPORTED),
    ("UnsupportedProtocol", ACTION_UNSUPPORTED),
    ("UnsupportedRegion", REGION_UNSUPPORTED),
];

/// Classifies a Tencent error `Code`. The message is accepted for symmetry with the Alibaba
/// adapter and deliberately ignored (docs/vendors/tencent.md, §6.11: messages default to Chinese).
/// Whether `code` says the temporary credentials were refused (a bad or expired token, or a
/// temporary key that no longer exists), so that fresh ones may succeed.
pub fn rejects_credentials(error: &StopError) -> bool {
    matches!(
        error.vendor_code.as_deref(),
        Some(
            "AuthFailure.TokenFailure"
                | "AuthFailure.SecretIdNotFound"
                | "AuthFailure.InvalidSecretId"
        )
    )
}

pub fn classify(code: &str, _message: &str) -> CodeClass {
    lookup(code).or_else(|| family(code)).unwrap_or(UNKNOWN)
}

fn lookup(code: &str) -> Option<CodeClass> {
    CODES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, class)| *class)
}

/// The code families, for codes the table lacks.
fn family(code: &str) -> Option<CodeClass> {
    // Throttling before quota: `RequestLimitExceeded*` is the rate (docs/vendors/tencent.md, §6.8),
    // `LimitExceeded*` a quota (§3.4); docs/design.md rule 9.
    if code.starts_with("RequestLimitExceeded") {
        return Some(THROTTLED);
    }
    if code.starts_with("LimitExceeded") {
        return Some(QUOTA_EXCEEDED);
    }
    if code.starts_with("AuthFailure.") {
        return Some(AUTH_FAILED);
    }
    if code.starts_with("UnauthorizedOperation") {
        return Some(PERMISSION_DENIED);
    }
    // docs/vendors/tencent.md, §2.4, §6.2: each state an instance cannot be stopped from has its own code.
    if code.starts_with("UnsupportedOperation.InstanceState") {
        return Some(INSTANCE_STATE);
    }
    if code.starts_with("InternalError") || code.starts_with("InternalServerError") {
        return Some(VENDOR_INTERNAL_ERROR);
    }
    // Every documented sub-code refines one of the §3.4 common codes (`InvalidParameterValue.X`,
    // `ResourceNotFound.X`, …): an unknown sub-code is taken as its common code.
    let (category, _) = code.split_once('.')?;
    lookup(category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorKind::*;
    use crate::model::RetryClass::*;
    use crate::model::{ErrorKind, ErrorScope, RetryClass};

    /// A documented code and what it must become.
    type Case = (
        &'static str,
        ErrorKind,
        RetryClass,
        ErrorScope,
        &'static str,
    );

    fn check(cases: &[Case]) {
        for &(code, kind, retry, scope, reason) in cases {
            let got = classify(code, "");
            assert_eq!(
                got,
                CodeClass::new(kind, retry, scope, reason),
                "code {code:?}"
            );
        }
    }

    fn invalid(code: &'static str) -> Case {
        (
            code,
            InvalidArgument,
            Permanent,
            Request,
            "INVALID_PARAMETER",
        )
    }

    fn invalid_instance_id(code: &'static str) -> Case {
        (
            code,
            InvalidArgument,
            Permanent,
            Instance,
            "INVALID_INSTANCE_ID",
        )
    }

    fn internal(code: &'static str) -> Case {
        (
            code,
            Unavailable,
            Temporary,
            Request,
            "VENDOR_INTERNAL_ERROR",
        )
    }

    fn cam_mfa_and_token(cases: &mut Vec<Case>) {
        cases.extend([
            (
                "UnauthorizedOperation.CamAuthFailed",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
            (
                "UnauthorizedOperation.InvalidToken",
                Unauthenticated,
                Permanent,
                Request,
                "AUTH_FAILED",
            ),
            (
                "UnauthorizedOperation.MFAExpired",
                PermissionDenied,
                Permanent,
                Request,
                "MFA_REQUIRED",
            ),
            (
                "UnauthorizedOperation.MFANotFound",
                PermissionDenied,
                Permanent,
                Request,
                "MFA_REQUIRED",
            ),
        ]);
    }

    #[test]
    fn stop_instances_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/tencent.md, §2.1 (the InstanceState* codes have their own test)
        check(&[
            internal("InternalServerError"),
            (
                "InvalidInstance.NotSupported",
                FailedPrecondition,
                Permanent,
                Instance,
                "UNSUPPORTED_OPERATION",
            ),
            invalid_instance_id("InvalidInstanceId.Malformed"),
            (
                "InvalidInstanceId.NotFound",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_FOUND",
            ),
            invalid("InvalidParameterCombination"),
            invalid("InvalidParameterValue"),
            invalid_instance_id("InvalidParameterValue.InstanceIdMalformed"),
            invalid("InvalidParameterValue.LimitExceeded"),
            (
                "InvalidParameterValue.ZoneNotSupported",
                FailedPrecondition,
                Permanent,
                Instance,
                "UNSUPPORTED_OPERATION",
            ),
            invalid("MissingParameter"),
            (
                "MutexOperation.TaskRunning",
                Aborted,
                Temporary,
                Request,
                "OPERATION_IN_PROGRESS",
            ),
            (
                "OperationDenied.InstanceOperationInProgress",
                Aborted,
                Temporary,
                Instance,
                "OPERATION_IN_PROGRESS",
            ),
            (
                "UnauthorizedOperation.MFAExpired",
                PermissionDenied,
                Permanent,
                Request,
                "MFA_REQUIRED",
            ),
            (
                "UnauthorizedOperation.MFANotFound",
                PermissionDenied,
                Permanent,
                Request,
                "MFA_REQUIRED",
            ),
            (
                "UnsupportedOperation.HibernationForNormalInstance",
                FailedPrecondition,
                Permanent,
                Instance,
                "HIBERNATION",
            ),
            (
                "UnsupportedOperation.InstanceReinstallFailed",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_STATE",
            ),
            (
                "UnsupportedOperation.StoppedModeStopCharging",
                FailedPrecondition,
                Permanent,
                Instance,
                "STOP_CHARGING_UNSUPPORTED",
            ),
        ]);
    }

    #[test]
    fn instance_state_codes_are_instance_scoped_failed_preconditions() {
        // docs/vendors/tencent.md, §2.1 and the §2.4 state table; §6.1 for Stopped/Stopping.
        let state = |code| {
            (
                code,
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_STATE",
            )
        };
        let locked = |code| {
            (
                code,
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_LOCKED",
            )
        };
        check(&[
            locked("UnsupportedOperation.InstanceStateBanning"),
            state("UnsupportedOperation.InstanceStateCorrupted"),
            state("UnsupportedOperation.InstanceStateEnterRescueMode"),
            state("UnsupportedOperation.InstanceStateEnterServiceLiveMigrate"),
            state("UnsupportedOperation.InstanceStateExitRescueMode"),
            state("UnsupportedOperation.InstanceStateExitServiceLiveMigrate"),
            locked("UnsupportedOperation.InstanceStateFreezing"),
            state("UnsupportedOperation.InstanceStateIsolating"),
            state("UnsupportedOperation.InstanceStatePending"),
            state("UnsupportedOperation.InstanceStateRebooting"),
            state("UnsupportedOperation.InstanceStateRescueMode"),
            state("UnsupportedOperation.InstanceStateServiceLiveMigrate"),
            state("UnsupportedOperation.InstanceStateShutdown"),
            state("UnsupportedOperation.InstanceStateStarting"),
            state("UnsupportedOperation.InstanceStateStopped"),
            state("UnsupportedOperation.InstanceStateStopping"),
            state("UnsupportedOperation.InstanceStateTerminated"),
            state("UnsupportedOperation.InstanceStateTerminating"),
            // StartInstances' counterpart, and any state Tencent adds later
            state("UnsupportedOperation.InstanceStateRunning"),
            state("UnsupportedOperation.InstanceStateLaunchFailed"),
        ]);
    }

    #[test]
    fn describe_instances_status_and_describe_instances_documented_codes_map_to_the_normalized_kinds()
     {
        // docs/vendors/tencent.md, §2.2 and §2.3
        check(&[
            internal("InternalServerError"),
            invalid("InvalidFilter"),
            invalid("InvalidFilterValue.LimitExceeded"),
            invalid_instance_id("InvalidInstanceId.Malformed"),
            invalid("InvalidParameter"),
            invalid("InvalidParameterValue"),
            invalid_instance_id("InvalidParameterValue.InstanceIdMalformed"),
            invalid("InvalidParameterValue.LimitExceeded"),
            invalid("InvalidZone.MismatchRegion"),
            (
                "UnauthorizedOperation.InvalidToken",
                Unauthenticated,
                Permanent,
                Request,
                "AUTH_FAILED",
            ),
            (
                "UnsupportedOperation",
                FailedPrecondition,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
        ]);
    }

    #[test]
    fn cancel_invocation_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/tencent.md, §1.1
        let mut cases = vec![
            internal("InternalError"),
            invalid("InvalidParameter"),
            invalid("InvalidParameterValue"),
            (
                "InvalidParameterValue.InstanceIsNotRelatedToInvocation",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_IN_EXECUTION",
            ),
            invalid_instance_id("InvalidParameterValue.InvalidInstanceId"),
            invalid("InvalidParameterValue.InvalidInvocationId"),
            invalid("InvalidParameterValue.LimitExceeded"),
            invalid("InvalidParameterValue.TooLong"),
            (
                "LimitExceeded",
                ResourceExhausted,
                Permanent,
                Request,
                "QUOTA_EXCEEDED",
            ),
            invalid("MissingParameter"),
            (
                "ResourceNotFound.InvocationNotFound",
                NotFound,
                Permanent,
                Request,
                "EXECUTION_NOT_FOUND",
            ),
            invalid("UnknownParameter"),
        ];
        cam_mfa_and_token(&mut cases);
        check(&cases);
    }

    #[test]
    fn describe_invocations_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/tencent.md, §1.2
        let mut cases = vec![
            internal("InternalError"),
            invalid("InvalidParameter"),
            invalid("InvalidParameter.ConflictParameter"),
            invalid("InvalidParameterValue.InvalidCommandId"),
            invalid("InvalidParameterValue.InvalidFilter"),
            invalid("InvalidParameterValue.InvalidInvocationId"),
            invalid("InvalidParameterValue.LimitExceeded"),
            invalid("LimitExceeded.FilterValueExceeded"),
        ];
        cam_mfa_and_token(&mut cases);
        check(&cases);
    }

    #[test]
    fn describe_invocation_tasks_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/tencent.md, §1.3
        let mut cases = vec![
            internal("InternalError"),
            invalid("InvalidParameter"),
            invalid("InvalidParameter.ConflictParameter"),
            invalid("InvalidParameterValue"),
            invalid("InvalidParameterValue.InvalidCommandId"),
            invalid("InvalidParameterValue.InvalidFilter"),
            invalid_instance_id("InvalidParameterValue.InvalidInstanceId"),
            invalid("InvalidParameterValue.InvalidInvocationId"),
            invalid("InvalidParameterValue.InvalidInvocationTaskId"),
            (
                "UnsupportedOperation",
                FailedPrecondition,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
        ];
        cam_mfa_and_token(&mut cases);
        check(&cases);
    }

    #[test]
    fn run_command_agent_and_state_codes_are_permanent_per_instance_preconditions() {
        // docs/vendors/tencent.md, §1.4: unlike the generic ResourceUnavailable, these do not pass with time.
        check(&[
            (
                "ResourceUnavailable.AgentNotInstalled",
                FailedPrecondition,
                Permanent,
                Instance,
                "AGENT_UNAVAILABLE",
            ),
            (
                "ResourceUnavailable.AgentStatusNotOnline",
                FailedPrecondition,
                Permanent,
                Instance,
                "AGENT_UNAVAILABLE",
            ),
            (
                "ResourceUnavailable.InstanceStateNotRunning",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_STATE",
            ),
            (
                "ResourceNotFound.InstanceNotFound",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_FOUND",
            ),
            invalid_instance_id("InvalidParameterValue.InvalidInstanceId"),
            invalid("InvalidParameterValue.InconsistentInstance"),
            invalid("InvalidParameterValue.LimitExceeded"),
            (
                "ResourceUnavailable",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
        ]);
    }

    #[test]
    fn common_codes_map_to_the_normalized_kinds() {
        // docs/vendors/tencent.md, §3.4
        let auth = |code| (code, Unauthenticated, Permanent, Request, "AUTH_FAILED");
        let denied = |code| {
            (
                code,
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            )
        };
        let unsupported = |code| {
            (
                code,
                Unimplemented,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            )
        };
        let throttled = |code| (code, ResourceExhausted, Temporary, Request, "THROTTLED");
        check(&[
            unsupported("ActionOffline"),
            auth("AuthFailure.InvalidAuthorization"),
            auth("AuthFailure.InvalidSecretId"),
            (
                "AuthFailure.MFAFailure",
                PermissionDenied,
                Permanent,
                Request,
                "MFA_REQUIRED",
            ),
            auth("AuthFailure.SecretIdNotFound"),
            (
                "AuthFailure.SignatureExpire",
                Unauthenticated,
                Permanent,
                Request,
                "CLOCK_SKEW",
            ),
            (
                "AuthFailure.SignatureFailure",
                Unauthenticated,
                Permanent,
                Request,
                "SIGNATURE_MISMATCH",
            ),
            auth("AuthFailure.TokenFailure"),
            denied("AuthFailure.UnauthorizedOperation"),
            (
                "DryRunOperation",
                Aborted,
                Permanent,
                Request,
                "DRY_RUN_PASSED",
            ),
            (
                "FailedOperation",
                Internal,
                Permanent,
                Request,
                "OPERATION_FAILED",
            ),
            internal("InternalError"),
            unsupported("InvalidAction"),
            invalid("InvalidParameter"),
            invalid("InvalidParameterValue"),
            invalid("InvalidRequest"),
            denied("IpInBlacklist"),
            denied("IpNotInWhitelist"),
            (
                "LimitExceeded",
                ResourceExhausted,
                Permanent,
                Request,
                "QUOTA_EXCEEDED",
            ),
            invalid("MissingParameter"),
            unsupported("NoSuchProduct"),
            unsupported("NoSuchVersion"),
            throttled("RequestLimitExceeded"),
            throttled("RequestLimitExceeded.GlobalRegionUinLimitExceeded"),
            throttled("RequestLimitExceeded.IPLimitExceeded"),
            throttled("RequestLimitExceeded.UinLimitExceeded"),
            invalid("RequestSizeLimitExceeded"),
            (
                "ResourceInUse",
                Aborted,
                Temporary,
                Request,
                "OPERATION_IN_PROGRESS",
            ),
            (
                "ResourceInsufficient",
                ResourceExhausted,
                Permanent,
                Request,
                "RESOURCE_INSUFFICIENT",
            ),
            (
                "ResourceNotFound",
                NotFound,
                Permanent,
                Request,
                "RESOURCE_NOT_FOUND",
            ),
            (
                "ResourceUnavailable",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
            invalid("ResponseSizeLimitExceeded"),
            (
                "ServiceUnavailable",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
            denied("UnauthorizedOperation"),
            invalid("UnknownParameter"),
            (
                "UnsupportedOperation",
                FailedPrecondition,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
            unsupported("UnsupportedProtocol"),
            (
                "UnsupportedRegion",
                Unimplemented,
                Permanent,
                Request,
                "REGION_UNSUPPORTED",
            ),
        ]);
    }

    #[test]
    fn throttling_is_not_quota() {
        // docs/design.md rule 9: only RequestLimitExceeded* is the request rate.
        let throttled = |code| (code, ResourceExhausted, Temporary, Request, "THROTTLED");
        let quota = |code| {
            (
                code,
                ResourceExhausted,
                Permanent,
                Request,
                "QUOTA_EXCEEDED",
            )
        };
        check(&[
            throttled("RequestLimitExceeded"),
            throttled("RequestLimitExceeded.UinLimitExceeded"),
            throttled("RequestLimitExceeded.IPLimitExceeded"),
            throttled("RequestLimitExceeded.GlobalRegionUinLimitExceeded"),
            throttled("RequestLimitExceeded.SomethingNew"),
            quota("LimitExceeded"),
            quota("LimitExceeded.InstanceQuota"),
            // documented limits on one request's size are bad requests, neither rate nor quota
            invalid("InvalidParameterValue.LimitExceeded"),
            invalid("InvalidFilterValue.LimitExceeded"),
            invalid("LimitExceeded.FilterValueExceeded"),
            invalid("RequestSizeLimitExceeded"),
            invalid("ResponseSizeLimitExceeded"),
        ]);
    }

    #[test]
    fn auth_failures_are_unauthenticated_except_the_cam_one() {
        check(&[
            (
                "AuthFailure.SomethingNew",
                Unauthenticated,
                Permanent,
                Request,
                "AUTH_FAILED",
            ),
            (
                "AuthFailure.UnauthorizedOperation",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
            (
                "UnauthorizedOperation.ImageNotBelongToAccount",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
        ]);
    }

    #[test]
    fn unknown_sub_codes_fall_back_to_their_common_code() {
        check(&[
            // what our simulator answers for non-Base64 RunCommand content
            invalid("InvalidParameterValue.InvalidContent"),
            invalid("InvalidParameter.Something"),
            invalid("MissingParameter.InvocationId"),
            (
                "ResourceNotFound.HpcCluster",
                NotFound,
                Permanent,
                Request,
                "RESOURCE_NOT_FOUND",
            ),
            (
                "UnsupportedOperation.NotSupportedYet",
                FailedPrecondition,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "FailedOperation.Something",
                Internal,
                Permanent,
                Request,
                "OPERATION_FAILED",
            ),
            (
                "ResourceInsufficient.ZoneSoldOut",
                ResourceExhausted,
                Permanent,
                Request,
                "RESOURCE_INSUFFICIENT",
            ),
            internal("InternalError.DbError"),
            internal("InternalServerError.Timeout"),
        ]);
    }

    #[test]
    fn unknown_code_is_internal_and_permanent() {
        for code in [
            "SomethingNew",
            "OperationDenied.SomethingNew",
            "InvalidInstanceId.Something",
            "",
            "requestlimitexceeded", // codes are case-sensitive
        ] {
            assert_eq!(
                classify(code, "任何消息"),
                CodeClass::new(Internal, Permanent, Request, "UNKNOWN_VENDOR_ERROR"),
                "code {code:?}"
            );
        }
    }

    #[test]
    fn messages_never_change_the_classification() {
        // docs/vendors/tencent.md, §6.11: messages default to Chinese; §2.1 shows one for a stopped instance.
        let stopped = "UnsupportedOperation.InstanceStateStopped";
        let expected = classify(stopped, "");
        for message in [
            "不支持状态为已关机的实例ins-mulr52gb (0ab53883)",
            "Unsupported operation: instance is STOPPED.",
            // Alibaba's STS quirk does not exist here.
            "The specified parameter \"SecurityToken.Expired\" is not valid.",
        ] {
            assert_eq!(classify(stopped, message), expected);
        }
        assert_eq!(
            classify(
                "InvalidParameter",
                "The specified parameter \"SecurityToken.Expired\" is not valid."
            ),
            CodeClass::new(InvalidArgument, Permanent, Request, "INVALID_PARAMETER")
        );
    }

    #[test]
    fn client_pseudo_codes_are_temporary_vendor_unavailability() {
        let unavailable = |code| (code, Unavailable, Temporary, Request, "VENDOR_UNAVAILABLE");
        check(&[
            unavailable(HTTP_5XX),
            unavailable(NETWORK),
            unavailable(MALFORMED_RESPONSE),
        ]);
    }

    #[test]
    fn the_table_is_well_formed() {
        for (i, (code, class)) in CODES.iter().enumerate() {
            assert!(
                CODES[i + 1..].iter().all(|(other, _)| other != code),
                "{code:?} is listed twice"
            );
            assert_ne!(class.retry, Persistent, "{code:?}");
            assert!(
                !class.reason.is_empty()
                    && class
                        .reason
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{code:?} has reason {:?}",
                class.reason
            );
        }
    }
}
