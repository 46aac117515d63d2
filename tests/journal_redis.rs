//! The operation journal in a real Redis (started on a free loopback port), driven as two
//! replicas would drive it: ownership is exclusive, a lost lease stops every write, an end is
//! recorded once however often it is retried, a Redis restarted empty is told apart from
//! another owner, and an earlier operation's leftovers are never inherited.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::cluster::Redis;
use stopgate::config::{ClusterSettings, OperationSettings, Secret};
use stopgate::operations::journal::{End, GONE, Header, Journal, LOST, Opened, Recorded, Shared};
use stopgate::operations::redis::RedisJournal;
use stopgate::pacing::redis::RedisStore;

/// One replica's view of the journal, with a 2 s lease.
async fn replica(redis: &Redis) -> RedisJournal {
    let settings = ClusterSettings {
        redis_url: Some(Secret::new(redis.url())),
        ..ClusterSettings::default()
    };
    let counter = stopgate::telemetry::metrics().pacing_fallbacks.clone();
    let store: Arc<RedisStore> = RedisStore::new(&settings, counter).unwrap();
    assert!(store.connect().await, "Redis answers");
    RedisJournal::new(
        store,
        OperationSettings {
            lease_seconds: 2,
            ..OperationSettings::default()
        },
    )
}

fn header(id: &str) -> Header {
    Header {
        id: id.to_string(),
        method: "StopInstances".into(),
        fingerprint: "f".into(),
        caller: "anonymous".into(),
        requested: 2,
        unique: 2,
        accepted_at: SystemTime::now(),
    }
}

fn result(instance: &str) -> Vec<Recorded> {
    vec![Recorded {
        instance_id: instance.into(),
        outcome: "STOP_ACCEPTED",
        message: Bytes::from(format!("result of {instance}")),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_exclusive_and_the_replica_that_lost_it_can_write_nothing() {
    let redis = Redis::start().await;
    let (a, b) = (replica(&redis).await, replica(&redis).await);
    let id = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        a.open(&header(&id), Bytes::new()).await.unwrap(),
        Opened::Created
    );
    a.append(&id, result("i-1"), None).await.unwrap();
    assert!(
        b.take_over(&id).await.unwrap().is_none(),
        "the lease is live"
    );
    // Once the lease expires without a renewal, the other replica takes it over.
    let resume = loop {
        if let Some(resume) = b.take_over(&id).await.unwrap() {
            break resume;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(resume.decided.len(), 1);
    assert!(resume.decided.contains("i-1"));
    for refused in [
        a.append(&id, result("i-2"), None).await,
        a.sent(&id, &["i-2".to_string()], "", None).await,
        a.called(&id, "rid-a").await,
        a.end(&id, End::Summary(Bytes::new())).await,
    ] {
        assert_eq!(refused.unwrap_err().0, LOST);
    }
    assert!(!a.renew(&id).await.unwrap(), "the old owner learns it lost");
    b.append(&id, result("i-2"), None).await.unwrap();
    // The second append of an instance is dropped: each result once.
    b.append(&id, result("i-2"), None).await.unwrap();
    b.end(&id, End::Summary(Bytes::from_static(b"s")))
        .await
        .unwrap();
    b.end(&id, End::Summary(Bytes::from_static(b"s")))
        .await
        .unwrap();
    let page = b.read(&id, 0).await.unwrap().unwrap();
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.end, Some(End::Summary(Bytes::from_static(b"s"))));
    assert_eq!(b.totals(&id).await.unwrap().outcomes["STOP_ACCEPTED"], 2);
    assert!(!b.unfinished().await.unwrap().contains(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_empty_is_gone_not_another_owner() {
    let redis = Redis::start().await;
    let a = replica(&redis).await;
    let id = uuid::Uuid::new_v4().to_string();
    a.open(&header(&id), Bytes::new()).await.unwrap();
    let _: String = redis.query(&mut redis::cmd("FLUSHALL")).await;
    assert_eq!(
        a.append(&id, result("i-1"), None).await.unwrap_err().0,
        GONE
    );
    assert!(
        a.renew(&id).await.unwrap(),
        "nobody else can own what Redis lost"
    );
    assert!(a.take_over(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_operation_inherits_nothing_from_an_old_one_under_the_same_id() {
    let redis = Redis::start().await;
    let a = replica(&redis).await;
    let id = uuid::Uuid::new_v4().to_string();
    // What an earlier operation left when its meta expired first.
    let tag = format!("{{op:{id}}}");
    let _: i64 = redis
        .query(
            redis::cmd("RPUSH")
                .arg(format!("stopgate:op:{tag}:results"))
                .arg("stale"),
        )
        .await;
    let _: i64 = redis
        .query(
            redis::cmd("HSET")
                .arg(format!("stopgate:op:{tag}:phases"))
                .arg("i-1")
                .arg("done"),
        )
        .await;
    assert_eq!(
        a.open(&header(&id), Bytes::new()).await.unwrap(),
        Opened::Created
    );
    a.append(&id, result("i-1"), None).await.unwrap();
    let page = a.read(&id, 0).await.unwrap().unwrap();
    assert_eq!(page.messages, vec![Bytes::from("result of i-1")]);
}
