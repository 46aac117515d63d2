//! The pacing front with the in-process store, on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Pacer, Turns};

/// Starts `calls` calls of one request on `key` at once, each recording when its slot came.
fn request(
    pacer: &Arc<Pacer>,
    key: &'static str,
    per_second: f64,
    calls: usize,
) -> tokio::task::JoinHandle<Vec<Instant>> {
    let pacer = pacer.clone();
    tokio::spawn(async move {
        let turns = Arc::new(Turns::default());
        let tasks: Vec<_> = (0..calls)
            .map(|_| {
                let (pacer, turns) = (pacer.clone(), turns.clone());
                tokio::spawn(async move {
                    assert!(pacer.acquire(&turns, key, per_second, None).await.unwrap());
                    Instant::now()
                })
            })
            .collect();
        let mut starts = Vec::new();
        for task in tasks {
            starts.push(task.await.unwrap());
        }
        starts.sort();
        starts
    })
}

#[tokio::test(start_paused = true)]
async fn calls_of_one_key_start_one_interval_apart() {
    let pacer = Arc::new(Pacer::default());
    let t0 = Instant::now();
    let starts = request(&pacer, "a", 10.0, 5).await.unwrap();
    let offsets: Vec<Duration> = starts.iter().map(|s| *s - t0).collect();
    assert_eq!(
        offsets,
        (0..5)
            .map(|i| Duration::from_millis(100 * i))
            .collect::<Vec<_>>()
    );
    let other = request(&pacer, "b", 10.0, 1).await.unwrap();
    assert_eq!(
        other[0] - t0,
        Duration::from_millis(400),
        "another key is not held up by this one's schedule (only by the clock)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_small_request_is_served_within_about_two_slots_of_a_large_one() {
    let pacer = Arc::new(Pacer::default());
    let large = request(&pacer, "k", 10.0, 50);
    // Let the large request queue its calls and run for a while.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let asked = Instant::now();
    let small = request(&pacer, "k", 10.0, 1).await.unwrap();
    let waited = small[0] - asked;
    assert!(
        waited <= Duration::from_millis(300),
        "the one-call request waited {waited:?}, behind the large request's queue"
    );
    let large = large.await.unwrap();
    for pair in large.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(100) || pair[1] == pair[0]);
    }
}

#[tokio::test(start_paused = true)]
async fn no_slot_is_taken_that_the_cutoff_would_cut() {
    let pacer = Pacer::default();
    let turns = Turns::default();
    let t0 = Instant::now();
    assert!(pacer.acquire(&turns, "a", 10.0, None).await.unwrap());
    assert!(
        !pacer
            .acquire(&turns, "a", 10.0, Some(t0 + Duration::from_millis(50)))
            .await
            .unwrap()
    );
    assert_eq!(Instant::now(), t0, "refused without waiting");
    assert!(pacer.acquire(&turns, "a", 10.0, None).await.unwrap());
    assert_eq!(
        Instant::now() - t0,
        Duration::from_millis(100),
        "the refused slot was not taken"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_holds_the_key_and_throttling_at_the_rate_slows_it() {
    let pacer = Pacer::default();
    let turns = Turns::default();
    pacer.acquire(&turns, "a", 10.0, None).await.unwrap();
    let t0 = Instant::now();
    pacer
        .throttled("a", Some(Duration::from_millis(1500)))
        .await;
    pacer.acquire(&turns, "a", 10.0, None).await.unwrap();
    assert_eq!(Instant::now() - t0, Duration::from_millis(1500));
    // Half of the next calls throttled: the vendor allows half the rate.
    for i in 0..10 {
        pacer.acquire(&turns, "a", 10.0, None).await.unwrap();
        if i % 2 == 1 {
            pacer.throttled("a", None).await;
        }
    }
    let before = Instant::now();
    pacer.acquire(&turns, "a", 10.0, None).await.unwrap();
    let gap = Instant::now() - before;
    assert!(
        gap > Duration::from_millis(200) && gap <= Duration::from_millis(230),
        "just under half the rate: {gap:?}"
    );
}
