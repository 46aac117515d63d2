//! The call limit and the drain as a tower layer in front of every gRPC service: a call to one
//! of the limited methods is admitted (or refused) from its path alone, before its request is
//! decoded, and holds its call slot until its response body has ended or been dropped. Other
//! paths (health, reflection) pass untouched, so they answer however full or draining the
//! gateway is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use super::admission::{Admission, Permit};
use super::stream::Rpc;

/// One method the limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub service: &'static str,
    pub method: &'static str,
}

/// Applies [`Admission::call`] to the calls of `methods`.
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    admission: Arc<Admission>,
    methods: &'static [Method],
}

impl AdmissionLayer {
    pub fn new(admission: Arc<Admission>, methods: &'static [Method]) -> AdmissionLayer {
        AdmissionLayer { admission, methods }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admitted<S>;

    fn layer(&self, inner: S) -> Admitted<S> {
        Admitted {
            inner,
            admission: self.admission.clone(),
            methods: self.methods,
        }
    }
}

/// The service behind an [`AdmissionLayer`].
#[derive(Debug, Clone)]
pub struct Admitted<S> {
    inner: S,
    admission: Arc<Admission>,
    methods: &'static [Method],
}

impl<S> Admitted<S> {
    /// The limited method a request path (`/service/method`) names, if any.
    fn limited(&self, path: &str) -> Option<Method> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        self.methods
            .iter()
            .find(|m| m.service == service && m.method == method)
            .copied()
    }
}

type Response = http::Response<AdmittedBody<tonic::body::Body>>;

impl<S, B> Service<http::Request<B>> for Admitted<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let permit = match self.limited(request.uri().path()) {
            None => None,
            Some(method) => match self.admission.call() {
                Ok(permit) => Some(permit),
                Err(status) => {
                    let rpc = Rpc::start(
                        method.service,
                        method.method,
                        &tonic::metadata::MetadataMap::from_headers(request.headers().clone()),
                    );
                    let refusal =
                        rpc.refused(status)
                            .into_http::<tonic::body::Body>()
                            .map(|body| AdmittedBody {
                                body,
                                _permit: None,
                            });
                    return Box::pin(std::future::ready(Ok(refusal)));
                }
            },
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| AdmittedBody {
                body,
                _permit: permit,
            }))
        })
    }
}

/// A response body that holds its call's slot: the slot comes back when the body is dropped,
/// which is when the stream has ended or the caller has gone away.
#[derive(Debug)]
pub struct AdmittedBody<B> {
    body: B,
    /// Held, never read: the call's slot (none for a call the limit does not apply to).
    _permit: Option<Permit>,
}

impl<B: Body + Unpin> Body for AdmittedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt;

    use super::*;
    use crate::config::Limits;

    const STOP: Method = Method {
        service: "test.Service",
        method: "Stop",
    };

    /// Answers every request with a one-frame body, as a gRPC service would.
    #[derive(Clone)]
    struct Answer;

    impl Service<http::Request<()>> for Answer {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let body = http_body_util::Full::new(bytes::Bytes::from_static(b"frame"));
            std::future::ready(Ok(http::Response::new(tonic::body::Body::new(body))))
        }
    }

    fn admitted(rpcs: usize) -> (Arc<Admission>, Admitted<Answer>) {
        let admission = Admission::new(&Limits {
            max_concurrent_rpcs: rpcs,
            ..Limits::default()
        });
        let layer = AdmissionLayer::new(admission.clone(), &[STOP]);
        (admission, layer.layer(Answer))
    }

    async fn send(service: &mut Admitted<Answer>, path: &str) -> Response {
        let request = http::Request::builder().uri(path).body(()).unwrap();
        service.call(request).await.unwrap()
    }

    fn status_of(response: &Response) -> Option<tonic::Status> {
        tonic::Status::from_header_map(response.headers())
    }

    #[tokio::test]
    async fn a_call_holds_its_slot_until_its_body_is_dropped() {
        let (admission, mut service) = admitted(1);
        let first = send(&mut service, "/test.Service/Stop").await;
        assert!(status_of(&first).is_none(), "the first call is admitted");
        assert_eq!(admission.calls_in_flight(), 1);

        let refused = status_of(&send(&mut service, "/test.Service/Stop").await)
            .expect("a refusal carries its status in the headers");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("max_concurrent_rpcs"));
        assert!(refused.get_details_retry_info().is_some());

        drop(first);
        assert_eq!(admission.calls_in_flight(), 0);
        assert!(status_of(&send(&mut service, "/test.Service/Stop").await).is_none());
    }

    #[tokio::test]
    async fn other_paths_pass_however_full_or_draining() {
        let (admission, mut service) = admitted(1);
        let _held = send(&mut service, "/test.Service/Stop").await;
        admission.drain();
        for path in [
            "/grpc.health.v1.Health/Check",
            "/test.Service/Other",
            "/test.Service",
        ] {
            let response = send(&mut service, path).await;
            assert!(status_of(&response).is_none(), "{path} passes");
        }
        assert_eq!(admission.calls_in_flight(), 1);
        let refused = status_of(&send(&mut service, "/test.Service/Stop").await).unwrap();
        assert_eq!(refused.code(), Code::Unavailable);
        assert!(refused.message().contains("shutting down"));
    }
}
