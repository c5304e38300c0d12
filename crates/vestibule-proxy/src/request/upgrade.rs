//! Protocol upgrades (WebSocket): Istio enables them on every HTTP listener.
//! The `Upgrade` request goes upstream with its hop-by-hop headers put back;
//! on `101 Switching Protocols` both connections are handed over and bytes
//! are copied both ways until either side closes.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use std::sync::Arc;

use crate::server::h1::ConnectionHold;
use crate::upstream::UpgradedUpstream;

static UPGRADE_TOKEN: HeaderValue = HeaderValue::from_static("upgrade");

/// The `Upgrade` header of an HTTP/1.1 request that asks to switch
/// protocols, and the handle to its connection once switched.
pub(crate) struct Requested {
    protocol: HeaderValue,
    downstream: OnUpgrade,
    /// Keeps the connection counted under the limits while it tunnels.
    hold: Option<Arc<ConnectionHold>>,
}

/// Takes the upgrade parts from a request the screen phase found asking
/// for WebSocket (it refused or dropped every other upgrade).
pub(crate) fn take<B>(request: &mut Request<B>) -> Requested {
    let protocol = request
        .headers()
        .get(header::UPGRADE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("websocket"));
    Requested {
        protocol,
        hold: request.extensions_mut().remove::<Arc<ConnectionHold>>(),
        downstream: hyper::upgrade::on(request),
    }
}

impl Requested {
    /// Puts back the headers hop-by-hop stripping removed.
    pub(crate) fn restore_request_headers(&self, headers: &mut http::HeaderMap) {
        headers.insert(header::CONNECTION, UPGRADE_TOKEN.clone());
        headers.insert(header::UPGRADE, self.protocol.clone());
    }

    /// On a 101 from upstream: restores the response's upgrade headers and
    /// splices the two connections together in the background.
    pub(crate) fn complete<B>(self, response: &mut Response<B>) {
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        let upstream_protocol = response.headers().get(header::UPGRADE).cloned();
        let upstream = response
            .extensions_mut()
            .remove::<UpgradedUpstream>()
            .and_then(|slot| slot.0.lock().ok()?.take());
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, UPGRADE_TOKEN.clone());
        headers.insert(
            header::UPGRADE,
            upstream_protocol.unwrap_or_else(|| self.protocol.clone()),
        );
        let (downstream, hold) = (self.downstream, self.hold);
        let Some(mut upstream) = upstream else {
            tracing::debug!("101 without an upstream connection to hand over");
            return;
        };
        tokio::spawn(async move {
            let _hold = hold;
            let downstream = match downstream.await {
                Ok(downstream) => downstream,
                Err(error) => {
                    tracing::debug!(%error, "upgrade failed");
                    return;
                }
            };
            let mut downstream = TokioIo::new(downstream);
            if let Err(error) = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await
            {
                tracing::debug!(%error, "upgraded connection closed with error");
            }
        });
    }
}
