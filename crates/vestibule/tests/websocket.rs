//! WebSocket through the gateway: the upgrade is forwarded, then frames flow
//! both ways over the spliced connections.

mod support;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use support::{service, ConfigDir, Gateway, HOST, SEED_GATEWAY, SEED_VIRTUAL_SERVICE};

/// A WebSocket server that echoes every text message, prefixed.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        socket
                            .send(Message::text(format!("echo: {text}")))
                            .await
                            .unwrap();
                    }
                }
            });
        }
    });
    address
}

/// The gateway in front of an echo server, `/ws` routed to it.
async fn gateway_to_echo(extra: &[&str]) -> (ConfigDir, Gateway, std::net::SocketAddr) {
    let backend = echo_server().await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "prefix: /ws"),
    );
    config.write(
        "backend.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket through the gateway to `/ws`.
async fn connect(
    address: std::net::SocketAddr,
) -> (
    Socket,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let mut request = format!("ws://{address}/ws").into_client_request().unwrap();
    request.headers_mut().insert("host", HOST.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade")
}

#[tokio::test]
async fn websocket_upgrades_are_proxied_both_ways() {
    let (_config, _gateway, address) = gateway_to_echo(&[]).await;
    let (mut socket, response) = connect(address).await;
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["server"], "vestibule");
    for index in 0..3 {
        socket
            .send(Message::text(format!("hello {index}")))
            .await
            .unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        assert_eq!(reply, Message::text(format!("echo: hello {index}")));
    }
    socket.close(None).await.unwrap();
}

/// The access log has one line for a WebSocket, written when the tunnel
/// closes (as Envoy logs it): 101, the bytes that crossed the tunnel each
/// way, and the tunnel's whole duration.
#[tokio::test]
async fn a_websocket_is_logged_once_when_its_tunnel_closes() {
    let (_config, gateway, address) = gateway_to_echo(&[
        "--access-log-file",
        "/dev/stdout",
        "--access-log-encoding",
        "json",
    ])
    .await;
    let (mut socket, _) = connect(address).await;
    socket.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: hello")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Open, the tunnel has no line yet.
    assert!(!gateway.stdout().contains("\"response_code\":101"));
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    drop(socket);
    let mut line = None;
    for _ in 0..50 {
        line = gateway
            .stdout()
            .lines()
            .find(|line| line.contains("\"response_code\":101"))
            .map(str::to_owned);
        if line.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line: serde_json::Value =
        serde_json::from_str(&line.expect("a line for the tunnel")).unwrap();
    // A masked text frame of 5 bytes (11 on the wire) and a close frame
    // from the client; the echo and a close frame back.
    assert!(line["bytes_received"].as_u64().unwrap() >= 11, "{line}");
    assert!(line["bytes_sent"].as_u64().unwrap() >= 13, "{line}");
    assert!(line["duration"].as_u64().unwrap() >= 300, "{line}");
    assert_eq!(gateway.stdout().matches("\"response_code\":101").count(), 1);
}

#[tokio::test]
async fn a_tunnel_counts_as_a_connection_until_it_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_config, _gateway, address) = gateway_to_echo(&["--max-connections", "1"]).await;
    let (mut socket, _) = connect(address).await;
    socket.send(Message::text("one")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: one")
    );
    // The connection became a tunnel; it still holds the only place.
    let mut second = tokio::net::TcpStream::connect(address).await.unwrap();
    let _ = second
        .write_all(format!("GET /status/200 HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), second.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a second connection was served beside the tunnel"
    );
    socket.close(None).await.unwrap();
}

/// A WebSocket over an HTTP/2 stream (RFC 8441 extended CONNECT), driven
/// by tungstenite's client over `h2`'s stream: a real WebSocket client on
/// a real HTTP/2 client.
mod over_http2 {
    use std::pin::Pin;
    use std::task::{ready, Context, Poll};

    use bytes::{Buf, Bytes};
    use h2::{RecvStream, SendStream};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub(super) struct H2Io {
        pub(super) send: SendStream<Bytes>,
        pub(super) recv: RecvStream,
        pub(super) pending: Bytes,
    }

    impl AsyncRead for H2Io {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if self.pending.is_empty() {
                match ready!(self.recv.poll_data(cx)) {
                    Some(Ok(data)) => {
                        let _ = self.recv.flow_control().release_capacity(data.len());
                        self.pending = data;
                    }
                    Some(Err(error)) => return Poll::Ready(Err(std::io::Error::other(error))),
                    None => return Poll::Ready(Ok(())),
                }
            }
            let n = self.pending.len().min(buf.remaining());
            buf.put_slice(&self.pending[..n]);
            self.pending.advance(n);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for H2Io {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.send
                .send_data(Bytes::copy_from_slice(data), false)
                .map_err(std::io::Error::other)?;
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            let _ = self.send.send_data(Bytes::new(), true);
            Poll::Ready(Ok(()))
        }
    }
}

#[tokio::test]
async fn websocket_over_http2_extended_connect_reaches_an_http1_backend() {
    use tokio_tungstenite::tungstenite::protocol::Role;
    let (_config, _gateway, address) = gateway_to_echo(&[]).await;
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let mut request = http::Request::connect(format!("http://{HOST}/ws"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let (response, send) = client.send_request(request, false).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["server"], "vestibule");
    let io = over_http2::H2Io {
        send,
        recv: response.into_body(),
        pending: bytes::Bytes::new(),
    };
    let mut socket =
        tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Client, None).await;
    for index in 0..3 {
        socket
            .send(Message::text(format!("over h2 {index}")))
            .await
            .unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        assert_eq!(reply, Message::text(format!("echo: over h2 {index}")));
    }
}

#[tokio::test]
async fn any_other_extended_connect_is_refused() {
    let (_config, _gateway, address) = gateway_to_echo(&[]).await;
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let mut request = http::Request::connect(format!("http://{HOST}/ws"))
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("connect-udp"));
    let (response, _send) = client.send_request(request, false).unwrap();
    assert_eq!(response.await.unwrap().status(), 403);
}

#[tokio::test]
async fn websocket_over_tls_survives_a_reload() {
    use support::pki::{tls_secret, Ca};
    let backend = echo_server().await;
    let ca = Ca::new("ws root");
    let config = ConfigDir::new();
    config.write(
        "secret.yaml",
        &tls_secret("ws-credential", "istio-system", &ca.server(&[HOST]), None),
    );
    config.write(
        "gateway.yaml",
        &format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: httpbin-gateway\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n    tls: {{mode: SIMPLE, credentialName: ws-credential}}\n    hosts: [\"{HOST}\"]\n"
        ),
    );
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "prefix: /ws"),
    );
    config.write(
        "backend.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[443], &[]).await;
    let address = gateway.listener(443).await;
    // TLS by tokio-rustls, WebSocket by tungstenite over it.
    let stream = support::tls_client::handshake(address, HOST, &ca.pem()).await;
    let request = format!("wss://{HOST}/ws").into_client_request().unwrap();
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade over TLS");
    assert_eq!(response.status(), 101);
    socket.send(Message::text("before")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: before")
    );
    // A reload (the VirtualService changes) leaves the tunnel alone.
    let generation = gateway.generation().await;
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "prefix: /wss"),
    );
    gateway.wait_generation(generation + 1).await;
    socket.send(Message::text("after")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: after")
    );
    socket.close(None).await.unwrap();
}
