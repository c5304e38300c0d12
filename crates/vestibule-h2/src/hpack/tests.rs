//! The decoder and encoder together: RFC 7541 Appendix C's examples,
//! malformed blocks, the header list limit, and random round trips.

use proptest::prelude::*;

use super::{DecodeError, Decoded, Decoder, Encoder};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A name, a value, and whether it is sensitive.
type Field = (Vec<u8>, Vec<u8>, bool);

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
}

fn decode(decoder: &mut Decoder, block: &[u8]) -> Result<Fields, DecodeError> {
    let mut out = Vec::new();
    let decoded = decoder.decode(block, usize::MAX, |name, value| {
        out.push((name.to_vec(), value.to_vec()));
    })?;
    assert!(!decoded.over_limit);
    let size: usize = out.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    assert_eq!(decoded.list_size, size);
    Ok(out)
}

fn encode(encoder: &mut Encoder, list: &Fields) -> Vec<u8> {
    let mut out = Vec::new();
    encoder.begin(&mut out);
    for (name, value) in list {
        encoder.field(name, value, false, &mut out);
    }
    out
}

/// One step of an Appendix C sequence: the block, the fields it carries,
/// and the dynamic table after it (newest first) with its size.
struct Step {
    block: &'static str,
    fields: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

/// Decodes each block in turn on one decoder, checking the fields and the
/// table after each; then encodes each list on one encoder, checking that
/// our blocks decode to the same fields and (where `same_bytes` says our
/// encoder makes the RFC's choices) are the RFC's bytes.
fn check_sequence(table_size: usize, steps: &[Step], same_bytes: &[bool]) {
    let mut decoder = Decoder::new(table_size);
    for (n, step) in steps.iter().enumerate() {
        let got = decode(&mut decoder, &hex(step.block)).unwrap();
        assert_eq!(got, fields(step.fields), "step {n}");
        assert_eq!(decoder.table(), (fields(step.table), step.size), "step {n}");
    }

    let mut encoder = Encoder::new();
    encoder.set_max_table_size(table_size);
    let mut decoder = Decoder::new(table_size);
    for (n, step) in steps.iter().enumerate() {
        let list = fields(step.fields);
        let mut block = encode(&mut encoder, &list);
        assert_eq!(decode(&mut decoder, &block).unwrap(), list, "step {n}");
        assert_eq!(decoder.table(), encoder.table(), "step {n}");
        if n == 0 && table_size != 4096 {
            // Our first block starts with the size update the RFC's
            // examples leave out (their tables start at that size).
            let mut update = Vec::new();
            super::integer::encode(table_size, 5, 0x20, &mut update);
            assert!(block.starts_with(&update));
            block.drain(..update.len());
        }
        if same_bytes[n] {
            assert_eq!(block, hex(step.block), "step {n}");
            assert_eq!(encoder.table(), (fields(step.table), step.size), "step {n}");
        }
    }
}

#[test]
fn c2_single_fields() {
    let mut decoder = Decoder::new(4096);
    // C.2.1: literal with indexing.
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut decoder, &block).unwrap(),
        fields(&[("custom-key", "custom-header")])
    );
    assert_eq!(
        decoder.table(),
        (fields(&[("custom-key", "custom-header")]), 55)
    );

    // C.2.2: literal without indexing.
    let mut decoder = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode(&mut decoder, &block).unwrap(),
        fields(&[(":path", "/sample/path")])
    );
    assert_eq!(decoder.table(), (Vec::new(), 0));

    // C.2.3: literal never indexed.
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(
        decode(&mut decoder, &block).unwrap(),
        fields(&[("password", "secret")])
    );
    assert_eq!(decoder.table(), (Vec::new(), 0));

    // C.2.4: indexed.
    assert_eq!(
        decode(&mut decoder, &hex("82")).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(decoder.table(), (Vec::new(), 0));

    // Our encoder: C.2.2's field without indexing is ours too (a
    // never-indexed sensitive field), and C.2.4 is one byte.
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    encoder.field(b":method", b"GET", false, &mut out);
    assert_eq!(out, [0x82]);
    out.clear();
    encoder.field(b"password", b"secret", true, &mut out);
    assert_eq!(out[0], 0x10);
    assert_eq!(
        decode(&mut decoder, &out).unwrap(),
        fields(&[("password", "secret")])
    );
    assert_eq!(encoder.table(), (Vec::new(), 0));
}

const C3_C4_FIELDS: [&[(&str, &str)]; 3] = [
    &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ],
    &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ],
    &[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ],
];

const C3_C4_TABLES: [&[(&str, &str)]; 3] = [
    &[(":authority", "www.example.com")],
    &[
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ],
    &[
        ("custom-key", "custom-value"),
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ],
];

#[test]
fn c3_requests_without_huffman() {
    let blocks = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];
    let steps: Vec<Step> = (0..3)
        .map(|n| Step {
            block: blocks[n],
            fields: C3_C4_FIELDS[n],
            table: C3_C4_TABLES[n],
            size: [57, 110, 164][n],
        })
        .collect();
    // Our encoder Huffman-codes these strings (shorter), so only the
    // fields and tables can match.
    check_sequence(4096, &steps, &[false, false, false]);
}

#[test]
fn c4_requests_with_huffman() {
    let blocks = [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];
    let steps: Vec<Step> = (0..3)
        .map(|n| Step {
            block: blocks[n],
            fields: C3_C4_FIELDS[n],
            table: C3_C4_TABLES[n],
            size: [57, 110, 164][n],
        })
        .collect();
    check_sequence(4096, &steps, &[true, true, true]);
}

const DATE_21: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_22: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const C5_C6_FIELDS: [&[(&str, &str)]; 3] = [
    &[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", DATE_21),
        ("location", LOCATION),
    ],
    &[
        (":status", "307"),
        ("cache-control", "private"),
        ("date", DATE_21),
        ("location", LOCATION),
    ],
    &[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", DATE_22),
        ("location", LOCATION),
        ("content-encoding", "gzip"),
        ("set-cookie", COOKIE),
    ],
];

const C5_C6_TABLES: [&[(&str, &str)]; 3] = [
    &[
        ("location", LOCATION),
        ("date", DATE_21),
        ("cache-control", "private"),
        (":status", "302"),
    ],
    &[
        (":status", "307"),
        ("location", LOCATION),
        ("date", DATE_21),
        ("cache-control", "private"),
    ],
    &[
        ("set-cookie", COOKIE),
        ("content-encoding", "gzip"),
        ("date", DATE_22),
    ],
];

#[test]
fn c5_responses_without_huffman_and_eviction() {
    let blocks = [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ];
    let steps: Vec<Step> = (0..3)
        .map(|n| Step {
            block: blocks[n],
            fields: C5_C6_FIELDS[n],
            table: C5_C6_TABLES[n],
            size: [222, 222, 215][n],
        })
        .collect();
    check_sequence(256, &steps, &[false, false, false]);
}

#[test]
fn c6_responses_with_huffman_and_eviction() {
    let blocks = [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ];
    let steps: Vec<Step> = (0..3)
        .map(|n| Step {
            block: blocks[n],
            fields: C5_C6_FIELDS[n],
            table: C5_C6_TABLES[n],
            size: [222, 222, 215][n],
        })
        .collect();
    // The second differs on purpose: "307" is 3 bytes raw or Huffman-coded,
    // and on a tie we send it raw (cheaper for the peer to decode). The
    // third too: we do not index set-cookie.
    check_sequence(256, &steps, &[true, false, false]);
}

#[test]
fn malformed_blocks_are_errors() {
    let cases: &[(&str, DecodeError)] = &[
        ("80", DecodeError::ZeroIndex),
        ("be", DecodeError::BadIndex(62)),
        ("ff ff ff ff ff 7f", DecodeError::IntegerOverflow),
        ("ff 80", DecodeError::Truncated),
        ("40", DecodeError::Truncated),
        ("41", DecodeError::Truncated),
        ("40 01 61", DecodeError::Truncated),
        ("40 05 61 62", DecodeError::StringPastEnd),
        ("04 7f ff ff ff 7f", DecodeError::StringPastEnd),
        ("7f 00 01 61 01 61", DecodeError::BadIndex(63)),
        ("04 81 ff", DecodeError::HuffmanPadding),
        ("04 84 ff ff ff ff", DecodeError::HuffmanEos),
        ("04 81 18", DecodeError::HuffmanPadding),
        ("82 20", DecodeError::SizeUpdateNotAtStart),
        (
            "3f e2 1f",
            DecodeError::SizeUpdateTooLarge {
                size: 4097,
                max: 4096,
            },
        ),
    ];
    for (block, error) in cases {
        let mut decoder = Decoder::new(4096);
        assert_eq!(decode(&mut decoder, &hex(block)), Err(*error), "{block}");
        assert_eq!(error.code(), crate::ErrorCode::COMPRESSION_ERROR);
    }
}

#[test]
fn size_updates_at_the_start() {
    let mut decoder = Decoder::new(4096);
    decode(&mut decoder, &hex("4001 6101 62")).unwrap();
    assert_eq!(decoder.table().1, 34);
    // Several updates are fine before the first field: to 0 (empties the
    // table), then back to 4,096.
    let got = decode(&mut decoder, &hex("20 3f e1 1f 82")).unwrap();
    assert_eq!(got, fields(&[(":method", "GET")]));
    assert_eq!(decoder.table(), (Vec::new(), 0));
    // Up to the advertised maximum exactly; an empty block may be only
    // updates.
    assert_eq!(decode(&mut decoder, &hex("3f e1 1f")).unwrap(), Vec::new());
    // A smaller table evicts.
    decode(&mut decoder, &hex("4001 6101 62 4001 6301 64")).unwrap();
    decode(&mut decoder, &hex("3f 04")).unwrap();
    assert_eq!(decoder.table(), (fields(&[("c", "d")]), 34));
    assert_eq!(
        decode(&mut decoder, &hex("bf")),
        Err(DecodeError::BadIndex(63))
    );
}

#[test]
fn a_list_past_its_limit_is_decoded_but_not_emitted() {
    let list = fields(&[("x-a", "1"), ("x-b", "2"), ("x-c", "3")]);
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let block = encode(&mut encoder, &list);
    let mut got = Vec::new();
    // Room for the first field (36) but not the second.
    let decoded = decoder
        .decode(&block, 36 + 35, |name, value| {
            got.push((name.to_vec(), value.to_vec()))
        })
        .unwrap();
    assert_eq!(
        decoded,
        Decoded {
            over_limit: true,
            list_size: 3 * 36
        }
    );
    assert_eq!(got, list[..1]);
    // Every field reached the table all the same, so the next block (all
    // indexed now) decodes in step.
    assert_eq!(decoder.table(), encoder.table());
    let block = encode(&mut encoder, &list);
    assert_eq!(block, [0xbe + 2, 0xbe + 1, 0xbe]);
    assert_eq!(decode(&mut decoder, &block).unwrap(), list);
    // A limit met exactly is not over it.
    let decoded = decoder.decode(&block, 3 * 36, |_, _| {}).unwrap();
    assert!(!decoded.over_limit);
}

#[test]
fn a_typical_response_head_shrinks_to_a_few_bytes() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let head = |encoder: &mut Encoder, date: &str| {
        let mut out = Vec::new();
        encoder.begin(&mut out);
        encoder.status(200, &mut out);
        encoder.field(b"content-type", b"text/plain", false, &mut out);
        encoder.field(b"content-length", b"3", false, &mut out);
        encoder.field(b"date", date.as_bytes(), false, &mut out);
        encoder.field(b"server", b"istio-envoy", false, &mut out);
        encoder.field(b"x-envoy-upstream-service-time", b"0", false, &mut out);
        out
    };
    let first = head(&mut encoder, DATE_21);
    let second = head(&mut encoder, DATE_21);
    assert_eq!(second.len(), 6, "{second:x?}");
    let third = head(&mut encoder, DATE_22);
    assert!(third.len() < 30, "{third:x?}");
    for block in [first, second, third] {
        let got = decode(&mut decoder, &block).unwrap();
        assert_eq!(got.len(), 6);
        assert_eq!(got[0], (b":status".to_vec(), b"200".to_vec()));
    }
    assert_eq!(decoder.table(), encoder.table());
}

#[test]
fn statuses_outside_the_static_table_are_literals_then_indexed() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    for status in [200, 204, 206, 304, 400, 404, 500, 100, 302, 503, 999, 65535] {
        let mut out = Vec::new();
        encoder.status(status, &mut out);
        if [200, 204, 206, 304, 400, 404, 500].contains(&status) {
            assert_eq!(out.len(), 1);
        }
        let got = decode(&mut decoder, &out).unwrap();
        assert_eq!(got, fields(&[(":status", &status.to_string())]));
    }
    let mut out = Vec::new();
    encoder.status(503, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn table_size_changes_reach_the_decoder() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let list = fields(&[("x-one", "1"), ("x-two", "2")]);
    encode(&mut encoder, &list);
    // Shrunk and grown again before the next block: the smallest, then
    // the final size (§4.2), so the decoder evicts as the encoder did.
    encoder.set_max_table_size(0);
    encoder.set_max_table_size(8192);
    let block = encode(&mut encoder, &list);
    assert!(block.starts_with(&hex("20 3f e1 1f")), "{block:x?}");
    assert_eq!(decode(&mut decoder, &block).unwrap(), list);
    assert_eq!(decoder.table(), encoder.table());
    // Growth past our own limit is no change: no update.
    encoder.set_max_table_size(65536);
    assert_eq!(encode(&mut encoder, &list), [0xbf, 0xbe]);
    // A plain shrink.
    encoder.set_max_table_size(40);
    let block = encode(&mut encoder, &list);
    assert_eq!(block[..2], [0x3f, 40 - 31]);
    decode(&mut decoder, &block).unwrap();
    assert_eq!(decoder.table(), encoder.table());
    assert_eq!(decoder.table().1, 38);
}

#[test]
fn literal_names_and_sensitive_values_round_trip() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    for _ in 0..3 {
        let mut out = Vec::new();
        encoder.begin(&mut out);
        encoder.field(b"authorization", b"Bearer abc", true, &mut out);
        encoder.field(b"x-secret", b"\x00\xff binary", true, &mut out);
        encoder.field(b"set-cookie", b"a=b", false, &mut out);
        encoder.field(b"content-length", b"123456", false, &mut out);
        encoder.field(b"", b"", false, &mut out);
        let got = decode(&mut decoder, &out).unwrap();
        assert_eq!(
            got,
            vec![
                (b"authorization".to_vec(), b"Bearer abc".to_vec()),
                (b"x-secret".to_vec(), b"\x00\xff binary".to_vec()),
                (b"set-cookie".to_vec(), b"a=b".to_vec()),
                (b"content-length".to_vec(), b"123456".to_vec()),
                (Vec::new(), Vec::new()),
            ]
        );
    }
    // Only the empty field was worth indexing.
    assert_eq!(encoder.table(), (fields(&[("", "")]), 32));
    assert_eq!(decoder.table(), encoder.table());
}

#[test]
fn a_huge_value_is_not_indexed_and_does_not_flush_the_table() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let big = vec![b'x'; 5000];
    let mut out = Vec::new();
    encoder.field(b"server", b"vestibule", false, &mut out);
    encoder.field(b"x-big", &big, false, &mut out);
    let got = decode(&mut decoder, &out).unwrap();
    assert_eq!(got[1].1, big);
    assert_eq!(encoder.table(), (fields(&[("server", "vestibule")]), 47));
    assert_eq!(decoder.table(), encoder.table());
}

/// A field in a random list: names from a small pool (so they repeat, and
/// include static names) or random; values likewise, any bytes.
fn field_strategy() -> impl Strategy<Value = Field> {
    let name = prop_oneof![
        prop::sample::select(vec![
            &b":status"[..],
            b"content-type",
            b"content-length",
            b"date",
            b"server",
            b"set-cookie",
            b"x-envoy-upstream-service-time",
            b"accept-encoding",
            b"x-a",
        ])
        .prop_map(<[u8]>::to_vec),
        "[a-z0-9-]{0,20}".prop_map(String::into_bytes),
    ];
    let value = prop_oneof![
        prop::sample::select(vec![
            &b""[..],
            b"200",
            b"0",
            b"text/plain",
            b"gzip, deflate"
        ])
        .prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 0..60),
        prop::collection::vec(any::<u8>(), 0..2000),
    ];
    (name, value, prop::bool::weighted(0.1))
}

/// A block: the table size changes SETTINGS made before it, then its fields.
fn block_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<Field>)> {
    (
        prop::collection::vec(prop_oneof![Just(0usize), Just(4096), 0..6000usize], 0..3),
        prop::collection::vec(field_strategy(), 0..12),
    )
}

proptest! {
    #[test]
    fn random_lists_round_trip_with_tables_in_step(
        blocks in prop::collection::vec(block_strategy(), 1..12),
    ) {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(4096);
        for (sizes, list) in blocks {
            for size in sizes {
                encoder.set_max_table_size(size);
            }
            let mut out = Vec::new();
            encoder.begin(&mut out);
            for (name, value, sensitive) in &list {
                encoder.field(name, value, *sensitive, &mut out);
            }
            let got = decode(&mut decoder, &out).unwrap();
            let want: Fields = list.into_iter().map(|(n, v, _)| (n, v)).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(decoder.table(), encoder.table());
        }
    }

    #[test]
    fn arbitrary_blocks_never_panic(
        blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..8),
    ) {
        let mut decoder = Decoder::new(4096);
        for block in blocks {
            let _ = decoder.decode(&block, 1000, |_, _| {});
        }
    }
}
