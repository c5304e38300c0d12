//! The proxy's whole HTTP/1.1 logic, shared by the three I/O layers so that
//! only the I/O differs between them: a request head is routed by its host
//! and path prefix and forwarded as it came; the response is framed by its
//! Content-Length and returned as it came. GET-shaped traffic only (a
//! request body or a chunked response closes the connection): enough for
//! bench/run's scenario a, which is all this probe is measured on.

use std::collections::HashSet;

pub const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";

pub struct Routes {
    hosts: HashSet<Vec<u8>>,
    prefix: Vec<u8>,
}

/// What to do with the bytes read from the client so far.
pub enum Request {
    /// Not a whole head yet.
    Partial,
    /// Forward the first `len` bytes (the head) upstream.
    Forward(usize),
    /// Answer 404 and drop the first `len` bytes.
    NotFound(usize),
    /// Malformed, or a body this probe does not carry: close.
    Close,
}

impl Routes {
    pub fn new(hosts: impl IntoIterator<Item = String>, prefix: &str) -> Routes {
        Routes {
            hosts: hosts.into_iter().map(String::into_bytes).collect(),
            prefix: prefix.as_bytes().to_vec(),
        }
    }

    pub fn request(&self, buf: &[u8]) -> Request {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        let len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Request::Partial,
            Err(_) => return Request::Close,
        };
        let mut host: &[u8] = b"";
        for header in parsed.headers.iter() {
            if header.name.eq_ignore_ascii_case("host") {
                host = header.value;
            } else if header.name.eq_ignore_ascii_case("content-length") && header.value != b"0"
                || header.name.eq_ignore_ascii_case("transfer-encoding")
            {
                return Request::Close;
            }
        }
        let host = host.split(|&b| b == b':').next().unwrap_or(b"");
        let path = parsed.path.unwrap_or("").as_bytes();
        if self.hosts.contains(host) && path.starts_with(&self.prefix) {
            Request::Forward(len)
        } else {
            Request::NotFound(len)
        }
    }
}

/// The whole response's length once its head is in `buf`: `Some(Ok(n))`;
/// `None` while the head is partial; `Some(Err(()))` when it cannot be
/// framed here (chunked, or malformed).
pub fn response_len(buf: &[u8]) -> Option<Result<usize, ()>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let head = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Err(())),
    };
    let mut body = 0;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|_| ());
            match text.and_then(|t| t.trim().parse::<usize>().map_err(|_| ())) {
                Ok(len) => body = len,
                Err(()) => return Some(Err(())),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Some(Err(()));
        }
    }
    Some(Ok(head + body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_host_and_prefix() {
        let routes = Routes::new(["a.example".to_string()], "/status");
        let head = b"GET /status/200 HTTP/1.1\r\nHost: a.example:80\r\n\r\n";
        assert!(matches!(routes.request(head), Request::Forward(n) if n == head.len()));
        let other = b"GET /status HTTP/1.1\r\nHost: b.example\r\n\r\n";
        assert!(matches!(routes.request(other), Request::NotFound(_)));
        assert!(matches!(
            routes.request(b"GET / HTTP/1.1\r\nHo"),
            Request::Partial
        ));
    }

    #[test]
    fn frames_a_response_by_its_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(response_len(head), Some(Ok(head.len() + 3)));
        assert_eq!(response_len(b"HTTP/1.1 200 OK\r\n"), None);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(response_len(chunked), Some(Err(())));
    }
}
