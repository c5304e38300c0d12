//! Consistent hashing (Istio `consistentHash`), as Envoy does it: the
//! request's key (a header, a cookie, the client's IP, a query parameter)
//! hashed with xxHash64, looked up in a ring (Ketama: each endpoint at many
//! points, the first point at or after the hash wins) or in a Maglev
//! table. Both are built when the endpoints change, never per request,
//! from the endpoints' addresses hashed the way Envoy hashes them, so a
//! key maps to the same endpoint on every replica.
//!
//! A request that lacks a cookie the policy hashes gets one made (when the
//! policy gives a ttl), in a `Set-Cookie` on its response, so that its
//! next requests stick.

use std::sync::Arc;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request};
use vestibule_ir::{ConsistentHash, HashKey, HashTable};
use xxhash_rust::xxh64::xxh64;

use crate::body::RequestBody;
use crate::upstream::clusters::EndpointState;

/// Envoy's bound on a ring.
const MAX_RING: u64 = 8 * 1024 * 1024;

/// A table built for one list of endpoints.
#[derive(Debug)]
pub(crate) enum Table {
    /// Points sorted by hash.
    Ring(Vec<(u64, Arc<EndpointState>)>),
    /// Each entry an index into `hosts`.
    Maglev {
        hosts: Vec<Arc<EndpointState>>,
        entries: Vec<u32>,
    },
}

impl Table {
    pub(crate) fn build(table: HashTable, endpoints: &[Arc<EndpointState>]) -> Table {
        match table {
            HashTable::Ring { minimum_size } => ring(minimum_size, endpoints),
            HashTable::Maglev { table_size } => maglev(table_size, endpoints),
        }
    }

    /// The endpoint for `hash`, or the next one on from it that `usable`
    /// accepts (retries avoid the endpoints tried, balancing the ejected).
    pub(crate) fn pick(
        &self,
        hash: u64,
        usable: impl Fn(&Arc<EndpointState>) -> bool,
    ) -> Option<Arc<EndpointState>> {
        match self {
            Table::Ring(points) => {
                if points.is_empty() {
                    return None;
                }
                let start = points.partition_point(|(point, _)| *point < hash) % points.len();
                (0..points.len())
                    .map(|offset| &points[(start + offset) % points.len()].1)
                    .find(|endpoint| usable(endpoint))
                    .cloned()
            }
            Table::Maglev { hosts, entries } => {
                if hosts.is_empty() {
                    return None;
                }
                let len = entries.len() as u64;
                let start = hash % len;
                (0..len)
                    .map(|offset| &hosts[entries[((start + offset) % len) as usize] as usize])
                    .find(|endpoint| usable(endpoint))
                    .cloned()
            }
        }
    }
}

/// Envoy's ring: with equal weights, each endpoint gets
/// `ceil(minimum / n)` points, hashed from `"{address}_{i}"`.
fn ring(minimum: u64, endpoints: &[Arc<EndpointState>]) -> Table {
    let count = endpoints.len() as u64;
    if count == 0 {
        return Table::Ring(Vec::new());
    }
    let per_endpoint = minimum.div_ceil(count).min(MAX_RING / count).max(1);
    let mut points = Vec::with_capacity((per_endpoint * count) as usize);
    for endpoint in endpoints {
        let address = endpoint.address.to_string();
        for index in 0..per_endpoint {
            let key = format!("{address}_{index}");
            points.push((xxh64(key.as_bytes(), 0), Arc::clone(endpoint)));
        }
    }
    points.sort_by_key(|(point, _)| *point);
    Table::Ring(points)
}

/// Maglev's population: each endpoint walks its own permutation of the
/// table (offset and skip from its address), taking turns to claim the
/// next free entry, until every entry is claimed.
fn maglev(size: u64, endpoints: &[Arc<EndpointState>]) -> Table {
    // Only a prime size lets every permutation reach every entry (the
    // translator accepts no other); anything else gets Envoy's default.
    let size = if HashTable::valid_maglev_size(size) {
        size
    } else {
        HashTable::DEFAULT_MAGLEV_SIZE
    };
    let hosts = endpoints.to_vec();
    if hosts.is_empty() {
        return Table::Maglev {
            hosts,
            entries: Vec::new(),
        };
    }
    let permutations: Vec<(u64, u64)> = hosts
        .iter()
        .map(|host| {
            let address = host.address.to_string();
            let offset = xxh64(address.as_bytes(), 0) % size;
            let skip = xxh64(address.as_bytes(), 1) % (size - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; hosts.len()];
    let mut entries = vec![u32::MAX; size as usize];
    let mut filled = 0u64;
    'fill: loop {
        for (index, (offset, skip)) in permutations.iter().enumerate() {
            let mut slot = (offset + skip * next[index]) % size;
            while entries[slot as usize] != u32::MAX {
                next[index] += 1;
                slot = (offset + skip * next[index]) % size;
            }
            entries[slot as usize] = index as u32;
            next[index] += 1;
            filled += 1;
            if filled == size {
                break 'fill;
            }
        }
    }
    Table::Maglev { hosts, entries }
}

/// The hash of `request`'s key, and a `Set-Cookie` for its response when
/// the policy hashes a cookie the request lacks and gives it a ttl.
/// `None`: the request has no key (it is balanced as the cluster's
/// `simple` policy says).
pub(crate) fn request_hash(
    policy: &ConsistentHash,
    request: &Request<RequestBody>,
    client_ip: &HeaderValue,
) -> (Option<u64>, Option<HeaderValue>) {
    match &policy.key {
        HashKey::Header(name) => (header_hash(request.headers(), name), None),
        HashKey::SourceIp => (Some(xxh64(client_ip.as_bytes(), 0)), None),
        HashKey::QueryParameter(name) => {
            let value = request.uri().query().and_then(|query| {
                query.split('&').find_map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (key == name).then_some(value)
                })
            });
            (value.map(|value| xxh64(value.as_bytes(), 0)), None)
        }
        HashKey::Cookie { name, path, ttl } => {
            if let Some(value) = cookie(request.headers(), name) {
                return (Some(xxh64(value.as_bytes(), 0)), None);
            }
            let Some(ttl) = ttl else {
                return (None, None);
            };
            let value = format!("{:016x}", fastrand::u64(..));
            let mut header = format!("{name}=\"{value}\"");
            if !ttl.is_zero() {
                header.push_str(&format!("; Max-Age={}", ttl.as_secs()));
            }
            if let Some(path) = path {
                header.push_str(&format!("; Path={path}"));
            }
            header.push_str("; HttpOnly");
            (
                Some(xxh64(value.as_bytes(), 0)),
                HeaderValue::from_str(&header).ok(),
            )
        }
    }
}

/// A header's values hashed: one value as it is, several joined by
/// commas, as the header would read folded.
fn header_hash(headers: &HeaderMap, name: &str) -> Option<u64> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let rest: Vec<&[u8]> = values.map(HeaderValue::as_bytes).collect();
    if rest.is_empty() {
        return Some(xxh64(first.as_bytes(), 0));
    }
    let mut joined = first.as_bytes().to_vec();
    for value in rest {
        joined.push(b',');
        joined.extend_from_slice(value);
    }
    Some(xxh64(&joined, 0))
}

/// A cookie's value from the request's `Cookie` headers (quotes around it
/// removed).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.trim_matches('"'))
        })
}

/// Adds the made cookie to a response.
pub(crate) fn set_cookie(headers: &mut HeaderMap, cookie: HeaderValue) {
    headers.append(SET_COOKIE, cookie);
}
