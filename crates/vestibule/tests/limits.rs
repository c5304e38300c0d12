//! The README's limits, one test each where the adversarial suite does not
//! cover it already (`adversarial.rs`: header read timeout, head size and
//! count; `http1_wire.rs`: idle timeout): connections overall and per
//! listener, the upstream connect timeout, HTTP/2 streams and windows, and
//! the size of a configuration file.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{httpbin, service, ConfigDir, Gateway, ANY_PATH_VS, HOST, SEED_GATEWAY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A kept-alive connection that has had one answer.
async fn served_connection(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET /status/200 HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    stream
}

/// Whether the gateway closed `stream` without a byte.
async fn closed_at_once(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn metric(gateway: &Gateway, name: &str) -> String {
    let (_, metrics) = gateway.admin_get("/metrics").await;
    metrics
        .lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .to_owned()
}

#[tokio::test]
async fn connections_past_the_overall_limit_are_refused_and_the_others_served() {
    let backend = httpbin("limits").await;
    let (_config, gateway, address) =
        support::any_path_gateway(backend, &["--max-connections", "2"]).await;
    let mut first = served_connection(address).await;
    let _second = served_connection(address).await;
    let mut third = TcpStream::connect(address).await.unwrap();
    let _ = third
        .write_all(format!("GET /status/200 HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
        .await;
    assert!(
        closed_at_once(&mut third).await,
        "a third connection was served"
    );
    assert_eq!(
        metric(&gateway, "vestibule_downstream_connections_refused_total").await,
        "vestibule_downstream_connections_refused_total 1"
    );
    assert_eq!(
        metric(&gateway, "vestibule_downstream_connections").await,
        "vestibule_downstream_connections 2"
    );
    // The accepted ones keep being served.
    let request = format!("GET /status/201 HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    first.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 201 "));
    // One closes: room for one more.
    drop(first);
    for _ in 0..100 {
        if metric(&gateway, "vestibule_downstream_connections").await
            == "vestibule_downstream_connections 1"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _again = served_connection(address).await;
}

#[tokio::test]
async fn connections_past_the_listener_limit_are_refused() {
    let backend = httpbin("limits").await;
    let (_config, gateway, address) =
        support::any_path_gateway(backend, &["--max-connections-per-listener", "1"]).await;
    let _first = served_connection(address).await;
    let mut second = TcpStream::connect(address).await.unwrap();
    // A request sent, as a client does: the listener defers accepting
    // until the first bytes, and a silent connection would be refused only
    // after that hold (about a second).
    let _ = second
        .write_all(format!("GET /status/200 HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
        .await;
    assert!(closed_at_once(&mut second).await);
    assert_eq!(
        metric(&gateway, "vestibule_downstream_connections_refused_total").await,
        "vestibule_downstream_connections_refused_total 1"
    );
}

#[tokio::test]
async fn limits_out_of_range_refuse_to_start() {
    for (flag, value) in [
        ("--max-connections", "0"),
        ("--max-request-headers", "0"),
        ("--max-request-headers", "100000"),
        ("--http2-max-concurrent-streams", "100000"),
        ("--http2-initial-stream-window-size", "1000"),
    ] {
        let config = ConfigDir::new();
        config.write("gateway.yaml", SEED_GATEWAY);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .args(["serve", "--admin", "127.0.0.1:0", "--config"])
            .arg(config.path())
            .args([flag, value])
            .output()
            .expect("run vestibule");
        assert!(!output.status.success(), "{flag} {value} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("must be"), "{flag} {value}: {stderr}");
    }
}

#[tokio::test]
async fn an_upstream_that_never_accepts_times_out_as_a_connect_failure() {
    // A listener whose accept queue is full and never drained: the kernel
    // drops further SYNs, so a connect hangs as it does toward a silent host.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let blackhole = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(blackhole)).await
        {
            fillers.push(stream);
        }
    }
    let (_config, _gateway, address) =
        support::any_path_gateway(blackhole, &["--connect-timeout", "300ms"]).await;
    let started = Instant::now();
    let (status, _, body) = support::get(address, HOST, "/status/200").await;
    let elapsed = started.elapsed();
    assert_eq!(status, 503);
    assert_eq!(
        &body[..],
        b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
    );
    // Istio's default policy retries a connect failure twice: three
    // attempts of 300 ms, plus backoff.
    assert!(
        elapsed >= Duration::from_millis(850) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
}

/// The SETTINGS an HTTP/2 client sees: concurrent streams, and the send
/// window a new stream gets (the server's initial stream window).
async fn http2_settings(address: SocketAddr) -> (usize, usize) {
    let stream = TcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // One exchange first: by its answer the server's SETTINGS are applied.
    let mut client = client.ready().await.unwrap();
    let get = http::Request::get(format!("http://{HOST}/status/200"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(get, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{HOST}/anything"))
        .body(())
        .unwrap();
    let (_response, mut body) = client.send_request(request, false).unwrap();
    body.reserve_capacity(10 * 1024 * 1024);
    let capacity = std::future::poll_fn(|cx| body.poll_capacity(cx))
        .await
        .expect("capacity")
        .expect("no error");
    let streams = client.current_max_send_streams();
    let _ = body.send_data(Bytes::new(), true);
    (streams, capacity)
}

#[tokio::test]
async fn http2_streams_and_windows_are_as_configured() {
    let backend = httpbin("limits").await;
    let (_config, _gateway, address) = support::any_path_gateway(backend, &[]).await;
    assert_eq!(
        http2_settings(address).await,
        (100, 65_536),
        "Envoy's edge values by default"
    );
    let (_config, _gateway, address) = support::any_path_gateway(
        backend,
        &[
            "--http2-max-concurrent-streams",
            "7",
            "--http2-initial-stream-window-size",
            "100000",
        ],
    )
    .await;
    assert_eq!(http2_settings(address).await, (7, 100_000));
}

#[tokio::test]
async fn configuration_files_over_the_size_limit_are_refused_by_name() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    // 2 MiB of comments: valid YAML, over a 1 MiB limit.
    let padding = format!("{SEED_GATEWAY}\n{}", "# padding\n".repeat(210_000));
    config.write("big.yaml", &padding);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["validate", "--max-config-file-mb", "1"])
        .arg(config.path())
        .output()
        .expect("run vestibule validate");
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("big.yaml") && stdout.contains("larger than the limit of 1048576 bytes"),
        "{stdout}"
    );
    let default = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("validate")
        .arg(config.path())
        .output()
        .expect("run vestibule validate");
    assert!(default.status.success(), "16 MiB by default");

    // Serving: a file grown past the limit is a failed reload, the last
    // good configuration keeps serving.
    let backend = httpbin("limits").await;
    config.remove("big.yaml");
    config.write("virtualservice.yaml", ANY_PATH_VS);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], &["--max-config-file-mb", "1"]).await;
    let address = gateway.listener(80).await;
    config.write("big.yaml", &padding);
    for _ in 0..100 {
        let status = gateway.status().await;
        if status["errors"]
            .as_array()
            .is_some_and(|errors| !errors.is_empty())
        {
            let errors = status["errors"].to_string();
            assert!(errors.contains("big.yaml"), "{errors}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(&gateway, "vestibule_config_last_reload_successful").await,
        "vestibule_config_last_reload_successful 0"
    );
    assert_eq!(support::get(address, HOST, "/status/200").await.0, 200);
}
