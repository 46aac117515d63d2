//! The simulator's HTTP/1.1 server: one accept loop, one task per connection, and the one thing
//! a framework would not give us: closing a connection without answering (the `drop` fault).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::SimState;

/// A received request with its whole body.
#[derive(Debug)]
pub struct HttpRequest {
    pub method: http::Method,
    pub path: String,
    /// The raw query string (after `?`), as sent.
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl HttpRequest {
    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header, as text.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// What to do with a request.
pub enum Reply {
    Response(Box<http::Response<Full<Bytes>>>),
    /// Close the connection without a response.
    Drop,
}

impl Reply {
    /// A response with a body and content type.
    pub fn with_body(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
        let response = http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(body.into()))
            .expect("static parts are valid");
        Reply::Response(Box::new(response))
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::with_body(status, "application/json", value.to_string())
    }
}

/// A request body over the limit.
#[derive(Debug)]
pub struct TooLarge;

/// Reads a body of at most `limit` bytes: a declared `Content-Length` over the limit is refused
/// before a byte of the body is read, and a chunked body as soon as it passes the limit, so a
/// caller (authenticated or not) cannot make the simulator hold more than `limit` per request.
async fn read_body(
    body: hyper::body::Incoming,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<Bytes, TooLarge> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(TooLarge),
        // A body cut short by the client: the request is answered as if it had none.
        Err(_) => Ok(Bytes::new()),
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "simulator accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let (drop_tx, mut drop_rx) = mpsc::channel::<()>(1);
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let state = state.clone();
                let drop_tx = drop_tx.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let mut request = HttpRequest {
                        method: parts.method,
                        path: parts.uri.path().to_string(),
                        query: parts.uri.query().unwrap_or("").to_string(),
                        headers: parts.headers,
                        body: Bytes::new(),
                    };
                    let limit = state.max_body_bytes(&request.path);
                    let reply = match read_body(body, &request.headers, limit).await {
                        Ok(body) => {
                            request.body = body;
                            super::route(&state, request).await
                        }
                        Err(TooLarge) => super::too_large(&state, &request),
                    };
                    match reply {
                        Reply::Response(response) => Ok::<_, Infallible>(*response),
                        Reply::Drop => {
                            let _ = drop_tx.send(()).await;
                            std::future::pending().await
                        }
                    }
                }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                Some(()) = drop_rx.recv() => {}
            }
        });
    }
}
