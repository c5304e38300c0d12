//! The response body vestibule sends downstream: either the upstream's body
//! (which hands its connection back to the pool once read to the end) or a
//! locally generated one. An enum, not a box, so no allocation per response.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;

use crate::request_body::RequestBody;

use crate::clusters::{ActiveRequest, EndpointState};

pub enum ResponseBody {
    Upstream(UpstreamBody),
    Local(Full<Bytes>),
}

impl ResponseBody {
    pub fn empty() -> ResponseBody {
        ResponseBody::Local(Full::new(Bytes::new()))
    }

    pub fn text(text: impl Into<Bytes>) -> ResponseBody {
        ResponseBody::Local(Full::new(text.into()))
    }
}

/// An upstream response body, holding the request's place in the
/// endpoint's active count and, for HTTP/1.1, the connection to return.
pub struct UpstreamBody {
    inner: Incoming,
    reuse: Option<(http1::SendRequest<RequestBody>, Arc<EndpointState>)>,
    _active: ActiveRequest,
}

impl UpstreamBody {
    pub(crate) fn new(
        inner: Incoming,
        reuse: Option<(http1::SendRequest<RequestBody>, Arc<EndpointState>)>,
        active: ActiveRequest,
    ) -> UpstreamBody {
        let mut body = UpstreamBody {
            inner,
            reuse,
            _active: active,
        };
        if body.inner.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some((sender, endpoint)) = self.reuse.take() {
            endpoint.pool.put_back(sender);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ResponseBody::Upstream(body) => {
                let polled = Pin::new(&mut body.inner).poll_frame(cx);
                if let Poll::Ready(None) = polled {
                    body.release();
                } else if body.inner.is_end_stream() {
                    body.release();
                }
                polled
            }
            ResponseBody::Local(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Upstream(body) => body.inner.is_end_stream(),
            ResponseBody::Local(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Upstream(body) => body.inner.size_hint(),
            ResponseBody::Local(body) => body.size_hint(),
        }
    }
}
