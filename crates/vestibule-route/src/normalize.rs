//! Request-target normalization before matching (Envoy `normalize_path` +
//! `merge_slashes`, Istio's default `pathNormalization: BASE`).
//!
//! The proxy matches on the normalized path *and forwards it*, so the route
//! that was chosen and the application that serves it see the same path
//! (research D.5). An already-normal path is returned borrowed: the common
//! case costs one scan and no allocation.

use std::borrow::Cow;
use std::fmt;

/// A request path ready for matching, and the query exactly as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath<'a> {
    /// Starts with `/`, or is `*` (`OPTIONS *`).
    pub path: Cow<'a, str>,
    /// The raw query, without the `?`; `None` when the target had no `?`.
    pub query: Option<&'a str>,
}

/// Why a request path was refused (the proxy answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidPath {
    /// The path neither starts with `/` nor is `*`.
    NotAbsolute,
    /// A `%` not followed by two hex digits (`%zz`, `%4`).
    BadPercentEncoding { offset: usize },
    /// A byte that may not appear unencoded in a path (control, space,
    /// non-ASCII, `\`, `<`, `>`, …).
    DisallowedByte { byte: u8, offset: usize },
}

impl fmt::Display for InvalidPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidPath::NotAbsolute => f.write_str("request path does not start with '/'"),
            InvalidPath::BadPercentEncoding { offset } => {
                write!(f, "invalid percent-encoding at byte {offset} of the path")
            }
            InvalidPath::DisallowedByte { byte, offset } => {
                write!(f, "byte 0x{byte:02X} at {offset} is not allowed in a path")
            }
        }
    }
}

impl std::error::Error for InvalidPath {}

/// Normalizes `path_and_query` as sent (`/a/./b//c?x=1`): strips a
/// `#fragment`, splits off the query, decodes percent-encoded unreserved
/// characters, upper-cases the hex of other escapes (`%2f` → `%2F`, which
/// stays encoded, as does `%5C`), removes dot segments (RFC 3986 §5.2.4) and
/// merges slashes.
pub fn normalize_path(path_and_query: &str) -> Result<NormalizedPath<'_>, InvalidPath> {
    // A fragment is never sent on the wire and must never be forwarded; it
    // starts at the first '#', even inside what looks like the query.
    // Byte scans: targets are short, and the char searcher's set-up costs
    // more than the scan.
    let target = match path_and_query.bytes().position(|byte| byte == b'#') {
        Some(hash) => &path_and_query[..hash],
        None => path_and_query,
    };
    let (path, query) = match target.bytes().position(|byte| byte == b'?') {
        Some(mark) => (&target[..mark], Some(&target[mark + 1..])),
        None => (target, None),
    };
    if path == "*" {
        return Ok(NormalizedPath {
            path: Cow::Borrowed(path),
            query,
        });
    }
    if !path.starts_with('/') {
        return Err(InvalidPath::NotAbsolute);
    }
    let path = if scan(path)? {
        Cow::Owned(rebuild(path))
    } else {
        Cow::Borrowed(path)
    };
    Ok(NormalizedPath { path, query })
}

/// What one byte of a raw path is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Taken as it is.
    Plain,
    Slash,
    Percent,
    Disallowed,
}

/// RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`) plus `"{}|^[]`, which
/// the `http` crate accepts in a path for clients that send JSON unencoded.
/// A raw `\` is refused: some servers read it as `/`, so it could smuggle a
/// path past a prefix match (`/public\..\admin`). Encoded, `%5C` is kept.
const fn classify(byte: u8) -> Class {
    match byte {
        b'/' => Class::Slash,
        b'%' => Class::Percent,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => Class::Plain,
        b'-' | b'.' | b'_' | b'~' => Class::Plain,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => Class::Plain,
        b':' | b'@' => Class::Plain,
        b'"' | b'{' | b'}' | b'|' | b'^' | b'[' | b']' => Class::Plain,
        _ => Class::Disallowed,
    }
}

/// `classify` for every byte, looked up once per byte of the path.
const CLASSES: [Class; 256] = {
    let mut classes = [Class::Disallowed; 256];
    let mut byte = 0;
    while byte < 256 {
        classes[byte] = classify(byte as u8);
        byte += 1;
    }
    classes
};

/// RFC 3986 §2.3: `ALPHA / DIGIT / "-" / "." / "_" / "~"`. Only these are
/// decoded: "URIs that differ in the replacement of an unreserved character
/// with its corresponding percent-encoded US-ASCII octet are equivalent".
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// The octet encoded by the `%XX` at `offset`.
fn escape_at(bytes: &[u8], offset: usize) -> Result<u8, InvalidPath> {
    let digit = |at: usize| bytes.get(at).copied().and_then(hex_value);
    match (digit(offset + 1), digit(offset + 2)) {
        (Some(high), Some(low)) => Ok(high << 4 | low),
        _ => Err(InvalidPath::BadPercentEncoding { offset }),
    }
}

fn is_dot_segment(segment: &[u8]) -> bool {
    segment == b"." || segment == b".."
}

/// Validates `path` (which starts with `/`) and tells whether normalizing
/// would change it.
fn scan(path: &str) -> Result<bool, InvalidPath> {
    let bytes = path.as_bytes();
    let mut changes = false;
    let mut segment_start = 0;
    let mut offset = 0;
    while offset < bytes.len() {
        let byte = bytes[offset];
        match CLASSES[usize::from(byte)] {
            Class::Plain => {}
            Class::Slash => {
                let previous_was_slash = offset > 0 && bytes[offset - 1] == b'/';
                changes |= previous_was_slash || is_dot_segment(&bytes[segment_start..offset]);
                segment_start = offset + 1;
            }
            Class::Percent => {
                let octet = escape_at(bytes, offset)?;
                let lower_hex = bytes[offset + 1..offset + 3]
                    .iter()
                    .any(u8::is_ascii_lowercase);
                changes |= lower_hex || is_unreserved(octet);
                offset += 2;
            }
            Class::Disallowed => return Err(InvalidPath::DisallowedByte { byte, offset }),
        }
        offset += 1;
    }
    Ok(changes || is_dot_segment(&bytes[segment_start..]))
}

/// The slow path, for a path `scan` accepted and found not normal.
fn rebuild(path: &str) -> String {
    let mut normal = remove_dot_segments(&decode_unreserved(path));
    merge_slashes(&mut normal);
    normal
}

/// Decodes escapes of unreserved characters and upper-cases the others.
/// `path` was validated by `scan`: every escape is complete and every other
/// byte is ASCII.
fn decode_unreserved(path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut offset = 0;
    while offset < bytes.len() {
        let byte = bytes[offset];
        offset += 1;
        if byte != b'%' {
            decoded.push(char::from(byte));
            continue;
        }
        let Ok(octet) = escape_at(bytes, offset - 1) else {
            continue;
        };
        offset += 2;
        if is_unreserved(octet) {
            decoded.push(char::from(octet));
        } else {
            decoded.push('%');
            decoded.push(char::from(HEX[usize::from(octet >> 4)]));
            decoded.push(char::from(HEX[usize::from(octet & 0x0F)]));
        }
    }
    decoded
}

/// RFC 3986 §5.2.4 for an absolute path, segment by segment: `.` is dropped,
/// `..` drops the segment before it ("a leading `..` cannot climb above the
/// root"), and a final `.` or `..` leaves a trailing `/` (`/a/b/..` → `/a/`).
/// Empty segments are kept here, as Envoy merges slashes only afterwards
/// (`/a//../b` → `/a/b`).
fn remove_dot_segments(path: &str) -> String {
    let mut output = String::with_capacity(path.len());
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." => {}
            ".." => {
                let parent = output.rfind('/').unwrap_or(0);
                output.truncate(parent);
            }
            _ => {
                output.push('/');
                output.push_str(segment);
                continue;
            }
        }
        if last {
            output.push('/');
        }
    }
    if output.is_empty() {
        output.push('/');
    }
    output
}

/// Envoy `merge_slashes`: `//` → `/`.
fn merge_slashes(path: &mut String) {
    let mut previous_was_slash = false;
    path.retain(|c| {
        let keep = !(c == '/' && previous_was_slash);
        previous_was_slash = c == '/';
        keep
    });
}

/// The host used to pick a virtual host: lower-case, without a port (also
/// after an IPv6 literal, `[::1]:8080` → `[::1]`) or trailing dots.
/// Istio ignores the port in host matching, and the Gateway API says an
/// implementation "MUST ignore any port value specified in the HTTP Host
/// header". Borrowed when already normal.
///
/// `None` when the authority is not spelled as RFC 3986 §3.2.2 allows a
/// host and port (`reg-name` characters, an `IP-literal`'s brackets and
/// colons, percent-escapes): the proxy answers 400, as Envoy does for an
/// invalid `:authority`. Userinfo (`a@host`) is refused too, though Envoy
/// now lets `@` through: a host that routing and a backend could each read
/// differently has no business at the edge.
pub fn normalize_host(authority: &str) -> Option<Cow<'_, str>> {
    // One pass over the bytes (this runs on every request), a table lookup
    // and an OR per byte: whether any may not be in an authority, whether
    // any is a colon or a bracket, whether any is upper case.
    let seen = authority
        .bytes()
        .fold(0, |seen, byte| seen | AUTHORITY_CLASS[usize::from(byte)]);
    if seen & REFUSED != 0 {
        return None;
    }
    let host = if seen & PORT_OR_LITERAL != 0 {
        strip_port(authority)
    } else {
        authority
    };
    // The root's dots go (all of them, as from configured hosts: one at a
    // time would leave `a..` a different host on a second reading),
    // unless what is left is no host name at all (`a:8.`: a colon that is
    // no port's): taking it would make a port of `:8` the next time.
    let name = host.trim_end_matches('.');
    let host = if seen & PORT_OR_LITERAL == 0 || !name.contains(':') || host.starts_with('[') {
        name
    } else {
        host
    };
    Some(
        if seen & UPPER != 0 && host.bytes().any(|byte| byte.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        },
    )
}

/// [`AUTHORITY_CLASS`]: a byte no authority may hold.
const REFUSED: u8 = 1;
/// [`AUTHORITY_CLASS`]: `:` or `[`, a port or an IP literal to look at.
const PORT_OR_LITERAL: u8 = 2;
/// [`AUTHORITY_CLASS`]: an upper-case letter.
const UPPER: u8 = 4;

/// What each byte is in an authority. It may hold RFC 3986 `unreserved`,
/// `sub-delims`, `%` of an escape, `:` of a port or an IPv6 literal, and
/// its brackets; anything else is [`REFUSED`].
static AUTHORITY_CLASS: [u8; 256] = {
    let mut table = [REFUSED; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_uppercase() {
            table[byte] = UPPER;
        } else if matches!(b, b':' | b'[') {
            table[byte] = PORT_OR_LITERAL;
        } else if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b']'
                    | b'%'
            )
        {
            table[byte] = 0;
        }
        byte += 1;
    }
    table
};

/// `host:port` → `host`, `[v6]:port` → `[v6]`; a bare IPv6 address (several
/// colons, invalid in a Host header) is left whole.
fn strip_port(host: &str) -> &str {
    let bytes = host.as_bytes();
    if bytes.first() == Some(&b'[') {
        return match bytes.iter().position(|&byte| byte == b']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match bytes.iter().rposition(|&byte| byte == b':') {
        Some(colon)
            if !bytes[..colon].contains(&b':')
                && bytes[colon + 1..].iter().all(u8::is_ascii_digit) =>
        {
            &host[..colon]
        }
        _ => host,
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
