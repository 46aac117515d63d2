//! Admission control: how many calls and how many instances the gateway serves at once, across
//! every connection. A call beyond a limit is refused at once with RESOURCE_EXHAUSTED and a
//! RetryInfo rather than queued, so a caller with a deadline learns it now and can go elsewhere.
//! While draining for shutdown, new calls are refused with UNAVAILABLE.
//!
//! The counts live here; the call limit is applied before a request is decoded by
//! [`super::admission_layer`], and the instance limit where the request is read (it needs the
//! number of instances) by [`super::stream`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::config::Limits;

/// How long a refused caller is told to wait before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The gateway's running counts against its limits.
#[derive(Debug)]
pub struct Admission {
    max_rpcs: usize,
    max_instances: usize,
    rpcs: AtomicUsize,
    instances: AtomicUsize,
    draining: AtomicBool,
    idle: Notify,
}

/// One admitted call; dropping it gives back its call slot.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
}

/// Instances reserved for one call's work; dropping it gives them back.
#[derive(Debug)]
pub struct Instances {
    admission: Arc<Admission>,
    count: usize,
}

/// Adds `n` to `counter` unless that passes `max`.
fn try_add(counter: &AtomicUsize, n: usize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            now.checked_add(n).filter(|total| *total <= max)
        })
        .is_ok()
}

fn exhausted(reason: &str, message: String) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        reason,
        super::status::DOMAIN,
        std::collections::HashMap::<String, String>::new(),
    );
    details.set_retry_info(Some(RETRY_AFTER));
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

impl Admission {
    pub fn new(limits: &Limits) -> Arc<Admission> {
        Arc::new(Admission {
            max_rpcs: limits.max_concurrent_rpcs,
            max_instances: limits.max_instances_in_flight,
            rpcs: AtomicUsize::new(0),
            instances: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            idle: Notify::new(),
        })
    }

    /// Admits one call, or says which limit refused it and how to raise it.
    pub fn call(self: &Arc<Self>) -> Result<Permit, Status> {
        if self.draining.load(Ordering::Acquire) {
            return Err(Status::unavailable(
                "this gateway is shutting down and takes no new calls; retry, and the call will reach another instance (or this one once restarted)",
            ));
        }
        if !try_add(&self.rpcs, 1, self.max_rpcs) {
            return Err(exhausted(
                "TOO_MANY_CALLS",
                format!(
                    "the gateway is serving its limit of {} calls at once; retry after {} s, or raise [limits] max_concurrent_rpcs in the gateway's configuration",
                    self.max_rpcs,
                    RETRY_AFTER.as_secs()
                ),
            ));
        }
        Ok(Permit {
            admission: self.clone(),
        })
    }

    /// Reserves `n` instances, or says which limit refused them and how to raise it.
    pub fn reserve_instances(self: &Arc<Self>, n: usize) -> Result<Instances, Status> {
        if !try_add(&self.instances, n, self.max_instances) {
            let busy = self.instances.load(Ordering::Acquire);
            return Err(exhausted(
                "TOO_MANY_INSTANCES",
                format!(
                    "the gateway has {busy} instances in flight and its limit is {}, so {n} more do not fit; retry after {} s, send fewer instances per call, or raise [limits] max_instances_in_flight in the gateway's configuration",
                    self.max_instances,
                    RETRY_AFTER.as_secs()
                ),
            ));
        }
        Ok(Instances {
            admission: self.clone(),
            count: n,
        })
    }

    /// Begins the drain: every later call is refused.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Resolves once no admitted call is left.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.rpcs.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Calls admitted now.
    pub fn calls_in_flight(&self) -> usize {
        self.rpcs.load(Ordering::Acquire)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.admission.rpcs.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.admission.idle.notify_waiters();
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        self.admission
            .instances
            .fetch_sub(self.count, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpcs: usize, instances: usize) -> Limits {
        Limits {
            max_concurrent_rpcs: rpcs,
            max_instances_in_flight: instances,
            ..Limits::default()
        }
    }

    #[test]
    fn a_call_beyond_the_limit_is_refused_until_one_ends() {
        let admission = Admission::new(&limits(2, 10));
        let first = admission.call().unwrap();
        let _second = admission.call().unwrap();
        let refused = admission.call().unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("max_concurrent_rpcs"));
        assert_eq!(
            refused.get_details_retry_info().unwrap().retry_delay,
            Some(RETRY_AFTER)
        );
        drop(first);
        assert!(admission.call().is_ok());
    }

    #[test]
    fn instances_count_across_calls_and_come_back_when_dropped() {
        let admission = Admission::new(&limits(10, 10));
        let a = admission.reserve_instances(7).unwrap();
        let refused = admission.reserve_instances(4).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("max_instances_in_flight"));
        let _b = admission.reserve_instances(3).unwrap();
        drop(a);
        admission.reserve_instances(7).unwrap();
    }

    #[tokio::test]
    async fn draining_refuses_new_calls_and_idle_waits_for_the_last_one() {
        let admission = Admission::new(&limits(10, 10));
        let permit = admission.call().unwrap();
        admission.drain();
        assert_eq!(admission.call().unwrap_err().code(), Code::Unavailable);
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(permit);
        waiting.await.unwrap();
    }
}
