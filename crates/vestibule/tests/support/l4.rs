//! Backends below HTTP: a TLS server with its own certificate (for
//! passthrough) and Istio's `tcp-echo`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use super::pki::Leaf;

/// An HTTPS server with its own certificate (the task's `my-nginx`): it
/// answers every request with `hello from <name>`.
pub async fn tls_backend(name: &'static str, leaf: &Leaf) -> SocketAddr {
    let config = leaf.server_config(None);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = format!("hello from {name}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    address
}

/// Istio's `tcp-echo`: each line comes back prefixed with `prefix`.
pub async fn tcp_echo(prefix: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if write
                        .write_all(format!("{prefix} {line}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                // The client half-closed: answer once more, then close.
                let _ = write.write_all(format!("{prefix} bye\n").as_bytes()).await;
            });
        }
    });
    address
}
