//! Sends a request to a cluster: pick an endpoint, get a connection, send;
//! retry on the conditions the route's policy names (Istio's default:
//! connect failure and refused stream, twice), each time preferring an
//! endpoint not yet tried.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use vestibule_ir::RetryPolicy;

use crate::balance;
use crate::body::UpstreamBody;
use crate::clusters::{Cluster, EndpointState};
use crate::error::ProxyError;
use crate::pool::Connection;

pub(crate) async fn forward(
    cluster: &Cluster,
    mut request: Request<Incoming>,
    retry: &RetryPolicy,
    connect_timeout: Duration,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let mut tried: Vec<usize> = Vec::new();
    let mut attempt = 0u32;
    loop {
        let endpoint = {
            let endpoints = cluster.endpoints();
            balance::pick(&endpoints, &tried).ok_or(ProxyError::NoHealthyUpstream)?
        };
        tried.push(Arc::as_ptr(&endpoint) as usize);
        let retries_left = attempt < retry.attempts;
        attempt += 1;
        let active = endpoint.start_request();
        let connection = match endpoint
            .pool
            .get(&endpoint.address, endpoint.protocol, connect_timeout)
            .await
        {
            Ok(connection) => connection,
            Err(error) => {
                tracing::debug!(endpoint = %endpoint.address, %error, "upstream connect failed");
                if retries_left && retry.retry_on.connect_failure {
                    continue;
                }
                return Err(ProxyError::ConnectFailure);
            }
        };
        match send(connection, request, &endpoint).await {
            Ok(response) => {
                let (parts, (body, reuse)) = response.into_parts();
                return Ok(Response::from_parts(
                    parts,
                    UpstreamBody::new(body, reuse, active),
                ));
            }
            // Never sent: safe to send again elsewhere.
            Err(Unsent(Some(unsent), error)) => {
                tracing::debug!(endpoint = %endpoint.address, %error, "request not sent upstream");
                request = unsent;
                if retries_left && retry.retry_on.refused_stream {
                    continue;
                }
                return Err(ProxyError::UpstreamReset);
            }
            Err(Unsent(None, error)) => {
                tracing::debug!(endpoint = %endpoint.address, %error, "upstream reset");
                return Err(ProxyError::UpstreamReset);
            }
        }
    }
}

/// A failed send: the request back when it never left, and why.
struct Unsent(Option<Request<Incoming>>, hyper::Error);

type Reuse = Option<(
    hyper::client::conn::http1::SendRequest<Incoming>,
    Arc<EndpointState>,
)>;

async fn send(
    connection: Connection,
    request: Request<Incoming>,
    endpoint: &Arc<EndpointState>,
) -> Result<Response<(Incoming, Reuse)>, Unsent> {
    match connection {
        Connection::Http1(mut sender) => {
            let response = sender.try_send_request(request).await.map_err(unsent)?;
            // A switched connection belongs to the tunnel, not the pool.
            let reuse = (response.status() != http::StatusCode::SWITCHING_PROTOCOLS)
                .then(|| (sender, Arc::clone(endpoint)));
            Ok(response.map(|body| (body, reuse)))
        }
        Connection::Http2(mut sender) => {
            let response = sender.try_send_request(request).await.map_err(unsent)?;
            Ok(response.map(|body| (body, None)))
        }
    }
}

fn unsent(mut error: hyper::client::conn::TrySendError<Request<Incoming>>) -> Unsent {
    let request = error.take_message();
    Unsent(request, error.into_error())
}
