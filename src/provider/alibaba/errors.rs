//! Alibaba Cloud error classification: every ECS and Cloud Assistant error `Code` that
//! `docs/vendors/alibaba.md` documents for the actions stopgate calls (StopInstance,
//! StopInstances, StopInvocation, DescribeInstanceStatus, DescribeInstances, DescribeInvocations,
//! DescribeInvocationResults; §2.1–2.7) and the common codes (§4), mapped onto the normalized
//! [`CodeClass`] (`docs/design.md` "Normalized model").
//!
//! Lookup order: the one documented message quirk, then the exact table `CODES`, then the
//! documented code families (`family`), then `UNKNOWN`. Only the `Code` decides: the same code
//! has different HTTP statuses across Alibaba's docs (docs/vendors/alibaba.md, §4, §7.20), so the status is not
//! an input. The same table serves request-level errors and the per-instance `Code` of a
//! `BatchOptimization=SuccessFirst` StopInstances answer (docs/vendors/alibaba.md, §7.11); `"200"` there is a
//! success and never reaches [`classify`].

use crate::model::ErrorKind::{FailedPrecondition, InvalidArgument, NotFound, Unauthenticated};
use crate::model::ErrorScope::{Instance, Request};
use crate::model::RetryClass::Permanent;
use crate::model::{CodeClass, StopError};
use crate::provider::classes::*;

/// Pseudo code the client synthesizes for an HTTP 5xx whose body carries no `Code`.
pub const HTTP_5XX: &str = "HTTP_5XX";
/// Pseudo code the client synthesizes when the vendor could not be reached (connect, TLS, reset,
/// timeout).
pub const NETWORK: &str = "NETWORK";
/// Pseudo code the client synthesizes for a body it cannot parse as Alibaba's envelope.
pub const MALFORMED_RESPONSE: &str = "MALFORMED_RESPONSE";

// === request-scoped classes ===

const CREDENTIALS_EXPIRED: CodeClass =
    CodeClass::new(Unauthenticated, Permanent, Request, "CREDENTIALS_EXPIRED");
const REGION_NOT_FOUND: CodeClass =
    CodeClass::new(NotFound, Permanent, Request, "REGION_NOT_FOUND");
const REGION_MALFORMED: CodeClass =
    CodeClass::new(InvalidArgument, Permanent, Request, "REGION_NOT_FOUND");
const KMS_ERROR: CodeClass = CodeClass::new(FailedPrecondition, Permanent, Request, "KMS_ERROR");
const INSUFFICIENT_BALANCE: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Request,
    "INSUFFICIENT_BALANCE",
);

// === instance-scoped classes (about one instance of a batch) ===

const INSTANCE_IN_ARREARS: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Instance,
    "INSTANCE_IN_ARREARS",
);
const LOCAL_DISK_CONFIRMATION_REQUIRED: CodeClass = CodeClass::new(
    FailedPrecondition,
    Permanent,
    Instance,
    "LOCAL_DISK_CONFIRMATION_REQUIRED",
);
const DISK_STATE: CodeClass = CodeClass::new(FailedPrecondition, Permanent, Instance, "DISK_STATE");

/// Exact codes. Entries here win over the families, which is how the exceptions to a family
/// (e.g. `InvalidAccessKeyId.NotFound` is not a missing resource) are expressed.
const CODES: &[(&str, CodeClass)] = &[
    // Synthesized by our client, never sent by Alibaba. A 5xx with a parseable body is
    // classified on its `Code` instead.
    (HTTP_5XX, VENDOR_UNAVAILABLE),
    (NETWORK, VENDOR_UNAVAILABLE),
    (MALFORMED_RESPONSE, VENDOR_UNAVAILABLE),
    // docs/vendors/alibaba.md, §2.1, §2.2, §7.10: a passed DryRun comes back as an error, `DryRunOperation`
    // from StopInstance/DescribeInstances and `DRYRUN.SUCCESS` from StopInstances.
    ("DryRunOperation", DRY_RUN_PASSED),
    ("DRYRUN.SUCCESS", DRY_RUN_PASSED),
    // --- instance state, locks, options (§2.1, §2.2) ---
    // docs/vendors/alibaba.md, §7.12: an already Stopped instance answers `IncorrectInstanceStatus`; the
    // adapter reads the state and reports ALREADY_STOPPED (docs/design.md rule 2).
    ("IncorrectInstanceStatus", INSTANCE_STATE),
    ("InstanceNotReady", INSTANCE_STATE),
    // docs/vendors/alibaba.md, §2.1 and §7.15: the docs disagree on whether a security lock blocks a stop;
    // when Alibaba says it does, it is this code.
    ("InstanceLockedForSecurity", INSTANCE_LOCKED),
    ("InstanceExpiredOrInArrears", INSTANCE_IN_ARREARS),
    // docs/vendors/alibaba.md, §2.1, §7.14: ConfirmStop must be true for the i1 local-disk family.
    (
        "InstanceType.ParameterMismatch",
        LOCAL_DISK_CONFIRMATION_REQUIRED,
    ),
    // Classic network / subscription / local disk / spot instance cannot take this operation.
    ("InvalidInstanceId.NotSupport", INSTANCE_UNSUPPORTED),
    (
        "OperationDenied.SystemInstanceNotSupport",
        INSTANCE_UNSUPPORTED,
    ),
    (
        "HibernationConfigured.InstanceOperationForbidden",
        HIBERNATION,
    ),
    ("HibernationConfigured.NotEnabled", HIBERNATION),
    // docs/vendors/alibaba.md, §2.1: "IncorrectDiskStatus", listed as 400 now and 403 in 2021.
    ("DiskError", DISK_STATE),
    // --- KMS (encrypted disks; §2.1, §2.2) ---
    ("InvalidParameter.Encrypted.KmsNotEnable", KMS_ERROR),
    ("InvalidParameter.KMSKeyId.CMKUnauthorized", KMS_ERROR),
    ("InvalidParameter.KMSKeyId.CMKNotEnabled", KMS_ERROR),
    ("InvalidParameter.KMSKeyId.KMSUnauthorized", KMS_ERROR),
    ("InvalidOperation.KMSKeyIdNotFound", KMS_ERROR),
    ("InvalidOperation.KMSServiceNotOpen", KMS_ERROR),
    // --- ids and batch limits (§2.2, §2.3) ---
    // docs/vendors/alibaba.md, §2.2: also 403 "InstanceId should not be null" for an empty id; the engine
    // never sends one, and the code is what counts.
    ("InvalidInstanceId.NotFound", INSTANCE_NOT_FOUND),
    ("InvalidInstanceIds.NotFound", INSTANCE_NOT_FOUND),
    ("Abs.InvalidInstanceIds.MalFormed", INVALID_INSTANCE_ID),
    // Batch limits are our chunking's job: exceeding one is a bad request, not a quota.
    ("InvalidParameter.TooManyInstanceIds", INVALID_PARAMETER),
    ("InstanceIds.ExceedLimit", INVALID_PARAMETER),
    // Not in docs/vendors/alibaba.md: what our simulator answers for more than 100 DescribeInstances ids.
    ("InvalidInstanceIds.ValueNotSupported", INVALID_PARAMETER),
    ("InsufficientBalance", INSUFFICIENT_BALANCE),
    ("InvalidOperation.Conflict", OPERATION_IN_PROGRESS),
    ("OperationConflict", OPERATION_IN_PROGRESS),
    // --- Cloud Assistant (§2.3, §2.6, §2.7) ---
    ("InvalidInvokeId.NotFound", EXECUTION_NOT_FOUND),
    // Listed on every Cloud Assistant action, reads included: an account-level refusal.
    ("Operation.Forbidden", PERMISSION_DENIED),
    ("NumberExceed.Tags", INVALID_PARAMETER),
    ("Duplicate.TagKey", INVALID_PARAMETER),
    // --- DescribeInstances filters (§2.5) ---
    // These `*.NotFound` codes name a filter value that does not exist: a bad parameter, not a
    // missing resource.
    ("InvalidInstanceChargeType.NotFound", INVALID_PARAMETER),
    (
        "InvalidInternetChargeType.ValueNotSupported",
        INVALID_PARAMETER,
    ),
    ("InvalidLockReason.NotFound", INVALID_PARAMETER),
    ("InvalidFilterKey.NotFound", INVALID_PARAMETER),
    ("InvalidNetworkType.NotFound", INVALID_PARAMETER),
    ("InvalidStatus.NotFound", INVALID_PARAMETER),
    ("InvalidTag.Mismatch", INVALID_PARAMETER),
    ("InvalidTagCount", INVALID_PARAMETER),
    ("InvalidHpcClusterId.NotFound", INVALID_PARAMETER),
    ("InvalidHpcClusterId.Creating", INVALID_PARAMETER),
    // --- vendor availability (§2.1–2.7, §4) ---
    ("LimitedOperation.ServiceUnavailable", VENDOR_UNAVAILABLE),
    ("ServiceUnavailable", VENDOR_UNAVAILABLE),
    ("ServiceUnavailable.RegionMaintaining", VENDOR_UNAVAILABLE),
    ("InternalError", VENDOR_INTERNAL_ERROR),
    ("InternalError.Dispatch", VENDOR_INTERNAL_ERROR),
    // docs/vendors/alibaba.md, §4: documented as 400, but it is the vendor failing; aliyunsdkcore retries it.
    ("UnknownError", VENDOR_INTERNAL_ERROR),
    // --- throttling (§4, §5.4) ---
    ("Throttling", THROTTLED),
    ("Throttling.User", THROTTLED),
    ("Throttling.Api", THROTTLED),
    ("Rejected.Throttling", THROTTLED),
    // --- credentials and signatures (§4 "Suggested normalisation": Auth) ---
    // docs/vendors/alibaba.md, §4: 404 in practice, 400 in the old table; a missing key, not a resource.
    ("InvalidAccessKeyId.NotFound", AUTH_FAILED),
    ("InvalidAccessKeyId.Inactive", AUTH_FAILED),
    ("Forbidden.AccessKeyDisabled", AUTH_FAILED),
    ("SignatureDoesNotMatch", SIGNATURE_MISMATCH),
    ("IncompleteSignature", SIGNATURE_MISMATCH),
    // docs/vendors/alibaba.md, §1.2: the clock differs from Alibaba's by more than 15 minutes.
    ("InvalidTimeStamp.Expired", CLOCK_SKEW),
    ("InvalidTimeStamp.Format", AUTH_FAILED),
    ("IllegalTimestamp", AUTH_FAILED),
    ("SignatureNonceUsed", AUTH_FAILED),
    ("InvalidSecurityToken.Expired", CREDENTIALS_EXPIRED),
    ("InvalidSecurityToken.Malformed", AUTH_FAILED),
    ("InvalidSecurityToken.MismatchWithAccessKey", AUTH_FAILED),
    ("MissingSecurityToken", AUTH_FAILED),
    // --- RAM (§4 "Suggested normalisation": Permission) ---
    ("Forbidden.RAM", PERMISSION_DENIED),
    ("Forbidden.SubUser", PERMISSION_DENIED),
    ("Forbidden.Unauthorized", PERMISSION_DENIED),
    ("Forbidden.NotSupportRAM", PERMISSION_DENIED),
    ("Forbidden.RiskControl", PERMISSION_DENIED),
    // --- regions, actions, parameters (§4) ---
    ("InvalidRegionId.NotFound", REGION_NOT_FOUND),
    ("InvalidRegionId.MalFormed", REGION_MALFORMED),
    ("RegionId.ApiNotSupported", REGION_UNSUPPORTED),
    // docs/vendors/alibaba.md, §4 (faascmd FAQ): the endpoint serves no ECS; not a missing resource.
    ("InvalidProduct.NotFound", ACTION_UNSUPPORTED),
    ("InvalidAction", ACTION_UNSUPPORTED),
    ("UnsupportedHTTPMethod", ACTION_UNSUPPORTED),
    ("MissingParameter", INVALID_PARAMETER),
    ("InvalidParameter", INVALID_PARAMETER),
];

/// Whether `error` says the temporary credentials were refused (expired, revoked, or their key
/// gone with them), so that fresh ones may succeed.
pub fn rejects_credentials(error: &StopError) -> bool {
    error.reason == CREDENTIALS_EXPIRED.reason
        || error.vendor_code.as_deref().is_some_and(|code| {
            code.starts_with("InvalidSecurityToken.") || code == "InvalidAccessKeyId.NotFound"
        })
}

/// Classifies an Alibaba error `Code`. `message` is read only for the one documented case where
/// the code alone is wrong (an expired STS token reported as `InvalidParameter`).
pub fn classify(code: &str, message: &str) -> CodeClass {
    // docs/vendors/alibaba.md, §4: an expired STS token has been seen as `InvalidParameter` with message
    // `The specified parameter "SecurityToken.Expired" is not valid.`
    if code == "InvalidParameter" && message.contains("SecurityToken.Expired") {
        return CREDENTIALS_EXPIRED;
    }
    CODES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, class)| *class)
        .or_else(|| family(code))
        .unwrap_or(UNKNOWN)
}

/// The code families of docs/vendors/alibaba.md, §4 "Suggested normalisation", for codes the table lacks.
fn family(code: &str) -> Option<CodeClass> {
    let class = if code.starts_with("Throttling") || code.ends_with(".Throttling") {
        // docs/vendors/alibaba.md, §4: Terraform retries any Code matching `Throttling`.
        THROTTLED
    } else if code.starts_with("InternalError") {
        VENDOR_INTERNAL_ERROR
    } else if code.starts_with("ServiceUnavailable") {
        VENDOR_UNAVAILABLE
    } else if code.starts_with("InvalidAccessKeyId.")
        || code.starts_with("InvalidSecurityToken.")
        || code.starts_with("InvalidTimeStamp.")
    {
        AUTH_FAILED
    } else if code.starts_with("Forbidden.") || code.starts_with("NoPermission") {
        PERMISSION_DENIED
    } else if code.starts_with("MissingParameter")
        || code.starts_with("InvalidParameter.")
        || code.starts_with("InvalidParam.")
    {
        INVALID_PARAMETER
    } else if code.ends_with(".NotFound") {
        RESOURCE_NOT_FOUND
    } else if code.ends_with(".MalFormed") || code.ends_with(".Malformed") {
        INVALID_PARAMETER
    } else {
        return None;
    };
    Some(class)
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

    #[test]
    fn stop_instance_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/alibaba.md, §2.1
        check(&[
            (
                "InvalidParameter.Encrypted.KmsNotEnable",
                FailedPrecondition,
                Permanent,
                Request,
                "KMS_ERROR",
            ),
            (
                "DiskError",
                FailedPrecondition,
                Permanent,
                Instance,
                "DISK_STATE",
            ),
            (
                "IncorrectInstanceStatus",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_STATE",
            ),
            (
                "InstanceLockedForSecurity",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_LOCKED",
            ),
            (
                "InstanceType.ParameterMismatch",
                FailedPrecondition,
                Permanent,
                Instance,
                "LOCAL_DISK_CONFIRMATION_REQUIRED",
            ),
            (
                "InstanceExpiredOrInArrears",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_IN_ARREARS",
            ),
            (
                "InvalidInstanceId.NotSupport",
                FailedPrecondition,
                Permanent,
                Instance,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "InvalidParameter.KMSKeyId.CMKUnauthorized",
                FailedPrecondition,
                Permanent,
                Request,
                "KMS_ERROR",
            ),
            (
                "InvalidParameter.KMSKeyId.CMKNotEnabled",
                FailedPrecondition,
                Permanent,
                Request,
                "KMS_ERROR",
            ),
            (
                "InvalidParameter.KMSKeyId.KMSUnauthorized",
                FailedPrecondition,
                Permanent,
                Request,
                "KMS_ERROR",
            ),
            (
                "HibernationConfigured.InstanceOperationForbidden",
                FailedPrecondition,
                Permanent,
                Instance,
                "HIBERNATION",
            ),
            (
                "HibernationConfigured.NotEnabled",
                FailedPrecondition,
                Permanent,
                Instance,
                "HIBERNATION",
            ),
            (
                "InvalidOperation.KMSKeyIdNotFound",
                FailedPrecondition,
                Permanent,
                Request,
                "KMS_ERROR",
            ),
            (
                "InvalidOperation.KMSServiceNotOpen",
                FailedPrecondition,
                Permanent,
                Request,
                "KMS_ERROR",
            ),
            (
                "OperationDenied.SystemInstanceNotSupport",
                FailedPrecondition,
                Permanent,
                Instance,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "InvalidInstanceId.NotFound",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_FOUND",
            ),
            (
                "InternalError",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            ),
            (
                "LimitedOperation.ServiceUnavailable",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
        ]);
    }

    #[test]
    fn stop_instances_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/alibaba.md, §2.2 (the KMS codes are shared with §2.1 and checked there)
        check(&[
            (
                "DRYRUN.SUCCESS",
                Aborted,
                Permanent,
                Request,
                "DRY_RUN_PASSED",
            ),
            (
                "InvalidInstanceId.NotFound",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_FOUND",
            ),
            (
                "InvalidParameter.TooManyInstanceIds",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "Abs.InvalidInstanceIds.MalFormed",
                InvalidArgument,
                Permanent,
                Instance,
                "INVALID_INSTANCE_ID",
            ),
            (
                "InstanceLockedForSecurity",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_LOCKED",
            ),
            (
                "InstanceExpiredOrInArrears",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_IN_ARREARS",
            ),
            (
                "IncorrectInstanceStatus",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_STATE",
            ),
            (
                "InvalidInstanceId.NotSupport",
                FailedPrecondition,
                Permanent,
                Instance,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "InsufficientBalance",
                FailedPrecondition,
                Permanent,
                Request,
                "INSUFFICIENT_BALANCE",
            ),
            (
                "InstanceNotReady",
                FailedPrecondition,
                Permanent,
                Instance,
                "INSTANCE_STATE",
            ),
            (
                "InvalidInstanceIds.NotFound",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_FOUND",
            ),
            (
                "InvalidOperation.Conflict",
                Aborted,
                Temporary,
                Request,
                "OPERATION_IN_PROGRESS",
            ),
            (
                "InternalError",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            ),
            (
                "LimitedOperation.ServiceUnavailable",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
        ]);
    }

    #[test]
    fn stop_invocation_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/alibaba.md, §2.3, including the MissingParameter.* of older revisions
        check(&[
            (
                "RegionId.ApiNotSupported",
                Unimplemented,
                Permanent,
                Request,
                "REGION_UNSUPPORTED",
            ),
            (
                "InstanceIds.ExceedLimit",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "Operation.Forbidden",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
            (
                "InvalidRegionId.NotFound",
                NotFound,
                Permanent,
                Request,
                "REGION_NOT_FOUND",
            ),
            (
                "InvalidInvokeId.NotFound",
                NotFound,
                Permanent,
                Request,
                "EXECUTION_NOT_FOUND",
            ),
            (
                "InvalidInstanceId.NotFound",
                NotFound,
                Permanent,
                Instance,
                "INSTANCE_NOT_FOUND",
            ),
            (
                "InternalError.Dispatch",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            ),
            (
                "MissingParameter.InvokeId",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "MissingParameter.RegionId",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
        ]);
    }

    #[test]
    fn describe_instances_filter_errors_are_bad_parameters_not_missing_resources() {
        // docs/vendors/alibaba.md, §2.5: these `*.NotFound` codes name a filter value, not a resource.
        let invalid = |code| {
            (
                code,
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            )
        };
        check(&[
            invalid("InvalidInstanceChargeType.NotFound"),
            invalid("InvalidInternetChargeType.ValueNotSupported"),
            invalid("InvalidLockReason.NotFound"),
            invalid("InvalidFilterKey.NotFound"),
            invalid("InvalidNetworkType.NotFound"),
            invalid("InvalidStatus.NotFound"),
            invalid("InvalidTag.Mismatch"),
            invalid("InvalidTagCount"),
            invalid("InvalidHpcClusterId.NotFound"),
            invalid("InvalidHpcClusterId.Creating"),
            (
                "DryRunOperation",
                Aborted,
                Permanent,
                Request,
                "DRY_RUN_PASSED",
            ),
        ]);
    }

    #[test]
    fn describe_invocations_and_results_documented_codes_map_to_the_normalized_kinds() {
        // docs/vendors/alibaba.md, §2.6 and §2.7 (DescribeInstanceStatus, §2.4, has only the common codes)
        let invalid = |code| {
            (
                code,
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            )
        };
        check(&[
            (
                "RegionId.ApiNotSupported",
                Unimplemented,
                Permanent,
                Request,
                "REGION_UNSUPPORTED",
            ),
            invalid("NumberExceed.Tags"),
            invalid("Duplicate.TagKey"),
            invalid("InvalidTagKey.Malformed"),
            invalid("InvalidTagValue.Malformed"),
            invalid("MissingParameter.TagKey"),
            invalid("InvalidParam.PageNumber"),
            invalid("InvalidParam.PageSize"),
            invalid("InvalidParameter.NextToken"),
            invalid("InvalidParameter.MaxResults"),
            (
                "Operation.Forbidden",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
            (
                "InvalidRegionId.NotFound",
                NotFound,
                Permanent,
                Request,
                "REGION_NOT_FOUND",
            ),
            (
                "InternalError.Dispatch",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            ),
            (
                "ServiceUnavailable",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
            (
                "InternalError",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            ),
        ]);
    }

    #[test]
    fn common_codes_map_to_the_normalized_kinds() {
        // docs/vendors/alibaba.md, §4
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
        let throttled = |code| (code, ResourceExhausted, Temporary, Request, "THROTTLED");
        let unavailable = |code| (code, Unavailable, Temporary, Request, "VENDOR_UNAVAILABLE");
        let internal = |code| {
            (
                code,
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            )
        };
        check(&[
            throttled("Throttling"),
            throttled("Throttling.User"),
            throttled("Throttling.Api"),
            unavailable("ServiceUnavailable"),
            unavailable("ServiceUnavailable.RegionMaintaining"),
            unavailable("LimitedOperation.ServiceUnavailable"),
            internal("InternalError"),
            internal("InternalError.Dispatch"),
            internal("UnknownError"),
            auth("InvalidAccessKeyId.NotFound"),
            auth("InvalidAccessKeyId.Inactive"),
            auth("Forbidden.AccessKeyDisabled"),
            (
                "SignatureDoesNotMatch",
                Unauthenticated,
                Permanent,
                Request,
                "SIGNATURE_MISMATCH",
            ),
            (
                "IncompleteSignature",
                Unauthenticated,
                Permanent,
                Request,
                "SIGNATURE_MISMATCH",
            ),
            (
                "InvalidTimeStamp.Expired",
                Unauthenticated,
                Permanent,
                Request,
                "CLOCK_SKEW",
            ),
            auth("InvalidTimeStamp.Format"),
            auth("IllegalTimestamp"),
            auth("SignatureNonceUsed"),
            (
                "InvalidSecurityToken.Expired",
                Unauthenticated,
                Permanent,
                Request,
                "CREDENTIALS_EXPIRED",
            ),
            auth("InvalidSecurityToken.Malformed"),
            auth("InvalidSecurityToken.MismatchWithAccessKey"),
            auth("MissingSecurityToken"),
            denied("Forbidden.RAM"),
            denied("Forbidden.SubUser"),
            denied("Forbidden.Unauthorized"),
            denied("Forbidden.NotSupportRAM"),
            denied("Forbidden.RiskControl"),
            (
                "InvalidRegionId.NotFound",
                NotFound,
                Permanent,
                Request,
                "REGION_NOT_FOUND",
            ),
            (
                "InvalidRegionId.MalFormed",
                InvalidArgument,
                Permanent,
                Request,
                "REGION_NOT_FOUND",
            ),
            (
                "RegionId.ApiNotSupported",
                Unimplemented,
                Permanent,
                Request,
                "REGION_UNSUPPORTED",
            ),
            (
                "InvalidProduct.NotFound",
                Unimplemented,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "MissingParameter",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "MissingParameter.InstanceId",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "InvalidParameter",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "InvalidAction",
                Unimplemented,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "UnsupportedHTTPMethod",
                Unimplemented,
                Permanent,
                Request,
                "UNSUPPORTED_OPERATION",
            ),
            (
                "OperationConflict",
                Aborted,
                Temporary,
                Request,
                "OPERATION_IN_PROGRESS",
            ),
            (
                "DryRunOperation",
                Aborted,
                Permanent,
                Request,
                "DRY_RUN_PASSED",
            ),
            (
                "DRYRUN.SUCCESS",
                Aborted,
                Permanent,
                Request,
                "DRY_RUN_PASSED",
            ),
        ]);
    }

    #[test]
    fn throttling_is_temporary_and_never_a_quota() {
        // docs/design.md rule 9; docs/vendors/alibaba.md, §4 "Suggested normalisation".
        let throttled = |code| (code, ResourceExhausted, Temporary, Request, "THROTTLED");
        check(&[
            throttled("Throttling"),
            throttled("Throttling.User"),
            throttled("Throttling.Api"),
            throttled("Rejected.Throttling"),
            // undocumented members of the family
            throttled("Throttling.Concurrent"),
            throttled("Flow.Throttling"),
        ]);
        // Limits on a request's size are bad requests: permanent, and not ResourceExhausted.
        let invalid = |code| {
            (
                code,
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            )
        };
        check(&[
            invalid("InstanceIds.ExceedLimit"),
            invalid("InvalidParameter.TooManyInstanceIds"),
            invalid("NumberExceed.Tags"),
        ]);
    }

    #[test]
    fn unknown_code_is_internal_and_permanent() {
        for code in [
            "SomethingNew",
            "Ecs.Brand.NewError",
            "",
            "throttling", // codes are case-sensitive; Alibaba spells it `Throttling`
            "QuotaExceed.Instances",
        ] {
            assert_eq!(
                classify(code, "whatever"),
                CodeClass::new(Internal, Permanent, Request, "UNKNOWN_VENDOR_ERROR"),
                "code {code:?}"
            );
        }
    }

    #[test]
    fn expired_sts_token_reported_as_invalid_parameter_is_unauthenticated() {
        // docs/vendors/alibaba.md, §4 (kubevela/terraform-controller#52)
        let expired = CodeClass::new(Unauthenticated, Permanent, Request, "CREDENTIALS_EXPIRED");
        assert_eq!(
            classify(
                "InvalidParameter",
                "The specified parameter \"SecurityToken.Expired\" is not valid."
            ),
            expired
        );
        // Without that message it stays a plain bad parameter...
        assert_eq!(
            classify(
                "InvalidParameter",
                "The specified parameter \"Action or Version\" is not valid."
            ),
            CodeClass::new(InvalidArgument, Permanent, Request, "INVALID_PARAMETER")
        );
        // ...and no other code ever looks at the message.
        assert_eq!(
            classify("Throttling", "SecurityToken.Expired"),
            CodeClass::new(ResourceExhausted, Temporary, Request, "THROTTLED")
        );
        assert_eq!(
            classify("InvalidParameter.NextToken", "SecurityToken.Expired"),
            CodeClass::new(InvalidArgument, Permanent, Request, "INVALID_PARAMETER")
        );
    }

    #[test]
    fn same_code_maps_the_same_way_whatever_http_status_the_docs_give() {
        // docs/vendors/alibaba.md, §4 and §7.20: the HTTP status (and message) of a code varies between docs;
        // classify takes neither status nor (outside the STS quirk) message into account.
        let variants: &[(&str, &[&str], CodeClass)] = &[
            (
                "ServiceUnavailable", // 503 in the common table, 500 in DescribeInvocationResults
                &[
                    "The request has failed due to a temporary failure of the server.",
                    "code: 500, The request has failed due to a temporary failure of the server.",
                ],
                CodeClass::new(Unavailable, Temporary, Request, "VENDOR_UNAVAILABLE"),
            ),
            (
                "InvalidAccessKeyId.NotFound", // 400 in the old table, 404 in practice
                &["Specified access key is not found.", ""],
                CodeClass::new(Unauthenticated, Permanent, Request, "AUTH_FAILED"),
            ),
            (
                "InvalidInstanceId.NotFound", // 403 "should not be null", 404 "does not exist"
                &[
                    "InstanceId should not be null.",
                    "The specified InstanceId does not exist.",
                    "The specified parameter InstanceId does not exist.",
                ],
                CodeClass::new(NotFound, Permanent, Instance, "INSTANCE_NOT_FOUND"),
            ),
            (
                "InvalidParam.PageSize", // 403 in 2021, 400 now
                &["The specified parameter is invalid."],
                CodeClass::new(InvalidArgument, Permanent, Request, "INVALID_PARAMETER"),
            ),
            (
                "DiskError", // 403 in 2021, 400 now
                &["IncorrectDiskStatus."],
                CodeClass::new(FailedPrecondition, Permanent, Instance, "DISK_STATE"),
            ),
            (
                "InvalidInvokeId.NotFound", // once 400, now 404
                &["The specified invoke ID does not exist."],
                CodeClass::new(NotFound, Permanent, Request, "EXECUTION_NOT_FOUND"),
            ),
            (
                "InvalidSecurityToken.Expired", // 400, some product docs 403
                &["Specified SecurityToken is expired."],
                CodeClass::new(Unauthenticated, Permanent, Request, "CREDENTIALS_EXPIRED"),
            ),
            (
                "IncorrectInstanceStatus", // the observed message for an already Stopped instance
                &[
                    "The current status of the resource does not support this operation.",
                    "The specified instance is in an incorrect status for the requested action; \
                     Status of the specified instance is Stopped but the expected status is in \
                     (Running).",
                ],
                CodeClass::new(FailedPrecondition, Permanent, Instance, "INSTANCE_STATE"),
            ),
        ];
        for (code, messages, expected) in variants {
            for message in *messages {
                assert_eq!(classify(code, message), *expected, "code {code:?}");
            }
        }
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
    fn undocumented_members_of_documented_families_follow_their_family() {
        // docs/vendors/alibaba.md, §4 "Suggested normalisation"
        check(&[
            (
                "InternalError.Database",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_INTERNAL_ERROR",
            ),
            (
                "ServiceUnavailable.Busy",
                Unavailable,
                Temporary,
                Request,
                "VENDOR_UNAVAILABLE",
            ),
            (
                "InvalidAccessKeyId.Malformed",
                Unauthenticated,
                Permanent,
                Request,
                "AUTH_FAILED",
            ),
            (
                "InvalidSecurityToken.Revoked",
                Unauthenticated,
                Permanent,
                Request,
                "AUTH_FAILED",
            ),
            (
                "Forbidden.InstanceNotOwned",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
            (
                "NoPermission.Stop",
                PermissionDenied,
                Permanent,
                Request,
                "PERMISSION_DENIED",
            ),
            (
                "InvalidParameter.StoppedMode",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
            (
                "InvalidSecurityGroupId.NotFound",
                NotFound,
                Permanent,
                Request,
                "RESOURCE_NOT_FOUND",
            ),
            (
                "InvalidZoneId.MalFormed",
                InvalidArgument,
                Permanent,
                Request,
                "INVALID_PARAMETER",
            ),
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
