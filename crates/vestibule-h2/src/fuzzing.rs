//! Entry points for the fuzz targets (`fuzz/`, libFuzzer on nightly) and
//! for the replay of their committed corpus (a plain test on stable): one
//! function per target, which panics when a property does not hold.

use crate::hpack::{Decoder, Encoder};

/// HPACK: the input, cut into blocks, through one decoder (never panics,
/// and an accepted block's list size adds up); then the same bytes read as
/// header lists and table size changes, encoded and decoded back whole,
/// with both tables in step.
pub fn hpack(data: &[u8]) {
    decode_blocks(data);
    round_trip(data);
}

/// Blocks of a length byte and that many bytes; the first byte picks the
/// advertised table size (its low 3 bits) and the list limit (the rest:
/// 64 bytes a step, 0 for none).
fn decode_blocks(data: &[u8]) {
    const TABLE_SIZES: [usize; 8] = [4096, 256, 0, 64, 1000, 4095, 8192, 65536];
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new(TABLE_SIZES[usize::from(setup & 0x07)]);
    let max_list_size = match usize::from(setup >> 3) {
        0 => usize::MAX,
        steps => steps * 64,
    };
    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let mut emitted = 0;
        let Ok(decoded) = decoder.decode(block, max_list_size, |name, value| {
            emitted += name.len() + value.len() + 32;
        }) else {
            // A connection error: the connection, and its decoder, end.
            return;
        };
        if decoded.over_limit {
            assert!(decoded.list_size > max_list_size);
            assert!(emitted <= max_list_size);
        } else {
            assert_eq!(decoded.list_size, emitted);
        }
    }
}

/// Reads the input as a script: each field is a control byte (its low bits
/// choose the name, bit 5 sensitivity, bit 6-7 a table size change first,
/// 0b11 ending the block), then a length byte and that many value bytes.
fn round_trip(data: &[u8]) {
    const NAMES: [&[u8]; 8] = [
        b":status",
        b"content-type",
        b"content-length",
        b"date",
        b"set-cookie",
        b"x-custom",
        b"",
        b"server",
    ];
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let mut want = Vec::new();
    let mut block = Vec::new();
    encoder.begin(&mut block);
    let mut rest = data;
    while let Some((&control, tail)) = rest.split_first() {
        let len = tail.first().map_or(0, |&len| usize::from(len));
        let value = tail
            .get(1..)
            .map_or(&[][..], |tail| &tail[..len.min(tail.len())]);
        rest = tail.get(1 + value.len()..).unwrap_or(&[]);
        match control >> 6 {
            0b11 => {
                check_block(&mut decoder, &block, &want);
                block.clear();
                want.clear();
                encoder.set_max_table_size(value.len() * 40);
                encoder.begin(&mut block);
                continue;
            }
            0b10 => {
                // A literal name: the value's first half.
                let (name, value) = value.split_at(value.len() / 2);
                encoder.field(name, value, control & 0x20 != 0, &mut block);
                want.push((name.to_vec(), value.to_vec()));
                continue;
            }
            _ => {}
        }
        let name = NAMES[usize::from(control & 0x07)];
        encoder.field(name, value, control & 0x20 != 0, &mut block);
        want.push((name.to_vec(), value.to_vec()));
    }
    check_block(&mut decoder, &block, &want);
}

fn check_block(decoder: &mut Decoder, block: &[u8], want: &[(Vec<u8>, Vec<u8>)]) {
    let mut got = Vec::new();
    let decoded = decoder
        .decode(block, usize::MAX, |name, value| {
            got.push((name.to_vec(), value.to_vec()));
        })
        .expect("our own block decodes");
    assert!(!decoded.over_limit);
    assert_eq!(got, want);
}
