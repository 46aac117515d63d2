//! The in-process journal, the default: operations live as long as the process, and ended ones
//! are kept for the retention window, at most `max_retained` of them and `max_retained_results`
//! results in all (the oldest forgotten first). Running operations are never forgotten; their
//! number is bounded by the admission limits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::time::Instant;

use super::journal::{End, Header, Journal, JournalError, Opened, PAGE, Page, Recorded};
use crate::config::OperationSettings;
use crate::provider::BoxFuture;

struct Entry {
    header: Header,
    messages: Vec<Bytes>,
    end: Option<(End, Instant)>,
}

#[derive(Default)]
struct Kept {
    entries: HashMap<String, Entry>,
    /// Ended operations, oldest first.
    ended: VecDeque<String>,
    /// Results held by ended operations.
    ended_results: usize,
}

/// The journal of one process.
pub struct MemoryJournal {
    settings: OperationSettings,
    kept: Mutex<Kept>,
}

impl MemoryJournal {
    pub fn new(settings: OperationSettings) -> MemoryJournal {
        MemoryJournal {
            settings,
            kept: Mutex::new(Kept::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets ended operations past retention or beyond the limits, oldest first.
    fn evict(&self, kept: &mut Kept) {
        let now = Instant::now();
        let retention = self.settings.retention();
        while let Some(oldest) = kept.ended.front() {
            let expired = kept
                .entries
                .get(oldest)
                .and_then(|e| e.end.as_ref())
                .is_none_or(|(_, at)| now.duration_since(*at) >= retention);
            let over = kept.ended.len() > self.settings.max_retained
                || kept.ended_results > self.settings.max_retained_results;
            if !(expired || over) {
                break;
            }
            let id = kept.ended.pop_front().expect("checked");
            if let Some(entry) = kept.entries.remove(&id) {
                kept.ended_results -= entry.messages.len();
            }
        }
    }

    /// Keeps `header`'s operation afresh with `messages` already recorded (this replica's copy
    /// of an operation kept in the shared journal, or one it takes over).
    pub fn restart(&self, header: &Header, messages: Vec<Bytes>) {
        let mut kept = self.lock();
        if let Some(old) = kept.entries.remove(&header.id)
            && old.end.is_some()
        {
            kept.ended.retain(|id| *id != header.id);
            kept.ended_results -= old.messages.len();
        }
        kept.entries.insert(
            header.id.clone(),
            Entry {
                header: header.clone(),
                messages,
                end: None,
            },
        );
    }

    /// How many operations are kept (for tests of the bounds).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Journal for MemoryJournal {
    fn open<'a>(
        &'a self,
        header: &'a Header,
        _request: Bytes,
    ) -> BoxFuture<'a, Result<Opened, JournalError>> {
        Box::pin(async move {
            let mut kept = self.lock();
            self.evict(&mut kept);
            if let Some(entry) = kept.entries.get(&header.id) {
                return Ok(Opened::Existing {
                    header: entry.header.clone(),
                    recorded: entry.messages.len(),
                    finished: entry.end.is_some(),
                });
            }
            kept.entries.insert(
                header.id.clone(),
                Entry {
                    header: header.clone(),
                    messages: Vec::new(),
                    end: None,
                },
            );
            Ok(Opened::Created)
        })
    }

    fn append<'a>(
        &'a self,
        id: &'a str,
        results: Vec<Recorded>,
        unique: Option<u32>,
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let mut kept = self.lock();
            let entry = kept
                .entries
                .get_mut(id)
                .ok_or_else(|| JournalError(format!("operation {id} is no longer kept")))?;
            entry
                .messages
                .extend(results.into_iter().map(|r| r.message));
            if let Some(unique) = unique {
                entry.header.unique = unique;
            }
            Ok(())
        })
    }

    fn end<'a>(&'a self, id: &'a str, end: End) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let mut kept = self.lock();
            let Some(entry) = kept.entries.get_mut(id) else {
                return Err(JournalError(format!("operation {id} is no longer kept")));
            };
            if entry.end.is_some() {
                return Ok(());
            }
            entry.end = Some((end, Instant::now()));
            let results = entry.messages.len();
            kept.ended.push_back(id.to_string());
            kept.ended_results += results;
            self.evict(&mut kept);
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        id: &'a str,
        from: usize,
    ) -> BoxFuture<'a, Result<Option<Page>, JournalError>> {
        Box::pin(async move {
            let mut kept = self.lock();
            self.evict(&mut kept);
            let Some(entry) = kept.entries.get(id) else {
                return Ok(None);
            };
            let to = entry.messages.len().min(from.saturating_add(PAGE));
            let messages = entry.messages.get(from..to).unwrap_or_default().to_vec();
            let end = (to == entry.messages.len())
                .then(|| entry.end.as_ref().map(|(end, _)| end.clone()))
                .flatten();
            Ok(Some(Page { messages, end }))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn results(n: usize, text: &'static str) -> Vec<Recorded> {
        (0..n)
            .map(|i| Recorded {
                instance_id: format!("i-{i}"),
                outcome: "STOPPED",
                message: Bytes::from_static(text.as_bytes()),
            })
            .collect()
    }

    fn header(id: &str) -> Header {
        Header {
            id: id.to_string(),
            method: "StopInstances".to_string(),
            fingerprint: "f".to_string(),
            caller: "anonymous".to_string(),
            requested: 1,
            unique: 1,
            accepted_at: SystemTime::now(),
        }
    }

    fn settings(retention_seconds: u64, max_retained: usize, results: usize) -> OperationSettings {
        OperationSettings {
            retention_seconds,
            max_retained,
            max_retained_results: results,
            ..OperationSettings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_operation_is_forgotten_after_retention() {
        let journal = MemoryJournal::new(settings(60, 10, 100));
        let h = header("op-1");
        assert_eq!(
            journal.open(&h, Bytes::new()).await.unwrap(),
            Opened::Created
        );
        journal
            .append("op-1", results(1, "r1"), None)
            .await
            .unwrap();
        journal
            .end("op-1", End::Summary(Bytes::from_static(b"s")))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        let page = journal.read("op-1", 0).await.unwrap().unwrap();
        assert_eq!(page.messages, vec![Bytes::from_static(b"r1")]);
        assert_eq!(page.end, Some(End::Summary(Bytes::from_static(b"s"))));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(journal.read("op-1", 0).await.unwrap().is_none());
        assert_eq!(
            journal.open(&h, Bytes::new()).await.unwrap(),
            Opened::Created
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_operation_is_kept_past_every_limit() {
        let journal = MemoryJournal::new(settings(1, 1, 1));
        journal
            .open(&header("running"), Bytes::new())
            .await
            .unwrap();
        journal
            .append("running", results(5, "a"), None)
            .await
            .unwrap();
        for n in 0..3 {
            let id = format!("ended-{n}");
            journal.open(&header(&id), Bytes::new()).await.unwrap();
            journal.end(&id, End::Summary(Bytes::new())).await.unwrap();
        }
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            journal
                .read("running", 0)
                .await
                .unwrap()
                .unwrap()
                .messages
                .len(),
            5
        );
        assert!(journal.read("ended-2", 0).await.unwrap().is_none());
        assert_eq!(journal.len(), 1);
    }

    #[tokio::test]
    async fn the_oldest_ended_operations_go_first_when_over_the_limits() {
        let journal = MemoryJournal::new(settings(3600, 2, 1_000));
        for n in 0..3 {
            let id = format!("op-{n}");
            journal.open(&header(&id), Bytes::new()).await.unwrap();
            journal.end(&id, End::Summary(Bytes::new())).await.unwrap();
        }
        assert!(journal.read("op-0", 0).await.unwrap().is_none());
        assert!(journal.read("op-1", 0).await.unwrap().is_some());
        assert!(journal.read("op-2", 0).await.unwrap().is_some());

        let journal = MemoryJournal::new(settings(3600, 100, 4));
        for n in 0..3 {
            let id = format!("op-{n}");
            journal.open(&header(&id), Bytes::new()).await.unwrap();
            journal.append(&id, results(2, "r"), None).await.unwrap();
            journal.end(&id, End::Summary(Bytes::new())).await.unwrap();
        }
        assert!(journal.read("op-0", 0).await.unwrap().is_none());
        assert!(journal.read("op-2", 0).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn reads_come_in_pages_and_the_end_only_with_the_last() {
        let journal = MemoryJournal::new(settings(3600, 10, 1_000_000));
        journal.open(&header("big"), Bytes::new()).await.unwrap();
        journal
            .append("big", results(PAGE + 5, "m"), Some(1005))
            .await
            .unwrap();
        journal
            .end("big", End::Summary(Bytes::new()))
            .await
            .unwrap();
        let first = journal.read("big", 0).await.unwrap().unwrap();
        assert_eq!(first.messages.len(), PAGE);
        assert!(first.end.is_none());
        let rest = journal.read("big", PAGE).await.unwrap().unwrap();
        assert_eq!(rest.messages.len(), 5);
        assert!(rest.end.is_some());
    }
}
