//! The command line (DESIGN.md "Command line" is the contract).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vestibule",
    version,
    about = "An ingress gateway for Istio, Ingress and Gateway API configuration"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve traffic as the configuration says, reloading it when it changes.
    Serve(Box<ServeArgs>),
    /// Parse and translate configuration, print every problem, exit non-zero on error.
    Validate(ValidateArgs),
    /// Explain how a request, written as curl would send it, is routed: the
    /// listener, virtual host and rule (with the file and line it came
    /// from), the backends and endpoints; or why it gets a 404.
    Explain(Box<ExplainArgs>),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Files or directories of *.yaml / *.yml / *.json manifests (repeatable).
    #[arg(
        long = "config",
        value_name = "PATH",
        required_unless_present = "kubernetes",
        conflicts_with = "kubernetes"
    )]
    pub config: Vec<PathBuf>,
    /// Watch the Kubernetes API server instead of files.
    #[arg(long)]
    pub kubernetes: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Admin API address (/ready, /status, /config_dump, /metrics).
    #[arg(long, default_value = "127.0.0.1:15000", value_name = "ADDR")]
    pub admin: SocketAddr,
    /// Health and metrics only (/healthz/ready, /healthz/live,
    /// /stats/prometheus): the address probes and scrapers reach, e.g.
    /// 0.0.0.0:15021, where the admin API must not be.
    #[arg(long, value_name = "ADDR")]
    pub status: Option<SocketAddr>,
    /// Serve only this Gateway API Gateway (NAMESPACE/NAME): the pods of
    /// an automatically deployed Gateway.
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = parse_object)]
    pub gateway: Option<(String, String)>,
    /// A listener port and the local port it binds, e.g. 80=8080 (repeatable; 0 picks a free port).
    #[arg(long = "port-map", value_name = "PORT=LOCAL", value_parser = parse_port_map)]
    pub port_map: Vec<(u16, u16)>,
    /// Address the listeners bind.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    pub bind_address: IpAddr,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// The `server` header on every response.
    #[arg(long, default_value = "vestibule", value_name = "NAME")]
    pub server_name: String,
    /// Worker threads serving traffic, each with its own runtime and its own
    /// listening socket per port (SO_REUSEPORT) (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub workers: Option<usize>,
    /// On SIGTERM, how long to keep accepting connections after readiness
    /// turns false, so that load balancers and Endpoints stop sending new
    /// ones before the listeners close (Istio's minimum drain).
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// How long connections may take to finish on shutdown or listener removal.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// How long a client connection may sit idle between requests before the
    /// gateway closes it (Envoy's and Istio's default: one hour).
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// What the gateway reports of the traffic it serves (Istio's mesh
/// settings of the same names).
#[derive(Debug, Args)]
pub struct TelemetryArgs {
    /// Write an access log line per request to this file, in Istio's
    /// format (Istio's `accessLogFile`): e.g. /dev/stdout; `-` is this
    /// process's standard output. Off unless given.
    #[arg(long, value_name = "PATH")]
    pub access_log_file: Option<PathBuf>,
    /// The access log's encoding (Istio's `accessLogEncoding`).
    #[arg(long, value_enum, default_value = "text", value_name = "ENCODING")]
    pub access_log_encoding: AccessLogEncodingArg,
    /// Send spans to this OTLP/HTTP collector URL (protobuf), e.g.
    /// http://otel-collector:4318/v1/traces. Tracing is off unless given.
    #[arg(long, value_name = "URL")]
    pub tracing_otlp_endpoint: Option<String>,
    /// Percent of the requests that start a trace sampled (Istio's
    /// `randomSamplingPercentage`; an Istio Telemetry may set it).
    #[arg(long, default_value_t = 1.0, value_name = "PERCENT", value_parser = parse_percent)]
    pub tracing_sampling: f64,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => Err(format!("{text:?} is not a percentage from 0 to 100")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogEncodingArg {
    #[value(alias = "TEXT")]
    Text,
    #[value(alias = "JSON")]
    Json,
}

/// The Kubernetes mode's own settings.
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the
    /// in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The Service in front of this gateway: its addresses are written to
    /// Gateway and Ingress status (default: NAMESPACE/istio-ingressgateway).
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = parse_object)]
    pub gateway_service: Option<(String, String)>,
    /// This replica's name, the leader Lease's holder (default: the host name).
    #[arg(long, env = "POD_NAME", value_name = "NAME")]
    pub pod_name: Option<String>,
    /// Namespace of the leader Lease (default: --namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How long a leader's Lease lasts without renewal.
    #[arg(long, default_value = "15s", value_name = "DURATION", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How often the cluster is asked which kinds it serves (a CRD
    /// installed later is watched from the next time).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub discovery_interval: Duration,
    /// Gateway API automated deployment: every Gateway of our classes gets
    /// its own Deployment, Service and ServiceAccount (as Istio's do), unless
    /// its addresses name an existing Service (the manual mode).
    #[arg(long)]
    pub deploy_gateways: bool,
    /// The image of the automatically deployed gateways' pods: this one.
    #[arg(
        long,
        env = "VESTIBULE_IMAGE",
        value_name = "IMAGE",
        default_value = "vestibule"
    )]
    pub deploy_image: String,
    /// The ClusterRole (read access) the deployed pods' ServiceAccounts are
    /// bound to, by a ClusterRoleBinding of the same name that vestibule
    /// keeps listing them (the chart creates the role); none: bind them yourself.
    #[arg(long, value_name = "NAME")]
    pub deploy_reader_role: Option<String>,
}

/// Bounds on what clients, upstreams and files may make the gateway hold
/// (README "Limits"; Envoy's edge-proxy recommendations by default).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Time for a request head to arrive: from the accept for a connection's
    /// first request, from the first byte for later ones (408 if part came).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in KiB: 431 above it
    /// (414 when the request line alone is).
    #[arg(long, default_value_t = 60, value_name = "KIB")]
    pub max_request_headers_kb: usize,
    /// Most header lines in a request head: 431 above it.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_request_headers: usize,
    /// Time a request's stream may move nothing (no request body bytes, no
    /// response bytes): 408 `stream timeout` before a response, a reset
    /// after (Envoy's `stream_idle_timeout`). 0s turns it off.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    pub stream_idle_timeout: Duration,
    /// Time to open a connection to an upstream endpoint (Istio's `connectTimeout`).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Client connections open at once over all listeners; new ones past it are closed at once.
    #[arg(long, default_value_t = 50_000, value_name = "N")]
    pub max_connections: usize,
    /// Client connections open at once on one listener port (default: only --max-connections).
    #[arg(long, value_name = "N")]
    pub max_connections_per_listener: Option<usize>,
    /// HTTP/2 streams a client may have open on one connection.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 receive window per stream, in bytes.
    #[arg(long, default_value_t = 65_536, value_name = "BYTES")]
    pub http2_initial_stream_window_size: u32,
    /// HTTP/2 receive window per connection, in bytes.
    #[arg(long, default_value_t = 1_048_576, value_name = "BYTES")]
    pub http2_initial_connection_window_size: u32,
    /// Largest configuration file read, in MiB; larger files are refused with an error naming them.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    pub max_config_file_mb: u64,
}

/// Who this gateway is, for Istio `Gateway` selectors and namespaces.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// This gateway's own labels, KEY=VALUE (repeatable or comma-separated).
    #[arg(long = "labels", value_name = "KEY=VALUE", value_delimiter = ',', value_parser = parse_label, default_value = "istio=ingressgateway")]
    pub labels: Vec<(String, String)>,
    /// This gateway's own namespace.
    #[arg(long, default_value = "istio-system", value_name = "NAMESPACE")]
    pub namespace: String,
    /// GatewayClass controllerNames served (repeatable).
    #[arg(long = "controller-name", value_name = "NAME", default_values_t = default_controllers())]
    pub controller_names: Vec<String>,
    /// The `kubernetes.io/ingress.class` annotation value served (Istio's meshConfig.ingressClass).
    #[arg(long, default_value = "istio", value_name = "CLASS")]
    pub ingress_class: String,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories to check.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Largest configuration file read, in MiB.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    pub max_config_file_mb: u64,
    /// `text` (a line per problem), or `json` (for tools).
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub output: ValidateOutput,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateOutput {
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vestibule explain --config examples/httpbin -H 'Host: httpbin.example.com' http://127.0.0.1/status/200"
)]
pub struct ExplainArgs {
    /// The request's URL, as given to curl: its scheme and port pick the
    /// listener, its host is the `Host` unless a `Host` header is given.
    #[arg(value_name = "URL")]
    pub url: String,
    /// Files or directories of manifests, as `serve --config` reads them (repeatable).
    #[arg(
        long = "config",
        value_name = "PATH",
        required_unless_present = "admin"
    )]
    pub config: Vec<PathBuf>,
    /// Explain against a running gateway instead: its admin address
    /// (HOST:PORT); the configuration it serves (its files, or in
    /// Kubernetes mode the objects it translated), its identity and scope
    /// are fetched from its `/config/sources`.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "config")]
    pub admin: Option<String>,
    /// The request method (curl's -X).
    #[arg(short = 'X', long = "method", value_name = "METHOD")]
    pub method: Option<String>,
    /// A request header, `Name: value` (curl's -H; repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A request body (curl's -d): only makes the default method POST.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Option<String>,
    /// The listener port, as configured (default: the URL's port, through
    /// --port-map when it names a local port, else 80 or 443 by scheme).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// As for serve: a listener port and the local port it binds (repeatable).
    #[arg(long = "port-map", value_name = "PORT=LOCAL", value_parser = parse_port_map)]
    pub port_map: Vec<(u16, u16)>,
    /// As for serve: only this Gateway API Gateway (NAMESPACE/NAME).
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = parse_object)]
    pub gateway: Option<(String, String)>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Largest configuration file read, in MiB.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    pub max_config_file_mb: u64,
    /// `text` for people, `json` for tools.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

impl IdentityArgs {
    pub fn identity(&self) -> vestibule_translate::GatewayIdentity {
        vestibule_translate::GatewayIdentity {
            labels: self.labels.iter().cloned().collect::<BTreeMap<_, _>>(),
            namespace: self.namespace.clone(),
            controller_names: self.controller_names.clone(),
            ingress_class: self.ingress_class.clone(),
        }
    }
}

fn default_controllers() -> Vec<String> {
    vec![
        "vestibule.io/gateway-controller".to_owned(),
        "istio.io/gateway-controller".to_owned(),
    ]
}

fn parse_port_map(value: &str) -> Result<(u16, u16), String> {
    let (port, local) = value
        .split_once('=')
        .ok_or_else(|| format!("expected PORT=LOCAL, got {value:?}"))?;
    let parse = |text: &str| {
        text.trim()
            .parse::<u16>()
            .map_err(|_| format!("{text:?} is not a port number"))
    };
    Ok((parse(port)?, parse(local)?))
}

fn parse_label(value: &str) -> Result<(String, String), String> {
    let (key, label) = value
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {value:?}"))?;
    if key.is_empty() {
        return Err(format!("empty label key in {value:?}"));
    }
    Ok((key.to_owned(), label.to_owned()))
}

fn parse_object(value: &str) -> Result<(String, String), String> {
    match value.split_once('/') {
        Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => {
            Ok((namespace.to_owned(), name.to_owned()))
        }
        _ => Err(format!("expected NAMESPACE/NAME, got {value:?}")),
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    vestibule_translate::duration::parse_duration(value)
}

#[cfg(test)]
mod tests {
    use super::{parse_label, parse_port_map};

    #[test]
    fn port_maps_and_labels_parse() {
        assert_eq!(parse_port_map("80=8080"), Ok((80, 8080)));
        assert!(parse_port_map("80").is_err());
        assert!(parse_port_map("80=http").is_err());
        assert_eq!(
            parse_label("istio=ingressgateway"),
            Ok(("istio".into(), "ingressgateway".into()))
        );
        assert!(parse_label("=x").is_err());
    }
}
