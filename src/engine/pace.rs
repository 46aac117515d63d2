//! The pause between two polls of a wait. (Pacing of vendor calls lives in `crate::pacing`.)

use std::time::Duration;

use tokio::time::Instant;

/// Sleeps one poll interval jittered by ±20% (so that many waits do not poll in step), but
/// never past `deadline`. Returns false once the deadline has come.
pub async fn poll_pause(interval: Duration, deadline: Instant) -> bool {
    use rand::Rng;
    let jittered = interval.mul_f64(rand::rng().random_range(0.8..1.2));
    tokio::time::sleep_until((Instant::now() + jittered).min(deadline)).await;
    Instant::now() < deadline
}
