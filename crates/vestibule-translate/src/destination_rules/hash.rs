//! `loadBalancer.consistentHash` → the backend's [`ConsistentHash`]: the
//! key (one of header, cookie, source IP, query parameter) and the table
//! (ring hash, Istio's default, or Maglev). One conversion serves the
//! backend and the rule's status.

use vestibule_api::istio::ConsistentHash as Settings;
use vestibule_ir::status::Warning;
use vestibule_ir::{ConsistentHash, HashKey, HashTable};

use crate::duration::parse_duration;

/// Istio's default ring size (Envoy's `minimum_ring_size`).
const DEFAULT_RING: u64 = 1024;
/// Envoy's bound on a ring.
const MAX_RING: u64 = 8 * 1024 * 1024;

/// What `settings` ask for (`None`: nothing valid, the `simple` balancer
/// applies) and what in them is invalid or not honoured.
pub(crate) fn convert(settings: &Settings, field: &str) -> (Option<ConsistentHash>, Vec<Warning>) {
    let mut found = Vec::new();
    let key = key(settings, field, &mut found);
    let table = table(settings, field, &mut found);
    (key.map(|key| ConsistentHash { key, table }), found)
}

fn key(settings: &Settings, field: &str, found: &mut Vec<Warning>) -> Option<HashKey> {
    let mut keys = Vec::new();
    if let Some(name) = &settings.http_header_name {
        keys.push(("httpHeaderName", header_key(name, field, found)));
    }
    if let Some(cookie) = &settings.http_cookie {
        keys.push(("httpCookie", cookie_key(cookie, field, found)));
    }
    if settings.use_source_ip == Some(true) {
        keys.push(("useSourceIp", Some(HashKey::SourceIp)));
    }
    if let Some(name) = &settings.http_query_parameter_name {
        let key = if name.is_empty() {
            found.push(Warning::not_applied(format!(
                "{field}.httpQueryParameterName is empty"
            )));
            None
        } else {
            Some(HashKey::QueryParameter(name.clone()))
        };
        keys.push(("httpQueryParameterName", key));
    }
    match keys.as_slice() {
        [] => {
            found.push(Warning::not_applied(format!(
                "{field} names no key (httpHeaderName, httpCookie, useSourceIp or \
                 httpQueryParameterName): the simple balancer is used"
            )));
            None
        }
        [(_, key)] => key.clone(),
        [..] => {
            let names: Vec<&str> = keys.iter().map(|(name, _)| *name).collect();
            found.push(Warning::not_applied(format!(
                "{field} sets {} keys ({}); only one may be set: the simple balancer is used",
                names.len(),
                names.join(", ")
            )));
            None
        }
    }
}

fn header_key(name: &str, field: &str, found: &mut Vec<Warning>) -> Option<HashKey> {
    match http::HeaderName::from_bytes(name.as_bytes()) {
        Ok(header) => Some(HashKey::Header(header.as_str().to_owned())),
        Err(_) => {
            found.push(Warning::not_applied(format!(
                "{field}.httpHeaderName {name:?} is not a header name"
            )));
            None
        }
    }
}

fn cookie_key(
    cookie: &vestibule_api::istio::HttpCookie,
    field: &str,
    found: &mut Vec<Warning>,
) -> Option<HashKey> {
    let field = format!("{field}.httpCookie");
    let valid_name = !cookie.name.is_empty()
        && cookie
            .name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
    if !valid_name {
        found.push(Warning::not_applied(format!(
            "{field}.name {:?} is not a cookie name",
            cookie.name
        )));
        return None;
    }
    let ttl = match cookie.ttl.as_deref().map(parse_duration) {
        None => None,
        Some(Ok(ttl)) => Some(ttl),
        Some(Err(message)) => {
            found.push(Warning::not_applied(format!(
                "{field}.ttl: {message}; no cookie is made"
            )));
            None
        }
    };
    if !cookie.attributes.is_empty() {
        found.push(Warning::not_honoured(format!(
            "{field}.attributes are not honoured yet and are ignored"
        )));
    }
    let path = cookie.path.clone().filter(|path| !path.is_empty());
    if let Some(path) = &path {
        if path.bytes().any(|b| b.is_ascii_control() || b == b';') {
            found.push(Warning::not_applied(format!(
                "{field}.path {path:?} cannot go in a cookie"
            )));
            return None;
        }
    }
    Some(HashKey::Cookie {
        name: cookie.name.clone(),
        path,
        ttl,
    })
}

fn table(settings: &Settings, field: &str, found: &mut Vec<Warning>) -> HashTable {
    if let Some(maglev) = &settings.maglev {
        if settings.ring_hash.is_some() {
            found.push(Warning::not_applied(format!(
                "{field}: ringHash and maglev are both set: maglev is used"
            )));
        }
        let size = maglev.table_size.unwrap_or(HashTable::DEFAULT_MAGLEV_SIZE);
        if !HashTable::valid_maglev_size(size) {
            found.push(Warning::not_applied(format!(
                "{field}.maglev.tableSize {size} is not a prime up to {}: {} is used",
                HashTable::MAX_MAGLEV_SIZE,
                HashTable::DEFAULT_MAGLEV_SIZE
            )));
            return HashTable::Maglev {
                table_size: HashTable::DEFAULT_MAGLEV_SIZE,
            };
        }
        return HashTable::Maglev { table_size: size };
    }
    let size = settings
        .ring_hash
        .as_ref()
        .and_then(|ring| ring.minimum_ring_size)
        .or(settings.minimum_ring_size)
        .unwrap_or(DEFAULT_RING);
    if size == 0 || size > MAX_RING {
        found.push(Warning::not_applied(format!(
            "{field}.ringHash.minimumRingSize {size} is not from 1 to {MAX_RING}: {DEFAULT_RING} is used"
        )));
        return HashTable::Ring {
            minimum_size: DEFAULT_RING,
        };
    }
    HashTable::Ring { minimum_size: size }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(json: serde_json::Value) -> Settings {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_key_and_the_default_table() {
        let cases = [
            (
                serde_json::json!({"httpHeaderName": "X-User"}),
                HashKey::Header("x-user".to_owned()),
            ),
            (serde_json::json!({"useSourceIp": true}), HashKey::SourceIp),
            (
                serde_json::json!({"httpQueryParameterName": "user"}),
                HashKey::QueryParameter("user".to_owned()),
            ),
            (
                serde_json::json!({"httpCookie": {"name": "user", "path": "/", "ttl": "0s"}}),
                HashKey::Cookie {
                    name: "user".to_owned(),
                    path: Some("/".to_owned()),
                    ttl: Some(Duration::ZERO),
                },
            ),
        ];
        for (json, expected) in cases {
            let (hash, problems) = convert(&settings(json), "f");
            assert!(problems.is_empty(), "{problems:?}");
            let hash = hash.unwrap();
            assert_eq!(hash.key, expected);
            assert_eq!(hash.table, HashTable::Ring { minimum_size: 1024 });
        }
    }

    #[test]
    fn tables_and_their_bounds() {
        let (hash, _) = convert(
            &settings(serde_json::json!({"useSourceIp": true, "maglev": {"tableSize": 251}})),
            "f",
        );
        assert_eq!(hash.unwrap().table, HashTable::Maglev { table_size: 251 });
        let (hash, problems) = convert(
            &settings(serde_json::json!({"useSourceIp": true, "maglev": {"tableSize": 1000}})),
            "f",
        );
        assert_eq!(hash.unwrap().table, HashTable::Maglev { table_size: 65537 });
        assert!(
            problems[0].message.contains("f.maglev.tableSize 1000"),
            "{problems:?}"
        );
        let (hash, _) = convert(
            &settings(serde_json::json!({"useSourceIp": true, "minimumRingSize": 64})),
            "f",
        );
        assert_eq!(hash.unwrap().table, HashTable::Ring { minimum_size: 64 });
    }

    #[test]
    fn no_key_or_two_keys_fall_back() {
        let (hash, problems) = convert(&settings(serde_json::json!({})), "f");
        assert!(hash.is_none());
        assert!(problems[0].message.contains("names no key"), "{problems:?}");
        let (hash, problems) = convert(
            &settings(serde_json::json!({"httpHeaderName": "a", "useSourceIp": true})),
            "f",
        );
        assert!(hash.is_none());
        assert!(
            problems[0].message.contains("httpHeaderName, useSourceIp"),
            "{problems:?}"
        );
        let (hash, problems) = convert(
            &settings(serde_json::json!({"httpCookie": {"name": "a b"}})),
            "f",
        );
        assert!(hash.is_none());
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("f.httpCookie.name")),
            "{problems:?}"
        );
    }
}
