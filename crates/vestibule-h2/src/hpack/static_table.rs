//! The static table (RFC 7541 Appendix A).

/// Entries 1..=61, at positions 0..=60.
pub(crate) const ENTRIES: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The number of static entries: dynamic indexes start after it.
pub(crate) const LEN: usize = ENTRIES.len();

pub(crate) const CONTENT_LENGTH: usize = 28;
pub(crate) const CONTENT_RANGE: usize = 30;
pub(crate) const AGE: usize = 21;
pub(crate) const ETAG: usize = 34;
pub(crate) const SET_COOKIE: usize = 55;

/// Entry `index` (1-based), if static.
pub(crate) fn get(index: usize) -> Option<(&'static [u8], &'static [u8])> {
    ENTRIES.get(index.wrapping_sub(1)).copied()
}

/// The first entry with this name. A match on the length, then on the
/// bytes: no hashing, and most lengths leave one or two candidates.
pub(crate) fn name_index(name: &[u8]) -> Option<usize> {
    let index = match name.len() {
        3 => match name {
            b"age" => 21,
            b"via" => 60,
            _ => return None,
        },
        4 => match name {
            b"date" => 33,
            b"etag" => 34,
            b"from" => 37,
            b"host" => 38,
            b"link" => 45,
            b"vary" => 59,
            _ => return None,
        },
        5 => match name {
            b":path" => 4,
            b"allow" => 22,
            b"range" => 50,
            _ => return None,
        },
        6 => match name {
            b"accept" => 19,
            b"cookie" => 32,
            b"expect" => 35,
            b"server" => 54,
            _ => return None,
        },
        7 => match name {
            b":method" => 2,
            b":scheme" => 6,
            b":status" => 8,
            b"expires" => 36,
            b"referer" => 51,
            b"refresh" => 52,
            _ => return None,
        },
        8 => match name {
            b"if-match" => 39,
            b"if-range" => 42,
            b"location" => 46,
            _ => return None,
        },
        10 => match name {
            b":authority" => 1,
            b"set-cookie" => 55,
            b"user-agent" => 58,
            _ => return None,
        },
        11 => match name {
            b"retry-after" => 53,
            _ => return None,
        },
        12 => match name {
            b"content-type" => 31,
            b"max-forwards" => 47,
            _ => return None,
        },
        13 => match name {
            b"accept-ranges" => 18,
            b"authorization" => 23,
            b"cache-control" => 24,
            b"content-range" => 30,
            b"if-none-match" => 41,
            b"last-modified" => 44,
            _ => return None,
        },
        14 => match name {
            b"accept-charset" => 15,
            b"content-length" => 28,
            _ => return None,
        },
        15 => match name {
            b"accept-encoding" => 16,
            b"accept-language" => 17,
            _ => return None,
        },
        16 => match name {
            b"content-encoding" => 26,
            b"content-language" => 27,
            b"content-location" => 29,
            b"www-authenticate" => 61,
            _ => return None,
        },
        17 => match name {
            b"if-modified-since" => 40,
            b"transfer-encoding" => 57,
            _ => return None,
        },
        18 => match name {
            b"proxy-authenticate" => 48,
            _ => return None,
        },
        19 => match name {
            b"content-disposition" => 25,
            b"if-unmodified-since" => 43,
            b"proxy-authorization" => 49,
            _ => return None,
        },
        25 => match name {
            b"strict-transport-security" => 56,
            _ => return None,
        },
        27 => match name {
            b"access-control-allow-origin" => 20,
            _ => return None,
        },
        _ => return None,
    };
    Some(index)
}

/// The entry with this name (first at `name_index`) and this value.
pub(crate) fn field_index(name_index: usize, value: &[u8]) -> Option<usize> {
    let name = ENTRIES[name_index - 1].0;
    (name_index..=LEN)
        .take_while(|&i| ENTRIES[i - 1].0 == name)
        .find(|&i| ENTRIES[i - 1].1 == value)
}

#[cfg(test)]
mod tests {
    use super::{field_index, get, name_index, ENTRIES, LEN};

    #[test]
    fn name_index_finds_each_name_first_entry_and_nothing_else() {
        for (position, (name, _)) in ENTRIES.iter().enumerate() {
            let first = ENTRIES.iter().position(|(n, _)| n == name).unwrap() + 1;
            assert_eq!(name_index(name), Some(first), "{position}");
        }
        for name in [
            &b""[..],
            b"x-envoy-upstream-service-time",
            b"Date",
            b"dat",
            b"content-typ",
        ] {
            assert_eq!(name_index(name), None);
        }
    }

    #[test]
    fn field_index_matches_name_and_value() {
        assert_eq!(field_index(8, b"200"), Some(8));
        assert_eq!(field_index(8, b"500"), Some(14));
        assert_eq!(field_index(8, b"302"), None);
        assert_eq!(field_index(2, b"POST"), Some(3));
        assert_eq!(field_index(16, b"gzip, deflate"), Some(16));
        assert_eq!(field_index(31, b""), Some(31));
        assert_eq!(field_index(61, b"x"), None);
    }

    #[test]
    fn indexes_are_one_based() {
        assert_eq!(get(0), None);
        assert_eq!(get(1), Some((&b":authority"[..], &b""[..])));
        assert_eq!(get(LEN), Some((&b"www-authenticate"[..], &b""[..])));
        assert_eq!(get(LEN + 1), None);
    }
}
