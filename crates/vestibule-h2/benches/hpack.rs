//! HPACK's cost per head: the encoder on a typical proxied response head
//! repeated on one connection (the steady state, and with a new `date`),
//! and the decoder on the request head h2load and curl send (the first
//! block on a connection, literals, and the following ones, all indexed).
//! Short measurements: `cargo bench -p vestibule-h2` takes well under a
//! minute.
//!
//! Measured when written (callgrind, instructions per head, release
//! build): encode repeated 890, with a new date 1,890; decode indexed 434,
//! first-time literals 2,475. h2's encoder alone took about 4,300.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vestibule_h2::hpack::{Decoder, Encoder};

const DATE: &[u8; 29] = b"Mon, 07 Dec 2026 05:00:00 GMT";

fn response_head(encoder: &mut Encoder, date: &[u8], out: &mut Vec<u8>) {
    encoder.begin(out);
    encoder.status(200, out);
    encoder.field(b"content-type", b"text/plain", false, out);
    encoder.field(b"content-length", b"3", false, out);
    encoder.field(b"date", date, false, out);
    encoder.field(b"server", b"istio-envoy", false, out);
    encoder.field(b"x-envoy-upstream-service-time", b"0", false, out);
}

fn request_head(encoder: &mut Encoder, out: &mut Vec<u8>) {
    encoder.begin(out);
    encoder.field(b":method", b"GET", false, out);
    encoder.field(b":scheme", b"http", false, out);
    encoder.field(b":path", b"/", false, out);
    encoder.field(b":authority", b"example.com", false, out);
    encoder.field(b"user-agent", b"h2load nghttp2/1.52.0", false, out);
    encoder.field(b"accept", b"*/*", false, out);
}

fn encode(c: &mut Criterion) {
    let mut encoder = Encoder::new();
    let mut out = Vec::with_capacity(256);
    response_head(&mut encoder, DATE, &mut out);
    c.bench_function("encode response head (repeated)", |b| {
        b.iter(|| {
            out.clear();
            response_head(&mut encoder, black_box(DATE), &mut out);
            black_box(out.len())
        })
    });
    // A new date every head (its time's digits count up): one literal
    // (Huffman-coded) and an insertion each time, which a real connection
    // sees once a second.
    let mut date = *DATE;
    let mut tick = 0u32;
    c.bench_function("encode response head (new date each)", |b| {
        b.iter(|| {
            out.clear();
            tick = tick.wrapping_add(1);
            for (digit, place) in date[18..25]
                .iter_mut()
                .zip([1_000_000, 100_000, 10_000, 1000, 100, 10, 1])
            {
                *digit = b'0' + (tick / place % 10) as u8;
            }
            response_head(&mut encoder, black_box(&date), &mut out);
            black_box(out.len())
        })
    });
}

fn decode(c: &mut Criterion) {
    let mut encoder = Encoder::new();
    let mut first = Vec::new();
    request_head(&mut encoder, &mut first);
    let mut repeated = Vec::new();
    request_head(&mut encoder, &mut repeated);
    assert_eq!(repeated.len(), 6);

    let mut decoder = Decoder::new(4096);
    let mut sink = 0;
    decoder
        .decode(&first, 65536, |name, value| {
            sink += name.len() + value.len()
        })
        .unwrap();
    c.bench_function("decode request head (repeated, indexed)", |b| {
        b.iter(|| {
            let mut sink = 0;
            decoder
                .decode(black_box(&repeated), 65536, |name, value| {
                    sink += name.len() + value.len()
                })
                .unwrap();
            black_box(sink)
        })
    });
    // The first head on a connection: Huffman-coded literals, inserted.
    // A warm decoder keeps its buffers; the table is emptied and restored
    // with size updates (20 = to 0, 3fe11f = to 4,096) so each iteration
    // inserts again.
    let mut reset_then_first = vec![0x20, 0x3f, 0xe1, 0x1f];
    reset_then_first.extend_from_slice(&first);
    c.bench_function("decode request head (first, literals)", |b| {
        b.iter(|| {
            let mut sink = 0;
            decoder
                .decode(black_box(&reset_then_first), 65536, |name, value| {
                    sink += name.len() + value.len()
                })
                .unwrap();
            black_box(sink)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = encode, decode
}
criterion_main!(benches);
