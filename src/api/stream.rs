//! The streaming pattern both services share (tonic's own): the engine's work runs in a task
//! that forwards its events to the caller; when the caller goes away, the task ends and the
//! work is dropped, so no further vendor call is made. A request-level failure becomes the
//! RPC's status and ends the stream.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Runs `work`, streaming each event of `events` converted by `convert`.
pub fn spawn<E, M>(
    mut events: mpsc::Receiver<E>,
    work: impl Future<Output = ()> + Send + 'static,
    convert: fn(E) -> Result<M, Status>,
) -> ReceiverStream<Result<M, Status>>
where
    E: Send + 'static,
    M: Send + 'static,
{
    let (out_tx, out_rx) = mpsc::channel(256);
    tokio::spawn(async move {
        tokio::pin!(work);
        let mut working = true;
        loop {
            tokio::select! {
                // The work owns the only event sender; finishing drops it, which ends `events`
                // after its last message (the summary).
                () = &mut work, if working => working = false,
                event = events.recv() => match event {
                    Some(event) => {
                        let message = convert(event);
                        let failed = message.is_err();
                        if out_tx.send(message).await.is_err() || failed {
                            break;
                        }
                    }
                    None => break,
                },
                () = out_tx.closed() => break,
            }
        }
        if working {
            tracing::info!("caller went away; dropping the rest of its request");
        }
    });
    ReceiverStream::new(out_rx)
}
