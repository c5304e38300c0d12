//! Short byte strings compared and hashed a word at a time: header names
//! and most values are under 32 bytes, where a call to `memcmp` costs more
//! than the comparison.

/// The first and last 8 bytes (overlapping, or zero-padded, when shorter).
#[inline]
fn ends(bytes: &[u8]) -> (u64, u64) {
    let len = bytes.len();
    if len >= 8 {
        (load8(&bytes[..8]), load8(&bytes[len - 8..]))
    } else if len >= 4 {
        let head = u64::from(load4(&bytes[..4]));
        let tail = u64::from(load4(&bytes[len - 4..]));
        (head, tail)
    } else {
        // 0 to 3 bytes: first, middle and last (repeats when shorter).
        let word = bytes.first().map_or(0, |&first| {
            u64::from(first) | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]) << 16
        });
        (word, word)
    }
}

#[inline]
fn load8(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

#[inline]
fn load4(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

/// Whether two byte strings are equal.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    // Up to 16 bytes, the two ends cover every byte.
    ends(a) == ends(b)
}

/// A hash of a field for the encoder's index, from the lengths and the
/// first and last 8 bytes of name and value (a rotate, xor and multiply
/// each, as FxHash does). Values that differ only in their middle collide;
/// a collision costs a missed index (a literal sent again), never a wrong
/// one, since a hit is checked byte for byte. Values that repeat on a
/// connection differ at their end when they differ at all: dates in their
/// seconds, lengths and counters in their last digits.
#[inline]
pub(crate) fn field_hash(name: &[u8], value: &[u8]) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |hash: u64, word: u64| (hash.rotate_left(5) ^ word).wrapping_mul(K);
    let (name_head, name_tail) = ends(name);
    let (value_head, value_tail) = ends(value);
    let mut hash = ((name.len() as u64) << 32 | value.len() as u64).wrapping_mul(K);
    for word in [name_head, name_tail, value_head, value_tail] {
        hash = mix(hash, word);
    }
    (hash >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::{field_hash, same};

    #[test]
    fn same_compares_every_byte_at_every_length() {
        let base: Vec<u8> = (1..=40).collect();
        for len in 0..=40 {
            let a = &base[..len];
            assert!(same(a, a));
            assert!(!same(a, &base[..len.saturating_sub(1)]) || len == 0);
            for i in 0..len {
                let mut b = a.to_vec();
                b[i] ^= 0x20;
                assert!(!same(a, &b), "len {len}, byte {i}");
            }
        }
    }

    #[test]
    fn field_hash_tells_apart_where_name_ends_and_values_that_differ_at_an_end() {
        assert_ne!(field_hash(b"ab", b"c"), field_hash(b"a", b"bc"));
        assert_ne!(
            field_hash(b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"),
            field_hash(b"date", b"Mon, 21 Oct 2013 20:13:22 GMT")
        );
        assert_ne!(field_hash(b"", b"\0"), field_hash(b"", b""));
        assert_ne!(field_hash(b"", b"123456789"), field_hash(b"", b"023456789"));
        assert_ne!(field_hash(b"", b"1234567"), field_hash(b"", b"1234576"));
        assert_ne!(
            field_hash(b"content-length", b"3"),
            field_hash(b"content-length", b"4")
        );
    }
}
