//! Protocol upgrades (WebSocket): Istio enables them on every HTTP listener.
//! The request goes upstream as an HTTP/1.1 `Upgrade` request; on
//! `101 Switching Protocols` the two sides are spliced and bytes copied
//! both ways until either closes. The client side is an HTTP/1.1
//! connection that switched protocols, or an HTTP/2 stream opened with
//! extended CONNECT (RFC 8441), which gets `200` and carries the bytes as
//! DATA frames.

use std::sync::Arc;

use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt as _;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt as _;

use crate::body::{RequestBody, ResponseBody, TunnelBody};
use crate::conn::ConnectionHold;
use crate::upstream::{UpgradedStream, UpgradedUpstream};

static UPGRADE_TOKEN: HeaderValue = HeaderValue::from_static("upgrade");
static WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");
static SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
static SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");

/// A request that asks to switch protocols, and its client side.
pub(crate) struct Requested {
    protocol: HeaderValue,
    downstream: Downstream,
}

enum Downstream {
    /// The HTTP/1.1 connection, once hyper has sent the 101; and what
    /// keeps it counted under the connection limits while it tunnels.
    Http1 {
        upgrade: OnUpgrade,
        hold: Option<Arc<ConnectionHold>>,
    },
    /// The HTTP/2 stream's request body: the client's bytes.
    Http2(RequestBody),
}

/// Takes the upgrade parts from a request the screen phase found asking
/// for WebSocket (it refused or dropped every other upgrade).
pub(crate) fn take(request: &mut Request<RequestBody>) -> Requested {
    if request.method() == Method::CONNECT {
        let body = std::mem::replace(request.body_mut(), RequestBody::Empty);
        return Requested {
            protocol: WEBSOCKET.clone(),
            downstream: Downstream::Http2(body),
        };
    }
    let protocol = request
        .headers()
        .get(header::UPGRADE)
        .cloned()
        .unwrap_or_else(|| WEBSOCKET.clone());
    Requested {
        protocol,
        downstream: Downstream::Http1 {
            hold: request.extensions_mut().remove::<Arc<ConnectionHold>>(),
            upgrade: hyper::upgrade::on(request),
        },
    }
}

impl Requested {
    /// Makes the request an HTTP/1.1 upgrade request: puts back the headers
    /// hop-by-hop stripping removed; for extended CONNECT, also the method
    /// and the key HTTP/2 has no use for (RFC 8441 §5).
    pub(crate) fn prepare_request<B>(&self, request: &mut Request<B>) {
        if matches!(self.downstream, Downstream::Http2(_)) {
            *request.method_mut() = Method::GET;
            *request.version_mut() = Version::HTTP_11;
            let key =
                base64::engine::general_purpose::STANDARD.encode(fastrand::u128(..).to_le_bytes());
            if let Ok(key) = HeaderValue::from_str(&key) {
                request.headers_mut().insert(SEC_WEBSOCKET_KEY.clone(), key);
            }
        }
        let headers = request.headers_mut();
        headers.insert(header::CONNECTION, UPGRADE_TOKEN.clone());
        headers.insert(header::UPGRADE, self.protocol.clone());
    }

    /// On a 101 from upstream: splices the two sides together in the
    /// background. The client's response is the 101 with its upgrade
    /// headers restored (HTTP/1.1), or a 200 whose body is the upstream's
    /// bytes (HTTP/2), returned to replace the upstream's body.
    pub(crate) fn complete<B>(self, response: &mut Response<B>) -> Option<ResponseBody> {
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return None;
        }
        let upstream_protocol = response.headers().get(header::UPGRADE).cloned();
        let upstream = response
            .extensions_mut()
            .remove::<UpgradedUpstream>()
            .and_then(|slot| slot.0.lock().ok()?.take());
        let Some(upstream) = upstream else {
            tracing::debug!("101 without an upstream connection to hand over");
            return None;
        };
        match self.downstream {
            Downstream::Http1 { upgrade, hold } => {
                let headers = response.headers_mut();
                headers.insert(header::CONNECTION, UPGRADE_TOKEN.clone());
                headers.insert(header::UPGRADE, upstream_protocol.unwrap_or(self.protocol));
                let (handoff, account) = tokio::sync::oneshot::channel();
                response
                    .extensions_mut()
                    .insert(TunnelHandoff(Arc::new(std::sync::Mutex::new(Some(
                        handoff,
                    )))));
                tokio::spawn(splice_http1(upgrade, hold, upstream, account));
                None
            }
            Downstream::Http2(body) => {
                *response.status_mut() = StatusCode::OK;
                let headers = response.headers_mut();
                for name in [
                    header::CONNECTION,
                    header::UPGRADE,
                    SEC_WEBSOCKET_ACCEPT.clone(),
                ] {
                    headers.remove(name);
                }
                let (read, write) = tokio::io::split(upstream);
                tokio::spawn(send_client_bytes(body, write));
                Some(ResponseBody::Tunnel(Box::new(TunnelBody::new(read))))
            }
        }
    }
}

/// Splices the client's upgraded connection to the upstream's, then
/// finishes the 101's account with the bytes each way.
async fn splice_http1(
    upgrade: OnUpgrade,
    hold: Option<Arc<ConnectionHold>>,
    mut upstream: UpgradedStream,
    account: tokio::sync::oneshot::Receiver<TunnelFinish>,
) {
    let _hold = hold;
    let moved = match upgrade.await {
        Ok(downstream) => {
            let mut downstream = TokioIo::new(downstream);
            match tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
                Ok(moved) => moved,
                Err(error) => {
                    tracing::debug!(%error, "upgraded connection closed with error");
                    (0, 0)
                }
            }
        }
        Err(error) => {
            tracing::debug!(%error, "upgrade failed");
            (0, 0)
        }
    };
    // The 101's account arrives once its head is written.
    if let Ok(finish) = account.await {
        finish(moved.0, moved.1);
    }
}

/// Where a 101's account goes: the tunnel it opened finishes it, when it
/// closes (Envoy logs an upgraded request once, at the tunnel's end, with
/// the bytes that crossed it). In the response's extensions until the
/// response is wrapped for its account (which sends its finish here: the
/// tunnel knows nothing of telemetry).
#[derive(Clone)]
pub(crate) struct TunnelHandoff(
    pub(crate) Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<TunnelFinish>>>>,
);

/// Finishes a tunnel's request with the bytes it carried (from the
/// client, to the client).
pub(crate) type TunnelFinish = Box<dyn FnOnce(u64, u64) + Send>;

/// Copies the HTTP/2 client's DATA to the upstream; half-closes the
/// upstream when the client ends its stream.
async fn send_client_bytes(
    mut body: RequestBody,
    mut upstream: tokio::io::WriteHalf<UpgradedStream>,
) {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            break;
        };
        if let Ok(data) = frame.into_data() {
            if upstream.write_all(&data).await.is_err() {
                return;
            }
        }
    }
    let _ = upstream.shutdown().await;
}
