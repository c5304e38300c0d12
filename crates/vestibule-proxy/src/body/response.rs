//! The response body vestibule sends downstream: either the upstream's body
//! (which hands its connection back to the pool once read to the end) or a
//! locally generated one. An enum, not a box, so no allocation per response.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::body::BoxError;
use crate::h1::RawHead;
use crate::idle::IdleBody;
use crate::upstream::clusters::ActiveRequest;
use crate::upstream::H1ResponseBody;

pub(crate) enum ResponseBody {
    Upstream(UpstreamBody),
    Local(Full<Bytes>),
    /// What the upstream sends on a WebSocket tunnelled over an HTTP/2
    /// stream (extended CONNECT), as the stream's DATA. Boxed: rare.
    Tunnel(Box<TunnelBody>),
    /// A body that finishes its request's account when it ends or is
    /// dropped: for a server that hands the body to hyper, which does
    /// not say how the writing went. Boxed: that server is the rare one.
    Accounted(Box<crate::telemetry::Accounted>),
}

/// The upstream's half of a tunnel, read as a body that ends when the
/// upstream closes.
pub(crate) struct TunnelBody(
    tokio_util::io::ReaderStream<tokio::io::ReadHalf<crate::upstream::UpgradedStream>>,
);

impl TunnelBody {
    pub(crate) fn new(
        upstream: tokio::io::ReadHalf<crate::upstream::UpgradedStream>,
    ) -> TunnelBody {
        TunnelBody(tokio_util::io::ReaderStream::new(upstream))
    }
}

impl Body for TunnelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use futures_util::Stream as _;
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|read| read.map(|read| read.map(Frame::data).map_err(Into::into)))
    }
}

impl ResponseBody {
    pub(crate) fn empty() -> ResponseBody {
        ResponseBody::Local(Full::new(Bytes::new()))
    }

    pub(crate) fn text(text: impl Into<Bytes>) -> ResponseBody {
        ResponseBody::Local(Full::new(text.into()))
    }

    /// See [`UpstreamBody::raw_head`].
    pub(crate) fn raw_head(&self) -> Option<&RawHead> {
        match self {
            ResponseBody::Upstream(body) => body.raw_head(),
            _ => None,
        }
    }
}

/// An upstream response body, holding the request's place in the
/// endpoint's active count. An HTTP/1.1 body returns its connection to the
/// pool itself.
pub(crate) struct UpstreamBody {
    inner: Inner,
    _active: ActiveRequest,
}

/// Waits for the next frame bounded by the stream idle timeout (an
/// HTTP/1.1 body by its connection's watch).
enum Inner {
    Http1(H1ResponseBody),
    Http2(IdleBody<Incoming>),
}

impl UpstreamBody {
    pub(crate) fn http1(body: H1ResponseBody, active: ActiveRequest) -> UpstreamBody {
        UpstreamBody {
            inner: Inner::Http1(body),
            _active: active,
        }
    }

    pub(crate) fn http2(body: Incoming, active: ActiveRequest) -> UpstreamBody {
        UpstreamBody {
            inner: Inner::Http2(IdleBody::new(body)),
            _active: active,
        }
    }

    /// The response's head as an HTTP/1.1 upstream sent it, when kept so
    /// (its headers are then here, not in the response's map).
    pub(crate) fn raw_head(&self) -> Option<&RawHead> {
        match &self.inner {
            Inner::Http1(body) => body.raw_head(),
            Inner::Http2(_) => None,
        }
    }

    pub(crate) fn raw_head_mut(&mut self) -> Option<&mut RawHead> {
        match &mut self.inner {
            Inner::Http1(body) => body.raw_head_mut(),
            Inner::Http2(_) => None,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().inner {
            Inner::Http1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Inner::Http2(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Http1(body) => body.is_end_stream(),
            Inner::Http2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Http1(body) => body.size_hint(),
            Inner::Http2(body) => body.size_hint(),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::Upstream(body) => Pin::new(body).poll_frame(cx),
            ResponseBody::Local(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            ResponseBody::Tunnel(body) => Pin::new(body.as_mut()).poll_frame(cx),
            ResponseBody::Accounted(body) => Pin::new(body.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Upstream(body) => body.is_end_stream(),
            ResponseBody::Local(body) => body.is_end_stream(),
            ResponseBody::Tunnel(_) => false,
            ResponseBody::Accounted(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Upstream(body) => body.size_hint(),
            ResponseBody::Local(body) => body.size_hint(),
            ResponseBody::Tunnel(_) => SizeHint::default(),
            ResponseBody::Accounted(body) => body.size_hint(),
        }
    }
}
