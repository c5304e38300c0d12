//! The access log, in Istio's default format (Envoy's text format with
//! Istio's fields) or its JSON encoding, written off the request path.
//!
//! A finished request hands its context to a bounded channel and goes on;
//! one thread formats and writes in batches. It never blocks a request: a
//! full channel drops the line and counts it. The thread waits a few
//! milliseconds between batches, so under load it is never parked on the
//! channel and senders never pay for waking it.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use vestibule_ir::EndpointAddress;

use crate::flags::Flags;
use crate::request::{ConnInfo, Context, RequestLine};

/// Lines that may wait for the writer; beyond, lines are dropped (and
/// counted). The writer takes them every few milliseconds: at 100,000
/// requests a second, 4,096 is 8 times what a pause lets pile up.
/// Entries travel by value (the channel's slots are allocated once, when
/// the log starts): nothing is allocated per line on the request path, or
/// freed on the writer's thread.
const CAPACITY: usize = 4 * 1024;

/// The pause between batches.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// Bytes formatted before a write.
const WRITE_SIZE: usize = 64 * 1024;

/// Istio's `accessLogEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Text,
    Json,
}

/// Istio's `accessLogFile` and `accessLogEncoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// On from the start (Istio's `accessLogFile` set); off, an Istio
    /// Telemetry can still turn it on.
    pub enabled: bool,
    /// A file appended to; `/dev/stdout` (Istio's usual) or `-` for the
    /// process's standard output.
    pub path: PathBuf,
    pub encoding: Encoding,
}

impl Default for AccessLogConfig {
    /// Off; to standard output in Istio's text format once turned on.
    fn default() -> AccessLogConfig {
        AccessLogConfig {
            enabled: false,
            path: PathBuf::from("/dev/stdout"),
            encoding: Encoding::Text,
        }
    }
}

/// The request path's end of the log.
pub(crate) struct AccessLog {
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

// Entries by value on purpose: see `CAPACITY`.
#[allow(clippy::large_enum_variant)]
enum Message {
    Entry(Entry),
    /// Write out everything before this, then answer.
    Flush(SyncSender<()>),
}

impl AccessLog {
    /// Opens the file and starts the writer.
    pub(crate) fn start(config: &AccessLogConfig) -> io::Result<AccessLog> {
        let out: Box<dyn io::Write + Send> =
            if config.path.as_os_str() == "-" || config.path.as_os_str() == "/dev/stdout" {
                Box::new(io::stdout())
            } else {
                Box::new(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&config.path)?,
                )
            };
        let (sender, receiver) = mpsc::sync_channel(CAPACITY);
        let encoding = config.encoding;
        std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_batches(&receiver, out, encoding))?;
        Ok(AccessLog {
            sender,
            dropped: Arc::default(),
        })
    }

    pub(crate) fn send(&self, entry: Entry) {
        match self.sender.try_send(Message::Entry(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the writer fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits (a bounded while) until every line sent so far is written.
    pub(crate) fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(5));
        }
    }
}

fn write_batches(
    receiver: &Receiver<Message>,
    mut out: Box<dyn io::Write + Send>,
    encoding: Encoding,
) {
    let mut text = String::with_capacity(WRITE_SIZE);
    let mut clock = Clock::default();
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Entry(entry) => {
                    match encoding {
                        Encoding::Text => entry.text(&mut text, &mut clock),
                        Encoding::Json => entry.json(&mut text, &mut clock),
                    }
                    if text.len() >= WRITE_SIZE {
                        write_out(&mut out, &mut text);
                    }
                }
                Message::Flush(done) => {
                    write_out(&mut out, &mut text);
                    let _ = done.send(());
                }
            }
            next = receiver.try_recv().ok();
        }
        write_out(&mut out, &mut text);
        std::thread::sleep(BATCH_PAUSE);
    }
}

fn write_out(out: &mut Box<dyn io::Write + Send>, text: &mut String) {
    if text.is_empty() {
        return;
    }
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::warn!(%error, "access log not written");
    }
    text.clear();
}

/// One finished request, as the writer formats it.
pub(crate) struct Entry {
    context: Context,
    status: u16,
    sent: u64,
    duration: Duration,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    server_name: Option<Arc<str>>,
}

impl Entry {
    pub(crate) fn new(
        context: Context,
        conn: &ConnInfo,
        status: u16,
        sent: u64,
        duration: Duration,
    ) -> Entry {
        let addresses = conn.peer.addresses.as_deref();
        Entry {
            context,
            status,
            sent,
            duration,
            local: addresses.map(|a| a.local),
            remote: addresses.map(|a| a.remote),
            server_name: addresses.and_then(|a| a.server_name.clone()),
        }
    }

    /// The fields of Istio's default format, in its order, borrowed from
    /// the entry (formatting allocates nothing per field).
    fn fields(&self) -> [Value<'_>; FIELDS] {
        let context = &self.context;
        let line = context.line.as_ref();
        fn bytes(value: Option<&[u8]>) -> Value<'_> {
            value.map_or(Value::Absent, Value::Bytes)
        }
        let (route_name, cluster) = context.names();
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
                .map_or(Value::Absent, |endpoint| Value::Endpoint(&endpoint.address)),
            cluster.map_or(Value::Absent, Value::Str),
            context
                .attempts
                .upstream_local
                .map_or(Value::Absent, Value::Address),
            self.local.map_or(Value::Absent, Value::Address),
            self.remote.map_or(Value::Absent, Value::Address),
            self.server_name
                .as_deref()
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
    fn text(&self, out: &mut String, clock: &mut Clock) {
        for (field, value) in self.fields().iter().enumerate() {
            let (before, quoted) = TEXT_LAYOUT[field];
            out.push_str(before);
            match value {
                Value::Time(time) => {
                    out.push('[');
                    clock.write(out, *time);
                    out.push(']');
                }
                value if quoted => {
                    out.push('"');
                    value.write_text(out);
                    out.push('"');
                }
                value => value.write_text(out),
            }
        }
        out.push('\n');
    }

    /// Istio's JSON encoding: the same fields, numbers as numbers, absent
    /// ones `null`.
    fn json(&self, out: &mut String, clock: &mut Clock) {
        out.push('{');
        for (field, value) in self.fields().iter().enumerate() {
            if field > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(JSON_KEYS[field]);
            out.push_str("\":");
            value.write_json(out, clock);
        }
        out.push_str("}\n");
    }
}

const FIELDS: usize = 24;

/// What comes before each field of the text line, and whether it is quoted:
/// `[%START_TIME%] "%METHOD% %PATH% %PROTOCOL%" %RESPONSE_CODE% …`.
const TEXT_LAYOUT: [(&str, bool); FIELDS] = [
    ("", false),
    (" \"", false),
    (" ", false),
    (" ", false),
    ("\" ", false),
    (" ", false),
    (" ", false),
    (" ", false),
    (" ", true),
    (" ", false),
    (" ", false),
    (" ", false),
    (" ", false),
    (" ", true),
    (" ", true),
    (" ", true),
    (" ", true),
    (" ", true),
    (" ", false),
    (" ", false),
    (" ", false),
    (" ", false),
    (" ", false),
    (" ", false),
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
    Endpoint(&'a EndpointAddress),
    Time(SystemTime),
}

impl Value<'_> {
    /// Envoy's text: `-` for an absent or empty value.
    fn write_text(&self, out: &mut String) {
        match self {
            Value::Absent => out.push('-'),
            Value::Str("") => out.push('-'),
            Value::Str(text) => out.push_str(text),
            Value::Bytes(value) => push_bytes(out, value),
            Value::Number(number) | Value::Text(number) => {
                out.push_str(itoa::Buffer::new().format(*number));
            }
            Value::Flags(flags) => flags.write_to(out),
            Value::Address(address) => push_address(out, address),
            Value::Endpoint(EndpointAddress::Socket(address)) => push_address(out, address),
            Value::Endpoint(EndpointAddress::Dns { host, port }) => {
                out.push_str(host);
                out.push(':');
                out.push_str(itoa::Buffer::new().format(*port));
            }
            // Written by the line (it needs the clock).
            Value::Time(_) => {}
        }
    }

    fn write_json(&self, out: &mut String, clock: &mut Clock) {
        match self {
            Value::Absent => out.push_str("null"),
            Value::Number(number) => out.push_str(itoa::Buffer::new().format(*number)),
            Value::Str(text) => json_string(out, text),
            Value::Bytes(value) => match std::str::from_utf8(value) {
                Ok(text) => json_string(out, text),
                Err(_) => json_string(out, &String::from_utf8_lossy(value)),
            },
            Value::Time(time) => {
                out.push('"');
                clock.write(out, *time);
                out.push('"');
            }
            // Flags, addresses, host names and numbers as text: nothing in
            // them needs escaping.
            other => {
                out.push('"');
                other.write_text(out);
                out.push('"');
            }
        }
    }
}

/// A request's text; `-` when empty, as Envoy prints it.
fn push_bytes(out: &mut String, value: &[u8]) {
    match std::str::from_utf8(value) {
        Ok("") => out.push('-'),
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(value)),
    }
}

/// `a.b.c.d:port` without the formatting machinery (IPv6 goes through it).
fn push_address(out: &mut String, address: &SocketAddr) {
    match address {
        SocketAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (index, octet) in v4.ip().octets().iter().enumerate() {
                if index > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(*octet));
            }
            out.push(':');
            out.push_str(digits.format(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{address}");
        }
    }
}

/// A JSON string literal, escaped by serde_json, straight into the line.
fn json_string(out: &mut String, text: &str) {
    // serde_json splits its output only around the escapes it writes, so
    // every piece is whole UTF-8.
    struct Line<'a>(&'a mut String);
    impl io::Write for Line<'_> {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let text = std::str::from_utf8(bytes)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            self.0.push_str(text);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let _ = serde_json::to_writer(Line(out), text);
}

/// Envoy's `%START_TIME%` (UTC, milliseconds), the date and time to the
/// second formatted once per second.
#[derive(Default)]
pub(crate) struct Clock {
    second: Option<u64>,
    text: String,
}

impl Clock {
    fn write(&mut self, out: &mut String, time: SystemTime) {
        let Ok(since) = time.duration_since(SystemTime::UNIX_EPOCH) else {
            out.push('-');
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
        out.push_str(&self.text);
        out.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
        out.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::{json_string, Clock};
    use std::time::{Duration, SystemTime};

    #[test]
    fn start_times_are_utc_with_milliseconds() {
        let mut clock = Clock::default();
        let mut out = String::new();
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_985_845_123);
        clock.write(&mut out, time);
        clock.write(&mut out, time + Duration::from_millis(800));
        assert_eq!(out, "2025-12-06T01:50:45.123Z2025-12-06T01:50:45.923Z");
    }

    #[test]
    fn addresses_are_written_as_envoy_writes_them() {
        let mut out = String::new();
        for address in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.1.20.100:8080",
            "127.0.0.1:9",
            "[::1]:443",
            "[2001:db8::7]:15001",
        ] {
            out.clear();
            super::push_address(&mut out, &address.parse().unwrap());
            assert_eq!(out, address);
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\u{1}");
        assert_eq!(out, r#""a\"b\\c\u0001""#);
    }
}
