//! The caller's deadline as every part of the engine sees it: one margin, kept free before the
//! deadline so that every undecided instance can still be given its result and the summary can
//! follow. The margin grows with the number of instances still undecided, so a large request
//! stops working earlier than a small one.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Kept free for any request, however small: the summary and the stream's end.
const BASE: Duration = Duration::from_millis(50);
/// Kept free per undecided instance: building, queueing and encoding its result.
const PER_RESULT: Duration = Duration::from_micros(200);

/// The time kept free before the caller's deadline when `undecided` results are still owed.
pub fn margin(undecided: usize) -> Duration {
    BASE + PER_RESULT.saturating_mul(undecided.min(u32::MAX as usize) as u32)
}

/// The caller's deadline (if any) and how many results are still owed.
#[derive(Clone)]
pub struct Deadline {
    at: Option<Instant>,
    undecided: Arc<dyn Fn() -> usize + Send + Sync>,
}

impl std::fmt::Debug for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadline").field("at", &self.at).finish()
    }
}

impl Deadline {
    /// The caller's deadline `at`; `undecided` tells how many results are still owed.
    pub fn new(at: Option<Instant>, undecided: Arc<dyn Fn() -> usize + Send + Sync>) -> Deadline {
        Deadline { at, undecided }
    }

    /// No deadline.
    pub fn none() -> Deadline {
        Deadline::new(None, Arc::new(|| 0))
    }

    /// The caller's own deadline.
    pub fn at(&self) -> Option<Instant> {
        self.at
    }

    /// When work must stop so that the results still owed reach the caller in time.
    pub fn cutoff(&self) -> Option<Instant> {
        let at = self.at?;
        let margin = margin((self.undecided)());
        Some(at.checked_sub(margin).unwrap_or(at))
    }

    /// Whether the cutoff has come.
    pub fn is_cut(&self) -> bool {
        self.cutoff().is_some_and(|c| Instant::now() >= c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_grows_with_the_results_still_owed() {
        assert_eq!(margin(0), Duration::from_millis(50));
        assert_eq!(margin(10_000), Duration::from_millis(2050));
    }

    #[tokio::test(start_paused = true)]
    async fn the_cutoff_moves_later_as_results_are_decided() {
        let owed = Arc::new(std::sync::atomic::AtomicUsize::new(1000));
        let seen = owed.clone();
        let at = Instant::now() + Duration::from_secs(10);
        let deadline = Deadline::new(
            Some(at),
            Arc::new(move || seen.load(std::sync::atomic::Ordering::Relaxed)),
        );
        assert_eq!(deadline.cutoff(), Some(at - Duration::from_millis(250)));
        owed.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(deadline.cutoff(), Some(at - Duration::from_millis(50)));
        assert_eq!(Deadline::none().cutoff(), None);
    }
}
