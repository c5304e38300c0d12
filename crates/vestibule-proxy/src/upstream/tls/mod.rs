//! TLS origination: the gateway as a TLS client of its backends. Each
//! cluster with `tls` gets one [`Origination`] when the registry syncs it
//! (the rustls `ClientConfig` and its session cache are shared by every
//! connection to its endpoints, so a new connection resumes a session
//! rather than doing a full handshake); connecting wraps the TCP stream.

mod config;
mod failure;
mod roots;
#[cfg(test)]
mod tests;
mod verify;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use vestibule_ir::UpstreamTls;

pub use failure::TlsFailure;

/// How connections to one cluster's endpoints speak TLS.
pub(crate) struct Origination {
    /// The connector and the name sent as SNI (when it is) and checked in
    /// the certificate. `Err`: the configuration could not be built (a last
    /// guard: the translator checks certificates); every connection fails.
    client: Result<(TlsConnector, ServerName<'static>), String>,
}

impl std::fmt::Debug for Origination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.client.as_ref().map(|(_, name)| name);
        f.debug_struct("Origination")
            .field("server_name", &name)
            .finish_non_exhaustive()
    }
}

impl Origination {
    /// Builds the client configuration for a backend at `host`.
    pub(crate) fn new(tls: &UpstreamTls, host: &str) -> Origination {
        let name = tls.sni.as_deref().unwrap_or(host).trim_end_matches('.');
        let client = ServerName::try_from(name.to_owned())
            .map_err(|error| format!("server name {name:?}: {error}"))
            .and_then(|server_name| {
                Ok((TlsConnector::from(config::client_config(tls)?), server_name))
            })
            .inspect_err(|error| tracing::error!(%host, %error, "upstream TLS not usable"));
        Origination { client }
    }

    /// The TLS handshake over a connected `stream`.
    pub(crate) async fn connect(
        &self,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>, TlsFailure> {
        let (connector, server_name) = self
            .client
            .as_ref()
            .map_err(|_| TlsFailure::NoConfiguration)?;
        connector
            .connect(server_name.clone(), stream)
            .await
            .map_err(|error| TlsFailure::of(&error))
    }
}
