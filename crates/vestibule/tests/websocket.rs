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
