//! The one error type: a kind, a retry class and the vendor's evidence.

use std::time::Duration;

use super::Provider;

/// What went wrong, in stopgate's vocabulary (docs/design.md "Normalized model"). Maps one-to-one
/// onto a gRPC status code in the api layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request (or a vendor parameter derived from it) is invalid.
    InvalidArgument,
    /// The instance, execution or region does not exist.
    NotFound,
    /// Wrong state, locked, in arrears, an option the instance cannot take.
    FailedPrecondition,
    /// An operation is in progress or conflicts; all-or-nothing refused.
    Aborted,
    /// RAM/CAM denied the action, or MFA is required.
    PermissionDenied,
    /// The gateway's vendor credentials are bad or expired.
    Unauthenticated,
    /// Throttled, or a quota is exhausted.
    ResourceExhausted,
    /// The vendor is unreachable or answered 5xx.
    Unavailable,
    /// The caller's deadline or the wait timeout passed.
    DeadlineExceeded,
    /// The vendor lacks the feature.
    Unimplemented,
    /// Anything else, including vendor codes stopgate does not know.
    Internal,
}

/// Whether trying again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// Trying again gives the same answer.
    Permanent,
    /// Trying again later may succeed (throttling, 5xx, network, conflicts).
    Temporary,
    /// Was temporary, and still failed after stopgate's own retries.
    Persistent,
}

/// Whether a vendor error is about the whole request or about one instance in it. Tencent
/// answers one code for a whole batch; an instance-scoped code lets the engine bisect the batch
/// to find the instance (docs/design.md rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorScope {
    Request,
    Instance,
}

/// The reasons stopgate's own decisions depend on. Each is also the stable string sent as
/// `google.rpc.ErrorInfo.reason`; the error tables and the engine name them through this
/// enum, so that a misspelt reason does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The vendor is throttling us: back off at least a second.
    Throttled,
    /// No answer, a 5xx or an unreadable body: the call may have been applied.
    VendorUnavailable,
    /// The vendor's own internal error: the call may have been applied.
    VendorInternalError,
    /// The instance's state refuses the stop: it may have stopped meanwhile, so read again.
    InstanceState,
    /// The vendor does not know the command execution.
    ExecutionNotFound,
    /// The instance has no task in the execution (which therefore exists).
    InstanceNotInExecution,
    /// The vendor's dry run passed (answered as an error by the vendor).
    DryRunPassed,
}

impl Reason {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Throttled => "THROTTLED",
            Reason::VendorUnavailable => "VENDOR_UNAVAILABLE",
            Reason::VendorInternalError => "VENDOR_INTERNAL_ERROR",
            Reason::InstanceState => "INSTANCE_STATE",
            Reason::ExecutionNotFound => "EXECUTION_NOT_FOUND",
            Reason::InstanceNotInExecution => "INSTANCE_NOT_IN_EXECUTION",
            Reason::DryRunPassed => "DRY_RUN_PASSED",
        }
    }
}

/// How an adapter classifies one vendor error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeClass {
    pub kind: ErrorKind,
    /// `Permanent` or `Temporary` (never `Persistent`: only the retry loop decides that).
    pub retry: RetryClass,
    pub scope: ErrorScope,
    /// Stable UPPER_SNAKE reason for `google.rpc.ErrorInfo.reason`, e.g. `INSTANCE_NOT_FOUND`.
    pub reason: &'static str,
}

impl CodeClass {
    /// Shorthand for table entries.
    pub const fn new(
        kind: ErrorKind,
        retry: RetryClass,
        scope: ErrorScope,
        reason: &'static str,
    ) -> Self {
        CodeClass {
            kind,
            retry,
            scope,
            reason,
        }
    }
}

/// An error with everything a caller needs to act on it. Vendor fields are the vendor's own
/// evidence; `message` is stopgate's explanation and says what to do. Never holds a secret:
/// adapters redact credentials from vendor messages before building one.
#[derive(Debug, Clone, PartialEq)]
pub struct StopError {
    pub kind: ErrorKind,
    pub retry: RetryClass,
    pub scope: ErrorScope,
    /// Stable UPPER_SNAKE reason (`google.rpc.ErrorInfo.reason`).
    pub reason: String,
    /// What was wrong and what to do, in English.
    pub message: String,
    pub provider: Option<Provider>,
    pub vendor_code: Option<String>,
    pub vendor_message: Option<String>,
    pub vendor_request_id: Option<String>,
    pub http_status: Option<u16>,
    /// How long the vendor asked us to wait (Alibaba `x-acs-retry-after`).
    pub retry_after: Option<Duration>,
    /// The region of the instance or region the error is about.
    pub region: Option<String>,
    /// More `google.rpc.ErrorInfo` metadata (e.g. a selector's count per region).
    pub details: Vec<(String, String)>,
}

impl StopError {
    /// An error stopgate itself decided (no vendor evidence).
    pub fn local(kind: ErrorKind, reason: &str, message: impl Into<String>) -> StopError {
        StopError {
            kind,
            retry: RetryClass::Permanent,
            scope: ErrorScope::Request,
            reason: reason.to_string(),
            message: message.into(),
            provider: None,
            vendor_code: None,
            vendor_message: None,
            vendor_request_id: None,
            http_status: None,
            retry_after: None,
            region: None,
            details: Vec::new(),
        }
    }

    /// An error from a vendor answer, classified by the adapter's table.
    pub fn vendor(
        provider: Provider,
        class: CodeClass,
        code: &str,
        vendor_message: &str,
        request_id: Option<String>,
        http_status: Option<u16>,
    ) -> StopError {
        StopError {
            kind: class.kind,
            retry: class.retry,
            scope: class.scope,
            reason: class.reason.to_string(),
            message: format!("{provider} answered {code}: {vendor_message}"),
            provider: Some(provider),
            vendor_code: Some(code.to_string()),
            vendor_message: Some(vendor_message.to_string()),
            vendor_request_id: request_id,
            http_status,
            retry_after: None,
            region: None,
            details: Vec::new(),
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.retry == RetryClass::Temporary
    }

    /// Whether the vendor may have carried out the call although it answered with this error:
    /// the connection broke or timed out after the request was sent, a 5xx, an unreadable body
    /// or the vendor's own internal error. Before deciding what such a failed stop did, read.
    pub fn may_have_applied(&self) -> bool {
        self.provider.is_some()
            && (self.is(Reason::VendorUnavailable) || self.is(Reason::VendorInternalError))
    }

    /// Whether this error's reason is `reason`.
    pub fn is(&self, reason: Reason) -> bool {
        self.reason == reason.as_str()
    }

    /// Whether this is the vendor throttling us (not a quota: docs/design.md rule 9).
    pub fn is_throttling(&self) -> bool {
        self.is(Reason::Throttled)
    }

    /// The same error with stopgate's explanation rewritten from the old one.
    pub fn with_message(mut self, rewrite: impl FnOnce(&str) -> String) -> StopError {
        self.message = rewrite(&self.message);
        self
    }
}

impl std::fmt::Display for StopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StopError {}
