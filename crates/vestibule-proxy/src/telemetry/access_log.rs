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

use crate::request::{ConnInfo, Context, RequestLine};

/// Lines that may wait for the writer; beyond, lines are dropped (and
/// counted). At 100,000 requests a second, a quarter of a second's worth.
const CAPACITY: usize = 32 * 1024;

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
    /// A file appended to; `/dev/stdout` (Istio's usual) or `-` for the
    /// process's standard output.
    pub path: PathBuf,
    pub encoding: Encoding,
}

/// The request path's end of the log.
pub(crate) struct AccessLog {
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

enum Message {
    Entry(Box<Entry>),
    /// Write out everything before this, then answer.
    Flush(SyncSender<()>),
}

impl AccessLog {
    /// Opens the file and starts the writer.
    pub(crate) fn start(config: &AccessLogConfig) -> io::Result<AccessLog> {
        let out: Box<dyn io::Write + Send> = if config.path.as_os_str() == "-" {
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
        match self.sender.try_send(Message::Entry(Box::new(entry))) {
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
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Entry(entry) => {
                    match encoding {
                        Encoding::Text => entry.text(&mut text),
                        Encoding::Json => entry.json(&mut text),
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
        let addresses = conn.peer.addresses.as_ref();
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

    /// The fields of Istio's default format, in its order; `None` is
    /// Envoy's `-` (text) or `null` (JSON).
    fn fields(&self) -> Fields<'_> {
        let context = &self.context;
        let line = context.line.as_deref();
        let header = |value: Option<&http::HeaderValue>| {
            value.map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        let started = line.map_or_else(|| SystemTime::now() - self.duration, |line| line.started);
        let (route_name, cluster) = context.names();
        Fields {
            start_time: start_time(started),
            method: line.map(|line| line.method.as_str().to_owned()),
            path: line.map(|line| line.path.to_string()),
            protocol: line.map(RequestLine::protocol),
            response_code: self.status,
            response_flags: context.flags.to_string(),
            response_code_details: context.details,
            upstream_transport_failure_reason: context.tls_failure.map(|f| f.reason()),
            bytes_received: context.received_bytes(),
            bytes_sent: self.sent,
            duration: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            upstream_service_time: context.upstream_millis.map(|millis| millis.to_string()),
            x_forwarded_for: header(line.and_then(|l| l.forwarded_for.as_ref())),
            user_agent: header(line.and_then(|l| l.user_agent.as_ref())),
            request_id: header(line.and_then(|l| l.request_id.as_ref())),
            authority: header(line.and_then(|l| l.authority.as_ref())),
            upstream_host: context
                .attempts
                .endpoint
                .as_ref()
                .map(|endpoint| endpoint.address.to_string()),
            upstream_cluster: cluster,
            downstream_local_address: self.local.map(|a| a.to_string()),
            downstream_remote_address: self.remote.map(|a| a.to_string()),
            requested_server_name: self.server_name.as_deref(),
            route_name,
        }
    }

    /// Istio's default text line.
    fn text(&self, out: &mut String) {
        let f = self.fields();
        let dash = |value: Option<&str>| value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned();
        let _ = writeln!(
            out,
            "[{}] \"{} {} {}\" {} {} {} - \"{}\" {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} - {} {} {} {}",
            f.start_time,
            dash(f.method.as_deref()),
            dash(f.path.as_deref()),
            dash(f.protocol),
            f.response_code,
            f.response_flags,
            f.response_code_details,
            dash(f.upstream_transport_failure_reason),
            f.bytes_received,
            f.bytes_sent,
            f.duration,
            dash(f.upstream_service_time.as_deref()),
            dash(f.x_forwarded_for.as_deref()),
            dash(f.user_agent.as_deref()),
            dash(f.request_id.as_deref()),
            dash(f.authority.as_deref()),
            dash(f.upstream_host.as_deref()),
            dash(f.upstream_cluster),
            dash(f.downstream_local_address.as_deref()),
            dash(f.downstream_remote_address.as_deref()),
            dash(f.requested_server_name),
            dash(f.route_name),
        );
    }

    /// Istio's JSON encoding: the same fields, numbers as numbers, absent
    /// ones `null`.
    fn json(&self, out: &mut String) {
        let f = self.fields();
        let value = serde_json::json!({
            "start_time": f.start_time,
            "method": f.method,
            "path": f.path,
            "protocol": f.protocol,
            "response_code": f.response_code,
            "response_flags": f.response_flags,
            "response_code_details": f.response_code_details,
            "connection_termination_details": null,
            "upstream_transport_failure_reason": f.upstream_transport_failure_reason,
            "bytes_received": f.bytes_received,
            "bytes_sent": f.bytes_sent,
            "duration": f.duration,
            "upstream_service_time": f.upstream_service_time,
            "x_forwarded_for": f.x_forwarded_for,
            "user_agent": f.user_agent,
            "request_id": f.request_id,
            "authority": f.authority,
            "upstream_host": f.upstream_host,
            "upstream_cluster": f.upstream_cluster,
            "upstream_local_address": null,
            "downstream_local_address": f.downstream_local_address,
            "downstream_remote_address": f.downstream_remote_address,
            "requested_server_name": f.requested_server_name,
            "route_name": f.route_name,
        });
        out.push_str(&value.to_string());
        out.push('\n');
    }
}

struct Fields<'a> {
    start_time: String,
    method: Option<String>,
    path: Option<String>,
    protocol: Option<&'static str>,
    response_code: u16,
    response_flags: String,
    response_code_details: &'static str,
    upstream_transport_failure_reason: Option<&'static str>,
    bytes_received: u64,
    bytes_sent: u64,
    duration: u64,
    upstream_service_time: Option<String>,
    x_forwarded_for: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    authority: Option<String>,
    upstream_host: Option<String>,
    upstream_cluster: Option<&'a str>,
    downstream_local_address: Option<String>,
    downstream_remote_address: Option<String>,
    requested_server_name: Option<&'a str>,
    route_name: Option<&'a str>,
}

/// Envoy's `%START_TIME%`: UTC, milliseconds.
fn start_time(time: SystemTime) -> String {
    match jiff::Timestamp::try_from(time) {
        Ok(timestamp) => timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::start_time;
    use std::time::{Duration, SystemTime};

    #[test]
    fn start_times_are_utc_with_milliseconds() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_985_845_123);
        assert_eq!(start_time(time), "2025-12-06T01:50:45.123Z");
    }
}
