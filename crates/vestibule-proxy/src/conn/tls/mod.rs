//! TLS on a listener port: the servers a connection's SNI picks among
//! (built once per snapshot, with their rustls configurations), the
//! handshake, and the ClientHello read that passthrough routes by.

mod config;
mod hello;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use crate::ProxyError;
use rustls::ServerConfig;
use vestibule_ir::{HostPattern, Listener, ListenerProtocol};

pub(crate) use config::install_provider;
pub(crate) use hello::read_client_hello;

/// A listener's TLS servers, indexed by the names they answer.
pub(crate) struct TlsServers {
    servers: Vec<TlsServerRuntime>,
    exact: HashMap<String, usize>,
    /// Wildcards, the longest suffix first (the most specific wins).
    wildcards: Vec<(HostPattern, usize)>,
    default: Option<usize>,
}

pub(crate) struct TlsServerRuntime {
    pub name: String,
    pub mode: Mode,
    /// A terminating server whose decrypted connections are HTTP: every
    /// one of an HTTPS listener, those of a TLS listener that say so
    /// (`serves_http`). The others' go to the listener's stream routes.
    pub http: bool,
    /// What the request path reads of the server a connection got.
    pub session: Arc<Session>,
}

pub(crate) enum Mode {
    Passthrough,
    Terminate(Arc<ServerConfig>),
    /// Its certificates could not be loaded: connections that pick it are
    /// closed (the translator reports why in status; this is a last guard).
    Broken,
}

/// The TLS server a connection was accepted by, as the request path sees
/// it: which hosts its certificate covers.
#[derive(Debug)]
pub(crate) struct Session {
    names: Vec<HostPattern>,
    /// The answer to a host the names do not cover: 421 (Gateway API), or
    /// no route (Istio, Ingress), decided once when the snapshot is built.
    misdirected: ProxyError,
}

impl Session {
    /// Whether a request for `host` (normalized) may be served on this
    /// connection; if not, the error to answer with.
    pub(crate) fn check(&self, host: &str) -> Result<(), ProxyError> {
        if self.names.is_empty() || self.names.iter().any(|name| name.matches(host)) {
            Ok(())
        } else {
            Err(self.misdirected)
        }
    }
}

impl TlsServers {
    /// `None` for listeners that speak no TLS.
    pub(crate) fn build(listener: &Listener) -> Option<TlsServers> {
        let https = match listener.protocol {
            ListenerProtocol::Https => true,
            ListenerProtocol::Tls => false,
            ListenerProtocol::Http | ListenerProtocol::Tcp => return None,
        };
        let mut index = TlsServers {
            servers: Vec::with_capacity(listener.tls_servers.len()),
            exact: HashMap::new(),
            wildcards: Vec::new(),
            default: None,
        };
        for (position, server) in listener.tls_servers.iter().enumerate() {
            let http = https || server.serves_http;
            let mode = match &server.termination {
                None => Mode::Passthrough,
                Some(termination) => match config::server_config(termination, http) {
                    Ok(config) => Mode::Terminate(config),
                    Err(error) => {
                        tracing::error!(server = %server.name, %error, "TLS server not served");
                        Mode::Broken
                    }
                },
            };
            index.add_names(&server.server_names, position);
            index.servers.push(TlsServerRuntime {
                name: server.name.clone(),
                mode,
                http,
                session: Arc::new(Session {
                    names: server.server_names.clone(),
                    misdirected: match server.misdirected_status {
                        421 => ProxyError::Misdirected,
                        _ => ProxyError::NoRoute,
                    },
                }),
            });
        }
        index
            .wildcards
            .sort_by_key(|(pattern, _)| std::cmp::Reverse(suffix_len(pattern)));
        Some(index)
    }

    /// Earlier servers keep a name a later one repeats.
    fn add_names(&mut self, names: &[HostPattern], position: usize) {
        if names.is_empty() || names.contains(&HostPattern::Any) {
            self.default.get_or_insert(position);
        }
        for name in names {
            match name {
                HostPattern::Exact(host) => {
                    self.exact.entry(host.clone()).or_insert(position);
                }
                HostPattern::Suffix(_) | HostPattern::SingleLabel(_) => {
                    self.wildcards.push((name.clone(), position));
                }
                HostPattern::Any => {}
            }
        }
    }

    /// The server for a ClientHello's SNI: exact name, then the longest
    /// wildcard, then the default. `None`: no server takes it (Envoy's
    /// "no matching filter chain": the connection is closed).
    pub(crate) fn pick(&self, sni: Option<&str>) -> Option<&TlsServerRuntime> {
        let by_name = sni.and_then(|sni| {
            let sni = sni.trim_end_matches('.').to_ascii_lowercase();
            self.exact.get(&sni).copied().or_else(|| {
                self.wildcards
                    .iter()
                    .find(|(pattern, _)| pattern.matches(&sni))
                    .map(|(_, position)| *position)
            })
        });
        by_name
            .or(self.default)
            .map(|position| &self.servers[position])
    }
}

fn suffix_len(pattern: &HostPattern) -> usize {
    match pattern {
        HostPattern::Suffix(suffix) | HostPattern::SingleLabel(suffix) => suffix.len(),
        HostPattern::Exact(_) | HostPattern::Any => 0,
    }
}
