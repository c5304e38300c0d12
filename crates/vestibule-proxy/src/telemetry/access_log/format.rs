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

/// A connection's two ends as its lines show them, formatted once per
/// connection.
#[derive(Debug, Clone)]
pub(crate) struct Ends {
    local: Address,
    remote: Address,
}

impl Ends {
    pub(crate) fn new(local: SocketAddr, remote: SocketAddr) -> Ends {
        Ends {
            local: Address::new(&local),
            remote: Address::new(&remote),
        }
    }
}

/// The longest address Envoy writes: `[` an IPv6 address of eight groups
/// `%` a scope id `]:` a port.
const ADDRESS_LEN: usize = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535".len();

/// An address as a line shows it (`a.b.c.d:port`, `[v6]:port`), formatted
/// once and copied with what holds it (an upstream connection's local
/// address goes into every request it carries): no call to write it, no
/// reference count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Address {
    len: u8,
    text: [u8; ADDRESS_LEN],
}

impl Address {
    pub(crate) fn new(address: &SocketAddr) -> Address {
        let mut text = Vec::with_capacity(ADDRESS_LEN);
        push_address(&mut text, address);
        let mut formatted = Address {
            len: 0,
            text: [0; ADDRESS_LEN],
        };
        // Never longer (the test of the widest address checks it).
        let len = text.len().min(ADDRESS_LEN);
        formatted.text[..len].copy_from_slice(&text[..len]);
        formatted.len = len as u8;
        formatted
    }

    fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }
}

impl Record<'_> {
    /// Hands the fields of Istio's default format to `line`, in its order,
    /// borrowed from the record (formatting allocates nothing per field).
    /// Inlined into each encoding, with `line.field` inlined at each call:
    /// every field's layout and kind are then constants, and the line is
    /// written without a table of values or a match per field.
    #[inline(always)]
    fn fields(&self, line: &mut impl Line) {
        let context = self.context;
        let request = context.line.as_ref();
        fn bytes(value: Option<&[u8]>) -> Value<'_> {
            value.map_or(Value::Absent, Value::Bytes)
        }
        fn address(address: Option<&Address>) -> Value<'_> {
            bytes(address.map(Address::as_bytes))
        }
        let text = |value: Option<&'static str>| value.map_or(Value::Absent, Value::Str);
        let (route_name, cluster) = context.names();
        let addresses = self.addresses;
        line.field(0, Value::Time(self.started()));
        line.field(1, bytes(request.map(RequestLine::method)));
        line.field(2, bytes(request.map(RequestLine::path)));
        line.field(3, text(request.map(RequestLine::protocol)));
        line.field(4, Value::Number(u64::from(self.status)));
        line.field(5, Value::Flags(context.flags));
        line.field(6, Value::Str(context.details));
        line.field(7, Value::Absent);
        line.field(8, text(context.tls_failure.map(|failure| failure.reason())));
        line.field(9, Value::Number(context.received_bytes()));
        line.field(10, Value::Number(self.sent));
        let millis = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        line.field(11, Value::Number(millis));
        line.field(
            12,
            context.upstream_millis.map_or(Value::Absent, Value::Text),
        );
        line.field(13, bytes(request.and_then(RequestLine::forwarded_for)));
        line.field(14, bytes(request.and_then(RequestLine::user_agent)));
        line.field(15, bytes(request.and_then(RequestLine::request_id)));
        line.field(16, bytes(request.and_then(RequestLine::authority)));
        let endpoint = context.attempts.endpoint.as_ref();
        line.field(17, endpoint.map_or(Value::Absent, |e| Value::Str(&e.text)));
        line.field(18, cluster.map_or(Value::Absent, Value::Str));
        line.field(19, address(context.attempts.upstream_local.as_ref()));
        line.field(20, address(addresses.map(|a| &a.ends.local)));
        line.field(21, address(addresses.map(|a| &a.ends.remote)));
        let server_name = addresses.and_then(|a| a.server_name.as_deref());
        line.field(22, server_name.map_or(Value::Absent, Value::Str));
        line.field(23, route_name.map_or(Value::Absent, Value::Str));
    }

    fn started(&self) -> SystemTime {
        match self.context.line.as_ref() {
            Some(line) => line.started,
            None => SystemTime::now() - self.duration,
        }
    }

    /// Istio's default text line.
    pub(super) fn text(&self, out: &mut Vec<u8>, clock: &mut Clock) {
        self.fields(&mut TextLine { out, clock });
        out.extend_from_slice(TEXT_END);
    }

    /// Istio's JSON encoding: the same fields, numbers as numbers, absent
    /// ones `null`.
    pub(super) fn json(&self, out: &mut Vec<u8>, clock: &mut Clock) {
        self.fields(&mut JsonLine { out, clock });
        out.extend_from_slice(b"}\n");
    }
}

/// An encoding of the line, given its fields in order.
trait Line {
    fn field(&mut self, field: usize, value: Value<'_>);
}

struct TextLine<'a> {
    out: &'a mut Vec<u8>,
    clock: &'a mut Clock,
}

impl Line for TextLine<'_> {
    #[inline(always)]
    fn field(&mut self, field: usize, value: Value<'_>) {
        let out = &mut *self.out;
        out.extend_from_slice(TEXT_BEFORE[field]);
        match value {
            Value::Time(time) => self.clock.write(out, time),
            value => value.write_text(out),
        }
    }
}

struct JsonLine<'a> {
    out: &'a mut Vec<u8>,
    clock: &'a mut Clock,
}

impl Line for JsonLine<'_> {
    #[inline(always)]
    fn field(&mut self, field: usize, value: Value<'_>) {
        let out = &mut *self.out;
        out.extend_from_slice(if field == 0 { b"{\"" } else { b",\"" });
        out.extend_from_slice(JSON_KEYS[field].as_bytes());
        out.extend_from_slice(b"\":");
        value.write_json(out, self.clock);
    }
}

const FIELDS: usize = 24;

/// What comes before each field's value in the text line (the previous
/// field's closing quote, if any, and this one's opening bracket or quote):
/// `[%START_TIME%] "%METHOD% %PATH% %PROTOCOL%" %RESPONSE_CODE% …`.
const TEXT_BEFORE: [&[u8]; FIELDS] = [
    b"[", b"] \"", b" ", b" ", b"\" ", b" ", b" ", b" ", b" \"", b"\" ", b" ", b" ", b" ", b" \"",
    b"\" \"", b"\" \"", b"\" \"", b"\" \"", b"\" ", b" ", b" ", b" ", b" ", b" ",
];

/// What follows the last field.
const TEXT_END: &[u8] = b"\n";

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
    Time(SystemTime),
}

impl Value<'_> {
    /// Envoy's text: `-` for an absent or empty value.
    #[inline(always)]
    fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Value::Absent | Value::Str("") | Value::Bytes([]) => out.push(b'-'),
            Value::Str(text) => out.extend_from_slice(text.as_bytes()),
            Value::Bytes(value) => out.extend_from_slice(value),
            Value::Number(number) | Value::Text(number) => push_number(out, *number),
            Value::Flags(flags) => flags.write_to(out),
            // Written by the line (it needs the clock).
            Value::Time(_) => {}
        }
    }

    #[inline(always)]
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

/// Below a thousand (a status, most sizes and durations) digit by digit:
/// itoa's buffer costs a copy's call besides.
#[inline]
fn push_number(out: &mut Vec<u8>, number: u64) {
    match u16::try_from(number) {
        Ok(small) if small < 1000 => push_small(out, small),
        _ => out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes()),
    }
}

/// `a.b.c.d:port`, digit by digit (IPv6 goes through the formatting
/// machinery).
fn push_address(out: &mut Vec<u8>, address: &SocketAddr) {
    match address {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            push_small(out, a.into());
            out.push(b'.');
            push_small(out, b.into());
            out.push(b'.');
            push_small(out, c.into());
            out.push(b'.');
            push_small(out, d.into());
            out.push(b':');
            push_number(out, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{address}");
        }
    }
}

/// A number below a thousand.
#[inline]
fn push_small(out: &mut Vec<u8>, number: u16) {
    debug_assert!(number < 1000);
    let digit = |value: u16| b'0' + (value % 10) as u8;
    if number >= 100 {
        out.push(digit(number / 100));
    }
    if number >= 10 {
        out.push(digit(number / 10));
    }
    out.push(digit(number));
}

/// A JSON string literal, escaped by serde_json, straight into the line.
fn json_string(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(out, text);
}

/// Envoy's `%START_TIME%` (UTC, milliseconds), the date and time to the
/// second formatted once per second.
pub(super) struct Clock {
    second: Option<u64>,
    /// `%Y-%m-%dT%H:%M:%S` of `second` (19 bytes from 1970 to 9999, all
    /// a timestamp can hold: `None` beyond, written `-`).
    text: Option<[u8; SECOND_LEN]>,
}

const SECOND_LEN: usize = "1970-01-01T00:00:00".len();

impl Clock {
    pub(super) const fn new() -> Clock {
        Clock {
            second: None,
            text: None,
        }
    }

    fn write(&mut self, out: &mut Vec<u8>, time: SystemTime) {
        let Ok(since) = time.duration_since(SystemTime::UNIX_EPOCH) else {
            out.push(b'-');
            return;
        };
        let second = since.as_secs();
        if self.second != Some(second) {
            self.text = format_second(second);
            self.second = Some(second);
        }
        match &self.text {
            Some(text) => out.extend_from_slice(text),
            None => out.push(b'-'),
        }
        let millis = since.subsec_millis();
        let digit = |value: u32| b'0' + (value % 10) as u8;
        out.extend_from_slice(&[
            b'.',
            digit(millis / 100),
            digit(millis / 10),
            digit(millis),
            b'Z',
        ]);
    }
}

/// A second since the epoch as `%Y-%m-%dT%H:%M:%S`, UTC.
fn format_second(second: u64) -> Option<[u8; SECOND_LEN]> {
    let timestamp = jiff::Timestamp::from_second(i64::try_from(second).ok()?).ok()?;
    let text = timestamp.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    text.as_bytes().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::{json_string, Clock, Record};
    use crate::flags::Flags;
    use crate::request::{ConnAddresses, Context, RequestLine};
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

    /// The date and time kept for a second agree with a fresh formatting
    /// on either side of a second's (and a day's, a year's) end, whichever
    /// way the lines' times go (a line is stamped when its request began,
    /// written when it ended).
    #[test]
    fn a_kept_second_agrees_with_a_fresh_format() {
        let fresh = |millis: u64| {
            let timestamp = jiff::Timestamp::from_millisecond(millis as i64).unwrap();
            let second = timestamp.strftime("%Y-%m-%dT%H:%M:%S");
            format!("{second}.{:03}Z", millis % 1000)
        };
        let ends = [1_764_985_845_999, 1_767_225_599_999, 999, 86_399_999];
        let mut clock = Clock::new();
        for end in ends {
            for millis in [end, end + 1, end, end - 998, end + 1001, end + 2] {
                let mut out = Vec::new();
                clock.write(
                    &mut out,
                    SystemTime::UNIX_EPOCH + Duration::from_millis(millis),
                );
                assert_eq!(String::from_utf8(out).unwrap(), fresh(millis), "{millis}");
            }
        }
        let mut out = Vec::new();
        clock.write(&mut out, SystemTime::UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(out, b"-");
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
            // The widest an address can be.
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
        ] {
            out.clear();
            super::push_address(&mut out, &address.parse().unwrap());
            assert_eq!(String::from_utf8_lossy(&out), address);
            let formatted = super::Address::new(&address.parse().unwrap());
            assert_eq!(String::from_utf8_lossy(formatted.as_bytes()), address);
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
    /// Every field a request can fill, in both encodings, byte for byte.
    #[test]
    fn a_full_line_is_written_byte_for_byte() {
        let request = http::Request::get("http://example.com/a?b=1")
            .header("user-agent", "curl/8")
            .header("x-request-id", "id-1")
            .header("x-forwarded-for", "10.0.0.1")
            .body(())
            .unwrap();
        let mut context = Context::new(80);
        let mut line = RequestLine::of(&request);
        line.started = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_985_845_123);
        let mut sent = http::HeaderMap::new();
        sent.insert("x-forwarded-for", "10.0.0.1,10.1.2.3".parse().unwrap());
        line.sent(&sent);
        context.line = Some(line);
        context.upstream_millis = Some(1234);
        context.flags.insert(Flags::UPSTREAM_RETRY_LIMIT_EXCEEDED);
        context
            .flags
            .insert(Flags::DOWNSTREAM_CONNECTION_TERMINATION);
        let upstream_local = "10.1.0.5:40000".parse().unwrap();
        context.attempts.upstream_local = Some(super::Address::new(&upstream_local));
        let mut addresses = ConnAddresses::new(
            "10.1.2.3:8080".parse().unwrap(),
            "[2001:db8::7]:15001".parse().unwrap(),
        );
        addresses.server_name = Some("example.com".into());
        let record = Record {
            context: &context,
            addresses: Some(&addresses),
            status: 503,
            sent: 12345,
            duration: Duration::from_millis(1500),
        };
        let mut text = Vec::new();
        record.text(&mut text, &mut Clock::new());
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "[2025-12-06T01:50:45.123Z] \"GET /a?b=1 HTTP/1.1\" 503 DC,URX via_upstream - \"-\" \
             0 12345 1500 1234 \"10.0.0.1,10.1.2.3\" \"curl/8\" \"id-1\" \"example.com\" \"-\" - \
             10.1.0.5:40000 10.1.2.3:8080 [2001:db8::7]:15001 example.com -\n"
        );
        let mut json = Vec::new();
        record.json(&mut json, &mut Clock::new());
        assert_eq!(
            String::from_utf8(json).unwrap(),
            "{\"start_time\":\"2025-12-06T01:50:45.123Z\",\"method\":\"GET\",\"path\":\"/a?b=1\",\
             \"protocol\":\"HTTP/1.1\",\"response_code\":503,\"response_flags\":\"DC,URX\",\
             \"response_code_details\":\"via_upstream\",\"connection_termination_details\":null,\
             \"upstream_transport_failure_reason\":null,\"bytes_received\":0,\"bytes_sent\":12345,\
             \"duration\":1500,\"upstream_service_time\":\"1234\",\
             \"x_forwarded_for\":\"10.0.0.1,10.1.2.3\",\"user_agent\":\"curl/8\",\
             \"request_id\":\"id-1\",\"authority\":\"example.com\",\"upstream_host\":null,\
             \"upstream_cluster\":null,\"upstream_local_address\":\"10.1.0.5:40000\",\
             \"downstream_local_address\":\"10.1.2.3:8080\",\
             \"downstream_remote_address\":\"[2001:db8::7]:15001\",\
             \"requested_server_name\":\"example.com\",\"route_name\":null}\n"
        );
    }

    /// A request's text past what its line keeps inline moves to the heap
    /// whole.
    #[test]
    fn a_long_request_line_is_kept_whole() {
        let path = format!("/{}", "p".repeat(300));
        let agent = "a".repeat(200);
        let request = http::Request::get(format!("http://example.com{path}"))
            .header("user-agent", agent.as_str())
            .body(())
            .unwrap();
        let line = RequestLine::of(&request);
        assert_eq!(line.path(), path.as_bytes());
        assert_eq!(line.user_agent(), Some(agent.as_bytes()));
        assert_eq!(line.authority(), Some(&b"example.com"[..]));
        assert_eq!(line.method(), b"GET");
    }
}
