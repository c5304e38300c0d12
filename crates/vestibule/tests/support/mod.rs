//! End-to-end test support: the real `vestibule` binary on `127.0.0.1:0`
//! ports, in-process httpbin backends, and a small real HTTP/1.1 client.
#![allow(dead_code, unreachable_pub)]

pub mod https_backend;
pub mod l4;
pub mod pki;
pub mod tls_client;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub const HOST: &str = "httpbin.example.com";

/// A directory of manifests the gateway watches.
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new() -> ConfigDir {
        ConfigDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file atomically (temp file + rename), as editors and
    /// Kubernetes ConfigMap volumes do.
    pub fn write(&self, name: &str, text: &str) {
        let temporary = self.dir.path().join(format!(".tmp-{name}"));
        std::fs::write(&temporary, text).expect("write config");
        std::fs::rename(&temporary, self.dir.path().join(name)).expect("rename config");
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join(name)).expect("remove config");
    }
}

/// A Service with one port and an EndpointSlice naming `backends`.
pub fn service(name: &str, namespace: &str, port: u16, backends: &[SocketAddr]) -> String {
    // One slice per backend port: pods may listen on different ports.
    let mut slices = String::new();
    for (index, backend) in backends.iter().enumerate() {
        slices.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-{index}\n  namespace: {namespace}\n  labels:\n    kubernetes.io/service-name: {name}\naddressType: IPv4\nports:\n- name: http\n  port: {}\nendpoints:\n- addresses: [\"{}\"]\n",
            backend.port(),
            backend.ip()
        ));
    }
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  ports:\n  - name: http\n    port: {port}\n    targetPort: 8080\n{slices}"
    )
}

/// An Istio Gateway `gw` serving `host` on port 80, and a VirtualService
/// bound to it for `host` with these `http` rules (YAML list items,
/// indented two spaces).
pub fn istio_host(host: &str, http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: [\"{host}\"]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: routes}}\nspec:\n  hosts: [\"{host}\"]\n  gateways: [gw]\n  http:\n{http}"
    )
}

/// The seed's Gateway and VirtualService for httpbin.example.com.
pub const SEED_GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
"#;

/// The seed's Gateway, serving every host.
pub fn any_host_gateway() -> String {
    SEED_GATEWAY.replace("\"httpbin.example.com\"", "\"*\"")
}

/// Every path on httpbin.example.com goes to the `httpbin` Service.
pub const ANY_PATH_VS: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: ["httpbin.example.com"]
  gateways: [httpbin-gateway]
  http:
  - route:
    - destination:
        host: httpbin
        port:
          number: 8000
"#;

pub const SEED_VIRTUAL_SERVICE: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"#;

/// Where the first whole request in `buf` ends (head, then a body by its
/// `content-length`, or chunked up to its last chunk): for raw upstreams
/// that record requests exactly as they came.
pub fn request_end(buf: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let lower = head.to_ascii_lowercase();
    let length = if lower.contains("transfer-encoding: chunked") {
        rest.find("0\r\n\r\n")? + 5
    } else {
        lower
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    (rest.len() >= length).then_some(head.len() + 4 + length)
}

/// The gateway serving every path of httpbin.example.com (the seed's
/// Gateway, [`ANY_PATH_VS`]) from `backend`, its port 80 on a free port.
pub async fn any_path_gateway(
    backend: SocketAddr,
    extra: &[&str],
) -> (ConfigDir, Gateway, SocketAddr) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", ANY_PATH_VS);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

/// Starts an httpbin backend on 127.0.0.1:0.
pub async fn httpbin(name: &str) -> SocketAddr {
    httpbin::spawn(httpbin::Options {
        name: Some(name.to_owned()),
    })
    .await
    .expect("httpbin")
}

/// A running gateway process.
pub struct Gateway {
    child: Child,
    pub admin: SocketAddr,
    log: Arc<Mutex<String>>,
    /// What the process wrote to its standard output after it started
    /// (an access log to /dev/stdout).
    stdout: Arc<Mutex<String>>,
}

impl Gateway {
    /// Starts `vestibule serve` on `config`, every listener port mapped to a
    /// free local port, and waits until it is ready.
    pub async fn start(config: &Path, ports: &[u16], extra: &[&str]) -> Gateway {
        let source = ["--config".to_owned(), config.display().to_string()];
        Gateway::spawn(&source, ports, extra).await
    }

    /// Starts `vestibule serve --kubernetes` against the API server of
    /// `kubeconfig`; it is ready once the first set is served (see
    /// [`Gateway::wait_ready`]).
    pub async fn start_kubernetes(kubeconfig: &Path, ports: &[u16], extra: &[&str]) -> Gateway {
        let source = [
            "--kubernetes".to_owned(),
            "--kubeconfig".to_owned(),
            kubeconfig.display().to_string(),
            "--discovery-interval".to_owned(),
            "500ms".to_owned(),
        ];
        Gateway::spawn(&source, ports, extra).await
    }

    async fn spawn(source: &[String], ports: &[u16], extra: &[&str]) -> Gateway {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vestibule"));
        command
            .arg("serve")
            .args(source)
            .args(["--admin", "127.0.0.1:0", "--bind-address", "127.0.0.1"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if !extra.contains(&"--drain-timeout") {
            command.args(["--drain-timeout", "5s"]);
        }
        for port in ports {
            command.args(["--port-map", &format!("{port}=0")]);
        }
        let mut child = command.spawn().expect("spawn vestibule");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let admin = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                if let Some(address) = line.strip_prefix("vestibule admin listening on http://") {
                    return address.parse::<SocketAddr>().expect("admin address");
                }
            }
            panic!(
                "vestibule exited before it was ready; log:\n{}",
                log.lock().unwrap()
            );
        })
        .await
        .expect("vestibule did not start in time");
        let stdout = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stdout);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        Gateway {
            child,
            admin,
            log,
            stdout,
        }
    }

    /// Where the configured listener `port` is bound now.
    pub async fn listener(&self, port: u16) -> SocketAddr {
        let status = self.status().await;
        status["listeners"]
            .as_array()
            .and_then(|listeners| {
                listeners
                    .iter()
                    .find(|l| l["port"] == port && l["address"].is_string())
            })
            .and_then(|l| l["address"].as_str())
            .unwrap_or_else(|| panic!("listener {port} not bound: {status:#}"))
            .parse()
            .expect("listener address")
    }

    pub async fn status(&self) -> serde_json::Value {
        let (_, _, body) = get(self.admin, "localhost", "/status").await;
        serde_json::from_slice(&body).expect("status json")
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, String) {
        let (status, _, body) = get(self.admin, "localhost", path).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// `/metrics` once `counted` holds for it (a request is counted just
    /// after its response is written, so a scrape that follows the
    /// response at once may come first), or after 5 s as it then reads.
    pub async fn metrics_when(&self, counted: impl Fn(&str) -> bool) -> String {
        for _ in 0..250 {
            let (_, metrics) = self.admin_get("/metrics").await;
            if counted(&metrics) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.admin_get("/metrics").await.1
    }

    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&self) {
        for _ in 0..400 {
            if self.admin_get("/ready").await.0 == StatusCode::OK {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("never ready; log:\n{}", self.log());
    }

    pub async fn generation(&self) -> u64 {
        self.status().await["generation"]
            .as_u64()
            .expect("generation")
    }

    /// Waits until the served configuration generation reaches `generation`.
    pub async fn wait_generation(&self, generation: u64) {
        for _ in 0..100 {
            if self.generation().await >= generation {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("generation {generation} never served; log:\n{}", self.log());
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub async fn wait(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("vestibule did not exit")
            .expect("wait")
    }
}

/// One HTTP/1.1 keep-alive connection.
pub struct Client {
    sender: http1::SendRequest<Empty<Bytes>>,
}

impl Client {
    pub async fn connect(address: SocketAddr) -> Client {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Client { sender }
    }

    pub async fn get(&mut self, host: &str, path: &str) -> (StatusCode, HeaderMap, Bytes) {
        self.request(host, path, &[]).await
    }

    pub async fn request(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Bytes) {
        self.try_request(host, path, headers)
            .await
            .expect("request failed")
    }

    pub async fn try_request(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, HeaderMap, Bytes), hyper::Error> {
        let mut builder = Request::get(path).header("host", host);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(builder.body(Empty::new()).unwrap())
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

/// One request on a fresh connection.
pub async fn get(address: SocketAddr, host: &str, path: &str) -> (StatusCode, HeaderMap, Bytes) {
    Client::connect(address).await.get(host, path).await
}

pub async fn get_with(
    address: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    Client::connect(address)
        .await
        .request(host, path, headers)
        .await
}

/// Runs curl (a real, independent client) and returns its stdout.
pub async fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A request a [`Recorder`] received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub host: String,
    pub body: String,
    pub headers: http::HeaderMap,
    /// Which of the recorder's connections it came on (0-based, in the
    /// order they were accepted).
    pub connection: usize,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The client's address on that connection (the gateway's end).
    pub peer: SocketAddr,
}

/// A backend that records every request and answers with the status the
/// script gives for the n-th request (0-based).
#[derive(Clone)]
pub struct Recorder {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub async fn start(script: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Recorder {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script = Arc::new(script);
        let recorder = Recorder {
            address,
            seen: Arc::clone(&seen),
        };
        tokio::spawn(async move {
            let mut accepted = 0;
            while let Ok((stream, peer)) = listener.accept().await {
                let connection = accepted;
                accepted += 1;
                let (seen, script) = (Arc::clone(&seen), Arc::clone(&script));
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (seen, script) = (Arc::clone(&seen), Arc::clone(&script));
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let host = parts
                            .headers
                            .get("host")
                            .map(|h| h.to_str().unwrap().to_owned())
                            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                            .unwrap_or_default();
                        let index = {
                            let mut seen = seen.lock().unwrap();
                            seen.push(Seen {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                host,
                                body: String::from_utf8_lossy(&body).into_owned(),
                                headers: parts.headers.clone(),
                                connection,
                                version: format!("{:?}", parts.version),
                                peer,
                            });
                            seen.len() - 1
                        };
                        let mut response =
                            http::Response::new(http_body_util::Full::new(Bytes::from("recorded")));
                        *response.status_mut() = StatusCode::from_u16(script(index)).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
                );
            }
        });
        recorder
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
