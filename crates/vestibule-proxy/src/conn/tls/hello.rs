//! Reading a ClientHello without answering it: TLS listeners route by its
//! SNI, then either forward the bytes untouched (passthrough) or replay
//! them into a handshake (termination).

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// A ClientHello can carry large key shares and extensions; one this big
/// is refused (Envoy's TLS inspector stops at 64 KiB too).
const MAX_HELLO_BYTES: usize = 64 * 1024;

pub(crate) struct ClientHello {
    /// Every byte read from the client so far, the ClientHello first.
    pub bytes: BytesMut,
    /// The SNI, as the client sent it.
    pub sni: Option<String>,
}

/// `None` when the client closes, sends something that is not a TLS
/// ClientHello, or sends too much.
pub(crate) async fn read_client_hello<S: AsyncRead + Unpin>(stream: &mut S) -> Option<ClientHello> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut bytes = BytesMut::with_capacity(2048);
    loop {
        if bytes.len() >= MAX_HELLO_BYTES {
            return None;
        }
        let before = bytes.len();
        match stream.read_buf(&mut bytes).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        // rustls parses a copy; the bytes themselves stay for the upstream.
        let mut fresh = &bytes[before..];
        while !fresh.is_empty() {
            acceptor.read_tls(&mut fresh).ok()?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let sni = accepted.client_hello().server_name().map(str::to_owned);
                return Some(ClientHello { bytes, sni });
            }
            Ok(None) => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_is_not_a_client_hello() {
        let mut input: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(read_client_hello(&mut input).await.is_none());
    }

    #[tokio::test]
    async fn a_partial_hello_then_close_is_refused() {
        let mut input: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0x40, 0x01];
        assert!(read_client_hello(&mut input).await.is_none());
    }
}
