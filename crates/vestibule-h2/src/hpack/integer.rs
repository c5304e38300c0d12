//! Integers with an N-bit prefix (RFC 7541 §5.1).

use super::decoder::DecodeError;

/// The most continuation bytes a decoded integer may use: 4 × 7 = 28 bits
/// beyond the prefix. Every integer HPACK carries is bounded well below
/// that: indexes by the table (at most a few thousand entries), string
/// lengths by the header block (which the frame layer bounds far below
/// 256 MiB), and table sizes by the SETTINGS value this endpoint advertises.
/// A bound also keeps the arithmetic in range on 32-bit targets and the
/// loop short whatever the peer sends.
const MAX_CONTINUATIONS: u32 = 4;

/// Appends `value` with an N-bit prefix; `flags` fills the first byte's
/// bits above the prefix.
pub(crate) fn encode(value: usize, prefix_bits: u8, flags: u8, out: &mut Vec<u8>) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Reads an integer with an N-bit prefix at `*pos` (the prefix byte's
/// other bits are the caller's), advancing `*pos` past it.
pub(crate) fn decode(block: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, DecodeError> {
    let max = (1u8 << prefix_bits).wrapping_sub(1);
    let Some(&first) = block.get(*pos) else {
        return Err(DecodeError::Truncated);
    };
    *pos += 1;
    let prefix = first & max;
    if prefix < max {
        return Ok(usize::from(prefix));
    }
    let mut value = usize::from(max);
    for shift in 0..MAX_CONTINUATIONS {
        let Some(&byte) = block.get(*pos) else {
            return Err(DecodeError::Truncated);
        };
        *pos += 1;
        value += usize::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::IntegerOverflow)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};
    use crate::hpack::DecodeError;

    fn round_trip(value: usize, prefix_bits: u8) -> Vec<u8> {
        let mut out = vec![0xaa];
        encode(value, prefix_bits, 0, &mut out);
        let mut pos = 1;
        assert_eq!(decode(&out, &mut pos, prefix_bits), Ok(value));
        assert_eq!(pos, out.len());
        out.split_off(1)
    }

    #[test]
    fn rfc_7541_c1_examples() {
        assert_eq!(round_trip(10, 5), [0x0a]);
        assert_eq!(round_trip(1337, 5), [0x1f, 0x9a, 0x0a]);
    }

    #[test]
    fn flags_keep_their_bits() {
        let mut out = Vec::new();
        encode(1337, 5, 0xe0, &mut out);
        assert_eq!(out, [0xff, 0x9a, 0x0a]);
        let mut pos = 0;
        assert_eq!(decode(&out, &mut pos, 5), Ok(1337));
    }

    #[test]
    fn prefix_boundaries() {
        for prefix_bits in 4..=7u8 {
            let max = (1usize << prefix_bits) - 1;
            assert_eq!(round_trip(max - 1, prefix_bits).len(), 1);
            assert_eq!(round_trip(max, prefix_bits), [max as u8, 0]);
            assert_eq!(round_trip(max + 127, prefix_bits), [max as u8, 0x7f]);
            assert_eq!(round_trip(max + 128, prefix_bits), [max as u8, 0x80, 1]);
            // The largest value four continuation bytes carry.
            let largest = max + (1 << 28) - 1;
            assert_eq!(round_trip(largest, prefix_bits).len(), 5);
        }
    }

    #[test]
    fn a_fifth_continuation_byte_is_an_overflow() {
        let mut pos = 0;
        let five = [0x1f, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            decode(&five, &mut pos, 5),
            Err(DecodeError::IntegerOverflow)
        );
        // Redundant zero continuations count too: the bound is on bytes.
        let mut pos = 0;
        let padded = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(
            decode(&padded, &mut pos, 5),
            Err(DecodeError::IntegerOverflow)
        );
        let mut pos = 0;
        let huge = [0x7f; 64];
        assert_eq!(decode(&huge, &mut pos, 7), Ok(127 + 127));
        let endless = [0xff; 64];
        let mut pos = 0;
        assert_eq!(
            decode(&endless, &mut pos, 7),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(pos, 5);
    }

    #[test]
    fn truncated_integers_are_errors() {
        let mut pos = 0;
        assert_eq!(decode(&[], &mut pos, 5), Err(DecodeError::Truncated));
        let mut pos = 0;
        assert_eq!(decode(&[0x1f], &mut pos, 5), Err(DecodeError::Truncated));
        let mut pos = 0;
        assert_eq!(
            decode(&[0x1f, 0x80], &mut pos, 5),
            Err(DecodeError::Truncated)
        );
    }
}
