//! The request to explain, read from curl-like arguments: what curl would
//! put on the wire (method, `Host`, target, headers) and the listener port
//! it would reach.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde::Serialize;

use crate::cli::ExplainArgs;

/// A request as the gateway would receive it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// `http` or `https`: whether the connection is TLS.
    pub scheme: String,
    /// The URL's host: curl's SNI on https (unless it is an IP address).
    pub url_host: String,
    /// `Host` as sent: the header if one was given, else the URL's
    /// authority (with its port when it is not the scheme's default).
    pub authority: String,
    /// The configured listener port the connection reaches.
    pub port: u16,
    /// How `port` was found, for the report.
    pub port_origin: String,
    /// The request target as sent: path and query.
    pub target: String,
    pub headers: HeaderMap,
}

impl Request {
    pub fn from_args(args: &ExplainArgs) -> Result<Request, String> {
        let url = if args.url.contains("://") {
            args.url.clone()
        } else {
            // curl's default scheme.
            format!("http://{}", args.url)
        };
        let uri: Uri = url
            .parse()
            .map_err(|error| format!("invalid URL {:?}: {error}", args.url))?;
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            other => return Err(format!("unsupported scheme {other:?}: use http or https")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("URL {:?} has no host", args.url))?;
        let url_port = authority.port_u16();
        let url_host = authority.host().to_owned();
        let mut headers = HeaderMap::new();
        for header in &args.headers {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("header {header:?} is not `Name: value`"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("invalid header name in {header:?}"))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| format!("invalid header value in {header:?}"))?;
            headers.append(name, value);
        }
        let host = match headers.get(http::header::HOST) {
            Some(value) => value
                .to_str()
                .map_err(|_| "the Host header is not text".to_owned())?
                .to_owned(),
            None => match url_port {
                Some(port) if port != default_port => format!("{url_host}:{port}"),
                _ => url_host.clone(),
            },
        };
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&host).map_err(|_| format!("invalid host {host:?}"))?,
        );
        let method = match (&args.method, &args.data) {
            (Some(method), _) => Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("invalid method {method:?}"))?,
            (None, Some(_)) => Method::POST,
            (None, None) => Method::GET,
        };
        let (port, port_origin) = listener_port(args, url_port, default_port);
        let target = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
        let target = if target.is_empty() {
            "/".to_owned()
        } else {
            target
        };
        Ok(Request {
            method,
            scheme,
            url_host,
            authority: host,
            port,
            port_origin,
            target,
            headers,
        })
    }

    pub fn tls(&self) -> bool {
        self.scheme == "https"
    }

    /// The name curl sends as SNI: the URL's host, unless it is an address.
    pub fn sni(&self) -> Option<&str> {
        let host = self.url_host.trim_start_matches('[').trim_end_matches(']');
        (host.parse::<std::net::IpAddr>().is_err()).then_some(host)
    }

    pub fn summary(&self) -> RequestSummary {
        RequestSummary {
            method: self.method.to_string(),
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            target: self.target.clone(),
            port: self.port,
            port_origin: self.port_origin.clone(),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| {
                    format!("{name}: {}", String::from_utf8_lossy(value.as_bytes()))
                })
                .collect(),
        }
    }
}

/// `--port`; else the URL's port, read through `--port-map` when it is a
/// local port one maps to; else the scheme's default.
fn listener_port(args: &ExplainArgs, url_port: Option<u16>, default_port: u16) -> (u16, String) {
    if let Some(port) = args.port {
        return (port, "--port".to_owned());
    }
    let Some(port) = url_port else {
        return (default_port, "the scheme's default port".to_owned());
    };
    match args.port_map.iter().find(|(_, local)| *local == port) {
        Some((listener, _)) => (
            *listener,
            format!("the URL's port {port}, mapped by --port-map {listener}={port}"),
        ),
        None => (port, "the URL's port".to_owned()),
    }
}

/// The request, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSummary {
    pub method: String,
    pub scheme: String,
    pub authority: String,
    pub target: String,
    pub port: u16,
    pub port_origin: String,
    pub headers: Vec<String>,
}
