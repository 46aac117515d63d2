//! The simulator's HTTP/1.1 server: one accept loop, one task per connection, and the one thing
//! a framework would not give us: closing a connection without answering (the `drop` fault).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
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
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let request = HttpRequest {
                        method: parts.method,
                        path: parts.uri.path().to_string(),
                        query: parts.uri.query().unwrap_or("").to_string(),
                        headers: parts.headers,
                        body,
                    };
                    match super::route(&state, request).await {
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
