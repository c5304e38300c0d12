//! A finished request's line: Istio's default text format (Envoy's, with
//! Istio's fields) or its JSON encoding, formatted straight into a
//! worker's buffer.
//!
//! The text line carries a request's bytes as they came (as Envoy's does:
//! a header's value may hold bytes that are not UTF-8); the JSON line
//! holds valid UTF-8 only.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use smallvec::SmallVec;

use crate::flags::Flags;
use crate::request::{ConnAddresses, Context, RequestLine};

/// One finished request, borrowed for as long as its line is formatted.
pub(crate) struct Record<'a> {
    pub context: &'a Context,
    /// The connection's ends (`None`: the connection began before the log
    /// was on).
    pub addresses: Option<&'a ConnAddresses>,
    pub status: u16,
    pub sent: u64,
    pub duration: Duration,
}

/// A connection's two ends as its lines show them, `local remote`.
#[derive(Debug, Clone)]
pub(crate) struct Ends {
    /// Inline for IPv4 (43 bytes at most).
    text: SmallVec<[u8; 48]>,
    split: usize,
}

impl Ends {
    pub(crate) fn new(local: SocketAddr, remote: SocketAddr) -> Ends {
        let mut text = Vec::with_capacity(48);
        push_address(&mut text, &local);
        let split = text.len();
        push_address(&mut text, &remote);
        Ends {
            text: SmallVec::from_vec(text),
            split,
        }
    }

    fn local(&self) -> &[u8] {
        &self.text[..self.split]
    }

    fn remote(&self) -> &[u8] {
        &self.text[self.split..]
    }
}

impl Record<'_> {
    /// The fields of Istio's default format, in its order, borrowed from
    /// the entry (formatting allocates nothing per field).
    fn fields(&self) -> [Value<'_>; FIELDS] {
        let context = self.context;
        let line = context.line.as_ref();
        fn bytes(value: Option<&[u8]>) -> Value<'_> {
            value.map_or(Value::Absent, Value::Bytes)
        }
        let (route_name, cluster) = context.names();
        let addresses = self.addresses;
        let text = |value: Option<&'static str>| value.map_or(Value::Absent, Value::Str);
        [
            Value::Time(self.started()),
            bytes(line.map(RequestLine::method)),
            bytes(line.map(RequestLine::path)),
            text(line.map(RequestLine::protocol)),
            Value::Number(u64::from(self.status)),
            Value::Flags(context.flags),
            Value::Str(context.details),
            Value::Absent,
            text(context.tls_failure.map(|failure| failure.reason())),
            Value::Number(context.received_bytes()),
            Value::Number(self.sent),
            Value::Number(u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX)),
            context.upstream_millis.map_or(Value::Absent, Value::Text),
            bytes(line.and_then(RequestLine::forwarded_for)),
            bytes(line.and_then(RequestLine::user_agent)),
            bytes(line.and_then(RequestLine::request_id)),
            bytes(line.and_then(RequestLine::authority)),
            context
                .attempts
                .endpoint
                .as_ref()
                .map_or(Value::Absent, |endpoint| Value::Str(&endpoint.text)),
            cluster.map_or(Value::Absent, Value::Str),
            context
                .attempts
                .upstream_local
                .map_or(Value::Absent, Value::Address),
            addresses.map_or(Value::Absent, |a| Value::Bytes(a.ends.local())),
            addresses.map_or(Value::Absent, |a| Value::Bytes(a.ends.remote())),
            addresses
                .and_then(|a| a.server_name.as_deref())
                .map_or(Value::Absent, Value::Str),
            route_name.map_or(Value::Absent, Value::Str),
        ]
    }

    fn started(&self) -> SystemTime {
        match self.context.line.as_ref() {
            Some(line) => line.started,
            None => SystemTime::now() - self.duration,
        }
    }

    /// Istio's default text line.
    pub(super) fn text(&self, out: &mut Vec<u8>, clock: &mut Clock) {
        for (field, value) in self.fields().iter().enumerate() {
            let (before, quoted) = TEXT_LAYOUT[field];
            // Byte by byte: one or two bytes, not worth a copy's call.
            for &byte in before {
                out.push(byte);
            }
            match value {
                Value::Time(time) => {
                    out.push(b'[');
                    clock.write(out, *time);
                    out.push(b']');
                }
                value if quoted => {
                    out.push(b'"');
                    value.write_text(out);
                    out.push(b'"');
                }
                value => value.write_text(out),
            }
        }
        out.push(b'\n');
    }

    /// Istio's JSON encoding: the same fields, numbers as numbers, absent
    /// ones `null`.
    pub(super) fn json(&self, out: &mut Vec<u8>, clock: &mut Clock) {
        out.push(b'{');
        for (field, value) in self.fields().iter().enumerate() {
            if field > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(JSON_KEYS[field].as_bytes());
            out.extend_from_slice(b"\":");
            value.write_json(out, clock);
        }
        out.extend_from_slice(b"}\n");
    }
}

const FIELDS: usize = 24;

/// What comes before each field of the text line, and whether it is quoted:
/// `[%START_TIME%] "%METHOD% %PATH% %PROTOCOL%" %RESPONSE_CODE% …`.
const TEXT_LAYOUT: [(&[u8], bool); FIELDS] = [
    (b"", false),
    (b" \"", false),
    (b" ", false),
    (b" ", false),
    (b"\" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", true),
    (b" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", true),
    (b" ", true),
    (b" ", true),
    (b" ", true),
    (b" ", true),
    (b" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", false),
    (b" ", false),
];

/// Istio's JSON keys, in the same order.
const JSON_KEYS: [&str; FIELDS] = [
    "start_time",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "connection_termination_details",
    "upstream_transport_failure_reason",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
    "upstream_cluster",
    "upstream_local_address",
    "downstream_local_address",
    "downstream_remote_address",
    "requested_server_name",
    "route_name",
];

/// One field's value, borrowed.
enum Value<'a> {
    Absent,
    Str(&'a str),
    /// A request's text (a header's value: almost always ASCII).
    Bytes(&'a [u8]),
    Number(u64),
    /// A number Envoy prints as text (a header's value).
    Text(u64),
    Flags(Flags),
    Address(SocketAddr),
    Time(SystemTime),
}

impl Value<'_> {
    /// Envoy's text: `-` for an absent or empty value.
    fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Value::Absent | Value::Str("") | Value::Bytes([]) => out.push(b'-'),
            Value::Str(text) => out.extend_from_slice(text.as_bytes()),
            Value::Bytes(value) => out.extend_from_slice(value),
            Value::Number(number) | Value::Text(number) => push_number(out, *number),
            Value::Flags(flags) => flags.write_to(out),
            Value::Address(address) => push_address(out, address),
            // Written by the line (it needs the clock).
            Value::Time(_) => {}
        }
    }

    fn write_json(&self, out: &mut Vec<u8>, clock: &mut Clock) {
        match self {
            Value::Absent => out.extend_from_slice(b"null"),
            Value::Number(number) => push_number(out, *number),
            Value::Str(text) => json_string(out, text),
            Value::Bytes(value) => json_string(out, &String::from_utf8_lossy(value)),
            Value::Time(time) => {
                out.push(b'"');
                clock.write(out, *time);
                out.push(b'"');
            }
            // Flags, addresses, host names and numbers as text: nothing in
            // them needs escaping.
            other => {
                out.push(b'"');
                other.write_text(out);
                out.push(b'"');
            }
        }
    }
}

fn push_number(out: &mut Vec<u8>, number: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
}

/// `a.b.c.d:port`, digit by digit (IPv6 goes through the formatting
/// machinery).
fn push_address(out: &mut Vec<u8>, address: &SocketAddr) {
    match address {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            push_octet(out, a);
            out.push(b'.');
            push_octet(out, b);
            out.push(b'.');
            push_octet(out, c);
            out.push(b'.');
            push_octet(out, d);
            out.push(b':');
            push_number(out, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{address}");
        }
    }
}

fn push_octet(out: &mut Vec<u8>, octet: u8) {
    if octet >= 100 {
        out.push(b'0' + octet / 100);
    }
    if octet >= 10 {
        out.push(b'0' + octet / 10 % 10);
    }
    out.push(b'0' + octet % 10);
}

/// A JSON string literal, escaped by serde_json, straight into the line.
fn json_string(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(out, text);
}

/// Envoy's `%START_TIME%` (UTC, milliseconds), the date and time to the
/// second formatted once per second.
pub(super) struct Clock {
    second: Option<u64>,
    text: String,
}

impl Clock {
    pub(super) const fn new() -> Clock {
        Clock {
            second: None,
            text: String::new(),
        }
    }

    fn write(&mut self, out: &mut Vec<u8>, time: SystemTime) {
        let Ok(since) = time.duration_since(SystemTime::UNIX_EPOCH) else {
            out.push(b'-');
            return;
        };
        let second = since.as_secs();
        if self.second != Some(second) {
            self.text = match jiff::Timestamp::from_second(second as i64) {
                Ok(timestamp) => timestamp.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
                Err(_) => String::from("-"),
            };
            self.second = Some(second);
        }
        let millis = since.subsec_millis();
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            out.push(b'0' + digit as u8);
        }
        out.push(b'Z');
    }
}

#[cfg(test)]
mod tests {
    use super::{json_string, Clock, Record};
    use crate::request::{Context, RequestLine};
    use std::time::{Duration, SystemTime};

    #[test]
    fn start_times_are_utc_with_milliseconds() {
        let mut clock = Clock::new();
        let mut out = Vec::new();
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_985_845_123);
        clock.write(&mut out, time);
        clock.write(&mut out, time + Duration::from_millis(800));
        assert_eq!(out, b"2025-12-06T01:50:45.123Z2025-12-06T01:50:45.923Z");
    }

    #[test]
    fn addresses_are_written_as_envoy_writes_them() {
        let mut out = Vec::new();
        for address in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.1.20.100:8080",
            "127.0.0.1:9",
            "1.22.105.0:80",
            "99.100.9.10:65000",
            "[::1]:443",
            "[2001:db8::7]:15001",
        ] {
            out.clear();
            super::push_address(&mut out, &address.parse().unwrap());
            assert_eq!(String::from_utf8_lossy(&out), address);
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = Vec::new();
        json_string(&mut out, "a\"b\\c\u{1}");
        assert_eq!(out, br#""a\"b\\c\u0001""#);
    }

    /// A request whose user agent holds a byte that is not UTF-8.
    fn context_with_a_latin1_agent() -> Context {
        let request = http::Request::get("http://example.com/a")
            .header(
                "user-agent",
                http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
            )
            .body(())
            .unwrap();
        let mut context = Context::new(80);
        context.line = Some(RequestLine::of(&request));
        context
    }

    fn record(context: &Context) -> Record<'_> {
        Record {
            context,
            addresses: None,
            status: 200,
            sent: 5,
            duration: Duration::from_millis(3),
        }
    }

    /// Envoy writes a header's bytes as they came.
    #[test]
    fn text_lines_carry_the_requests_bytes_as_they_came() {
        let context = context_with_a_latin1_agent();
        let mut out = Vec::new();
        record(&context).text(&mut out, &mut Clock::new());
        let line = &out[out.iter().position(|&b| b == b']').unwrap() + 1..];
        assert_eq!(
            String::from_utf8_lossy(line),
            " \"GET /a HTTP/1.1\" 200 - via_upstream - \"-\" 0 5 3 - \"-\" \"caf\u{fffd}\" \"-\" \"example.com\" \"-\" - - - - - -\n"
        );
        assert!(line.windows(4).any(|w| w == b"caf\xe9"));
    }

    /// JSON holds UTF-8 only: a byte that is not becomes U+FFFD.
    #[test]
    fn json_lines_are_utf8() {
        let context = context_with_a_latin1_agent();
        let mut out = Vec::new();
        record(&context).json(&mut out, &mut Clock::new());
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["user_agent"], "caf\u{fffd}");
        assert_eq!(line["response_code"], 200);
        assert_eq!(line["upstream_host"], serde_json::Value::Null);
    }
}
