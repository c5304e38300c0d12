//! The `date` header every response carries (hyper and Envoy add it too),
//! formatted once per second per thread rather than per response.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, DATE};
use http::HeaderValue;

thread_local! {
    static CACHED: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// Adds `date` unless the response has one (the upstream's is kept).
pub(crate) fn ensure(headers: &mut HeaderMap) {
    headers.entry(DATE).or_insert_with(now);
}

pub(crate) fn now() -> HeaderValue {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            let text = httpdate::fmt_http_date(now);
            cached.1 = HeaderValue::from_str(&text).expect("an HTTP date is a valid header value");
            cached.0 = second;
        }
        cached.1.clone()
    })
}
