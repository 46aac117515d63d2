//! The vendors' published rate limits, as token buckets per account × region × action
//! (docs/vendors/tencent.md, §2.1/§1.0: StopInstances 10/s, DescribeInstances* 40/s,
//! DescribeRegions 20/s, TAT 20/s; Alibaba publishes no
//! figure, docs/vendors/alibaba.md, §5.4, so it is a setting).

use std::collections::HashMap;
use std::time::Instant;

use stopgate_vendor::Provider;

/// Buckets kept before the full ones are forgotten. Calls reach a bucket only once
/// authenticated, for a known region and action, so this is a second line of defence.
const MAX_BUCKETS: usize = 10_000;

/// Alibaba's default per-action rate in the simulator.
pub const ALIBABA_DEFAULT_PER_SECOND: f64 = 50.0;

/// The published per-second limit of a Tencent action.
pub fn tencent_published_limit(action: &str) -> Option<f64> {
    match action {
        "StopInstances" | "StartInstances" => Some(10.0),
        "DescribeInstances" | "DescribeInstancesStatus" => Some(40.0),
        "DescribeRegions" => Some(20.0),
        "RunCommand" | "CancelInvocation" | "DescribeInvocations" | "DescribeInvocationTasks" => {
            Some(20.0)
        }
        _ => None,
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Limits and buckets.
#[derive(Debug, Default)]
pub struct RateLimits {
    /// Overrides: (provider, action or None for all) → per-second limit, None = unlimited.
    overrides: HashMap<(Provider, Option<String>), Option<f64>>,
    buckets: HashMap<(Provider, String, String, String), Bucket>,
}

/// The answer to "may this call go through?".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Allowed,
    /// Throttled: the limit in force and how long until a token is free.
    Throttled {
        per_second: f64,
        retry_after_ms: u64,
    },
}

impl RateLimits {
    /// Sets (or with `None`, lifts) a limit for one action or, with no action, every action.
    pub fn set(&mut self, provider: Provider, action: Option<String>, per_second: Option<f64>) {
        if action.is_none() {
            self.overrides.retain(|(p, _), _| *p != provider);
        }
        self.overrides.insert((provider, action), per_second);
        self.buckets.retain(|k, _| k.0 != provider);
    }

    /// Forgets the buckets that have refilled: a full bucket behaves exactly like a missing one.
    fn forget_full_buckets(&mut self, now: Instant) {
        let limits: HashMap<(Provider, String), f64> = self
            .buckets
            .keys()
            .map(|k| (k.0, k.3.clone()))
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .filter_map(|(p, a)| {
                let rate = self.limit(p, &a)?;
                Some(((p, a), rate))
            })
            .collect();
        self.buckets.retain(|k, bucket| {
            let Some(rate) = limits.get(&(k.0, k.3.clone())) else {
                return false;
            };
            let elapsed = now.duration_since(bucket.last).as_secs_f64();
            bucket.tokens + elapsed * rate < rate.max(1.0)
        });
    }

    /// Back to the published defaults.
    pub fn reset(&mut self) {
        self.overrides.clear();
        self.buckets.clear();
    }

    /// The limit in force for an action.
    pub fn limit(&self, provider: Provider, action: &str) -> Option<f64> {
        if let Some(limit) = self.overrides.get(&(provider, Some(action.to_string()))) {
            return *limit;
        }
        if let Some(limit) = self.overrides.get(&(provider, None)) {
            return *limit;
        }
        match provider {
            Provider::Alibaba => Some(ALIBABA_DEFAULT_PER_SECOND),
            Provider::Tencent => tencent_published_limit(action),
        }
    }

    /// Takes a token for the call, or says it is throttled. Burst = one second's worth.
    pub fn admit(
        &mut self,
        provider: Provider,
        account: &str,
        region: &str,
        action: &str,
        now: Instant,
    ) -> Admission {
        let Some(rate) = self.limit(provider, action).filter(|r| *r > 0.0) else {
            return Admission::Allowed;
        };
        let key = (
            provider,
            account.to_string(),
            region.to_string(),
            action.to_string(),
        );
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&key) {
            self.forget_full_buckets(now);
            if self.buckets.len() >= MAX_BUCKETS {
                // Every bucket is in use: start over rather than grow (a burst is let through).
                self.buckets.clear();
            }
        }
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate.max(1.0));
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Admission::Allowed
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Admission::Throttled {
                per_second: rate,
                retry_after_ms: (wait * 1000.0).ceil() as u64,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tencent_stop_instances_allows_ten_per_second_then_throttles() {
        let mut limits = RateLimits::default();
        let now = Instant::now();
        let admitted = (0..11)
            .filter(|_| {
                limits.admit(Provider::Tencent, "a", "ap-guangzhou", "StopInstances", now)
                    == Admission::Allowed
            })
            .count();
        assert_eq!(admitted, 10);
        let later = now + Duration::from_millis(100);
        assert_eq!(
            limits.admit(
                Provider::Tencent,
                "a",
                "ap-guangzhou",
                "StopInstances",
                later
            ),
            Admission::Allowed
        );
    }

    #[test]
    fn buckets_are_separate_per_account_region_and_action() {
        let mut limits = RateLimits::default();
        limits.set(Provider::Alibaba, None, Some(1.0));
        let now = Instant::now();
        assert_eq!(
            limits.admit(Provider::Alibaba, "a", "r", "StopInstances", now),
            Admission::Allowed
        );
        assert!(matches!(
            limits.admit(Provider::Alibaba, "a", "r", "StopInstances", now),
            Admission::Throttled { .. }
        ));
        assert_eq!(
            limits.admit(Provider::Alibaba, "b", "r", "StopInstances", now),
            Admission::Allowed
        );
        assert_eq!(
            limits.admit(Provider::Alibaba, "a", "r2", "StopInstances", now),
            Admission::Allowed
        );
        assert_eq!(
            limits.admit(Provider::Alibaba, "a", "r", "DescribeInstances", now),
            Admission::Allowed
        );
    }

    #[test]
    fn refilled_buckets_are_forgotten_when_there_are_too_many() {
        let mut limits = RateLimits::default();
        limits.set(Provider::Alibaba, None, Some(1.0));
        let now = Instant::now();
        for n in 0..MAX_BUCKETS {
            limits.admit(Provider::Alibaba, &n.to_string(), "r", "StopInstances", now);
        }
        assert_eq!(limits.buckets.len(), MAX_BUCKETS);
        let later = now + Duration::from_secs(10);
        assert_eq!(
            limits.admit(Provider::Alibaba, "new", "r", "StopInstances", later),
            Admission::Allowed
        );
        assert_eq!(limits.buckets.len(), 1);
        assert!(matches!(
            limits.admit(Provider::Alibaba, "new", "r", "StopInstances", later),
            Admission::Throttled { .. }
        ));
    }

    #[test]
    fn the_buckets_never_outgrow_their_bound() {
        let mut limits = RateLimits::default();
        limits.set(Provider::Alibaba, None, Some(1.0));
        let now = Instant::now();
        for n in 0..MAX_BUCKETS + 5 {
            limits.admit(Provider::Alibaba, &n.to_string(), "r", "StopInstances", now);
            assert!(limits.buckets.len() <= MAX_BUCKETS);
        }
    }

    #[test]
    fn a_null_limit_lifts_throttling() {
        let mut limits = RateLimits::default();
        limits.set(Provider::Tencent, Some("StopInstances".into()), None);
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(
                limits.admit(Provider::Tencent, "a", "r", "StopInstances", now),
                Admission::Allowed
            );
        }
    }
}
