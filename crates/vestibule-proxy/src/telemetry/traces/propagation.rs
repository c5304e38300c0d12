//! Trace context in headers: W3C `traceparent` (and `tracestate`, passed
//! on as it came) and B3, multi-header (`x-b3-*`) or single (`b3`). The
//! gateway's span joins the trace a request brings, or starts one; the
//! upstream gets the trace with the gateway's span as its parent, in W3C
//! form, and in B3 form too when the request came with B3 (so that
//! services that read only B3 keep their traces whole).

use http::{HeaderMap, HeaderName, HeaderValue};

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static B3: HeaderName = HeaderName::from_static("b3");
static B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
static B3_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
static B3_PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
static B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
static B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Which form a request brought its trace in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    W3c,
    B3Multi,
    B3Single,
}

/// A trace context read from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incoming {
    pub trace_id: u128,
    pub span_id: u64,
    /// The caller's decision, when it made one.
    pub sampled: Option<bool>,
    pub form: Form,
    /// A B3 trace id of 64 bits (16 hex digits): passed on as it came.
    pub narrow: bool,
}

/// The trace context a request brings, W3C first, then B3 single, then
/// B3 multi-header; `None` when it brings none that is valid (then a new
/// trace starts).
pub(crate) fn extract(headers: &HeaderMap) -> Option<Incoming> {
    if let Some(parent) = headers.get(&TRACEPARENT) {
        if let Some(incoming) = traceparent(parent.as_bytes()) {
            return Some(incoming);
        }
    }
    // A `b3` that is not text is no context (the multi-header form may be).
    if let Some(incoming) = headers
        .get(&B3)
        .and_then(|single| b3_single(single.to_str().ok()?))
    {
        return Some(incoming);
    }
    let trace_id = headers.get(&B3_TRACE_ID)?.to_str().ok()?;
    let span_id = headers.get(&B3_SPAN_ID)?.to_str().ok()?;
    let debug = headers.get(&B3_FLAGS).is_some_and(|flags| flags == "1");
    let sampled = headers
        .get(&B3_SAMPLED)
        .and_then(|value| b3_sampled(value.to_str().ok()?));
    Some(Incoming {
        trace_id: trace_id_of(trace_id)?,
        span_id: span_id_of(span_id)?,
        sampled: if debug { Some(true) } else { sampled },
        form: Form::B3Multi,
        narrow: trace_id.len() == 16,
    })
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` (a later
/// version may append fields; all-zero ids are invalid).
fn traceparent(value: &[u8]) -> Option<Incoming> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split('-');
    let version = parts.next()?;
    let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    // Lowercase hex only, as the spec says (`from_str_radix` would take
    // uppercase and a sign).
    let lowercase_hex = |text: &str| text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ![version, trace, span, flags].into_iter().all(lowercase_hex) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(Incoming {
        trace_id: nonzero(u128::from_str_radix(trace, 16).ok()?)?,
        span_id: nonzero(u64::from_str_radix(span, 16).ok()?)?,
        sampled: Some(flags & 1 == 1),
        form: Form::W3c,
        narrow: false,
    })
}

/// `{trace id}-{span id}[-{sampling}[-{parent span id}]]`; a lone
/// sampling state (`0`, `1`, `d`) carries no context.
fn b3_single(value: &str) -> Option<Incoming> {
    let mut parts = value.split('-');
    let (trace, span) = (parts.next()?, parts.next()?);
    let sampled = match parts.next() {
        Some("d") => Some(true),
        Some(state) => b3_sampled(state),
        None => None,
    };
    Some(Incoming {
        trace_id: trace_id_of(trace)?,
        span_id: span_id_of(span)?,
        sampled,
        form: Form::B3Single,
        narrow: trace.len() == 16,
    })
}

fn b3_sampled(value: &str) -> Option<bool> {
    match value {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// A B3 trace id: 16 or 32 hex digits.
fn trace_id_of(text: &str) -> Option<u128> {
    if text.len() != 16 && text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    nonzero(u128::from_str_radix(text, 16).ok()?)
}

fn span_id_of(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    nonzero(u64::from_str_radix(text, 16).ok()?)
}

fn nonzero<T: PartialEq + Default>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// The gateway's span in a trace: what goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub trace_id: u128,
    /// The gateway's span.
    pub span_id: u64,
    /// The caller's span, when the trace came with the request.
    pub parent_id: Option<u64>,
    pub sampled: bool,
    /// B3 too, in the form it came in.
    pub b3: Option<Form>,
    /// The B3 trace id came in 16 hex digits: it goes on so.
    pub narrow: bool,
}

/// Sets the upstream request's trace headers: the gateway's span as the
/// parent (`tracestate` and other vendors' headers pass as they came).
pub(crate) fn inject(headers: &mut HeaderMap, out: &Outgoing) {
    headers.insert(TRACEPARENT.clone(), traceparent_value(out));
    // `tracestate` belongs to the W3C trace it came with: not to a new
    // trace, nor beside a B3 one.
    if out.parent_id.is_none() || out.b3.is_some() {
        headers.remove(&TRACESTATE);
    }
    let sampled = if out.sampled { "1" } else { "0" };
    let trace_id = if out.narrow {
        format!("{:016x}", out.trace_id)
    } else {
        format!("{:032x}", out.trace_id)
    };
    match out.b3 {
        Some(Form::B3Multi) => {
            headers.insert(B3_TRACE_ID.clone(), header(trace_id));
            headers.insert(B3_SPAN_ID.clone(), header(format!("{:016x}", out.span_id)));
            match out.parent_id {
                Some(parent) => {
                    headers.insert(B3_PARENT_SPAN_ID.clone(), header(format!("{parent:016x}")));
                }
                None => {
                    headers.remove(&B3_PARENT_SPAN_ID);
                }
            }
            headers.insert(B3_SAMPLED.clone(), HeaderValue::from_static(sampled));
            headers.remove(&B3_FLAGS);
        }
        Some(Form::B3Single) => {
            let mut value = format!("{trace_id}-{:016x}-{sampled}", out.span_id);
            if let Some(parent) = out.parent_id {
                value.push_str(&format!("-{parent:016x}"));
            }
            headers.insert(B3.clone(), header(value));
        }
        Some(Form::W3c) | None => {}
    }
}

/// `00-{trace id}-{span id}-{flags}`, written without `fmt` (every traced
/// request sends one).
fn traceparent_value(out: &Outgoing) -> HeaderValue {
    let mut text = [0u8; 55];
    text[..3].copy_from_slice(b"00-");
    hex_into(&mut text[3..35], out.trace_id);
    text[35] = b'-';
    hex_into(&mut text[36..52], u128::from(out.span_id));
    text[52..].copy_from_slice(if out.sampled { b"-01" } else { b"-00" });
    HeaderValue::from_bytes(&text).expect("hex digits and dashes")
}

/// `value`'s low `into.len()` hex digits, lowercase, zero-padded.
fn hex_into(into: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in into.iter_mut().rev() {
        *slot = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

fn header(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("hex digits and dashes")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::headers;

    #[test]
    fn w3c_traceparent() {
        let found = extract(&headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]))
        .unwrap();
        assert_eq!(found.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(found.span_id, 0x00f067aa0ba902b7);
        assert_eq!(found.sampled, Some(true));
        assert_eq!(found.form, Form::W3c);
        for invalid in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let value = HeaderValue::from_static(invalid);
            assert_eq!(traceparent(value.as_bytes()), None, "{invalid}");
        }
        // A later version may add fields.
        assert!(
            traceparent(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x").is_some()
        );
    }

    #[test]
    fn b3_forms() {
        let multi = extract(&headers(&[
            ("x-b3-traceid", "80f198ee56343ba8"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-sampled", "0"),
        ]))
        .unwrap();
        assert_eq!(multi.trace_id, 0x80f198ee56343ba8);
        assert_eq!(multi.sampled, Some(false));
        assert_eq!(multi.form, Form::B3Multi);
        let debug = extract(&headers(&[
            ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-flags", "1"),
        ]))
        .unwrap();
        assert_eq!(debug.sampled, Some(true));
        let single = extract(&headers(&[(
            "b3",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
        )]))
        .unwrap();
        assert_eq!(single.span_id, 0xe457b5a2e4d86bd1);
        assert_eq!(single.sampled, Some(true));
        assert_eq!(single.form, Form::B3Single);
        assert_eq!(extract(&headers(&[("b3", "0")])), None);
        // W3C wins over B3.
        let both = extract(&headers(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ]))
        .unwrap();
        assert_eq!(both.form, Form::W3c);
    }

    #[test]
    fn injection_makes_the_gateway_the_parent() {
        let mut out = headers(&[
            ("x-b3-traceid", "80f198ee56343ba8"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-flags", "1"),
        ]);
        inject(
            &mut out,
            &Outgoing {
                trace_id: 0x80f198ee56343ba8,
                span_id: 0x1111111111111111,
                parent_id: Some(0xe457b5a2e4d86bd1),
                sampled: true,
                b3: Some(Form::B3Multi),
                narrow: true,
            },
        );
        assert_eq!(
            out["traceparent"],
            "00-000000000000000080f198ee56343ba8-1111111111111111-01"
        );
        // 64 bits in, 64 bits out (W3C's traceparent is always 128).
        assert_eq!(out["x-b3-traceid"], "80f198ee56343ba8");
        assert_eq!(out["x-b3-spanid"], "1111111111111111");
        assert_eq!(out["x-b3-parentspanid"], "e457b5a2e4d86bd1");
        assert_eq!(out["x-b3-sampled"], "1");
        assert!(out.get("x-b3-flags").is_none());
        let mut single = HeaderMap::new();
        inject(
            &mut single,
            &Outgoing {
                trace_id: 1,
                span_id: 2,
                parent_id: None,
                sampled: false,
                b3: Some(Form::B3Single),
                narrow: false,
            },
        );
        assert_eq!(
            single["b3"],
            "00000000000000000000000000000001-0000000000000002-0"
        );
        assert_eq!(
            single["traceparent"],
            "00-00000000000000000000000000000001-0000000000000002-00"
        );
    }
}
