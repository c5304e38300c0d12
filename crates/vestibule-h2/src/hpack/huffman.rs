//! HPACK's Huffman code (RFC 7541 §5.2, Appendix B): encoding, the encoded
//! length, and a table-driven decoder that reads four bits at a time.
//!
//! The decoder is a state machine over the code tree's internal nodes
//! (257 leaves, so 256 internal nodes: a state fits in a `u8`). Each
//! (state, nibble) step is precomputed at compile time: the next state, the
//! symbol completed on the way (at most one, since the shortest code has
//! five bits), and whether stopping there would be valid padding.

use super::decoder::DecodeError;

/// Each symbol's code (right-aligned) and length in bits: RFC 7541
/// Appendix B, symbols 0..=255 then EOS (256).
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),     // ' '
    (0x3f8, 10),   // '!'
    (0x3f9, 10),   // '"'
    (0xffa, 12),   // '#'
    (0x1ff9, 13),  // '$'
    (0x15, 6),     // '%'
    (0xf8, 8),     // '&'
    (0x7fa, 11),   // '\''
    (0x3fa, 10),   // '('
    (0x3fb, 10),   // ')'
    (0xf9, 8),     // '*'
    (0x7fb, 11),   // '+'
    (0xfa, 8),     // ','
    (0x16, 6),     // '-'
    (0x17, 6),     // '.'
    (0x18, 6),     // '/'
    (0x0, 5),      // '0'
    (0x1, 5),      // '1'
    (0x2, 5),      // '2'
    (0x19, 6),     // '3'
    (0x1a, 6),     // '4'
    (0x1b, 6),     // '5'
    (0x1c, 6),     // '6'
    (0x1d, 6),     // '7'
    (0x1e, 6),     // '8'
    (0x1f, 6),     // '9'
    (0x5c, 7),     // ':'
    (0xfb, 8),     // ';'
    (0x7ffc, 15),  // '<'
    (0x20, 6),     // '='
    (0xffb, 12),   // '>'
    (0x3fc, 10),   // '?'
    (0x1ffa, 13),  // '@'
    (0x21, 6),     // 'A'
    (0x5d, 7),     // 'B'
    (0x5e, 7),     // 'C'
    (0x5f, 7),     // 'D'
    (0x60, 7),     // 'E'
    (0x61, 7),     // 'F'
    (0x62, 7),     // 'G'
    (0x63, 7),     // 'H'
    (0x64, 7),     // 'I'
    (0x65, 7),     // 'J'
    (0x66, 7),     // 'K'
    (0x67, 7),     // 'L'
    (0x68, 7),     // 'M'
    (0x69, 7),     // 'N'
    (0x6a, 7),     // 'O'
    (0x6b, 7),     // 'P'
    (0x6c, 7),     // 'Q'
    (0x6d, 7),     // 'R'
    (0x6e, 7),     // 'S'
    (0x6f, 7),     // 'T'
    (0x70, 7),     // 'U'
    (0x71, 7),     // 'V'
    (0x72, 7),     // 'W'
    (0xfc, 8),     // 'X'
    (0x73, 7),     // 'Y'
    (0xfd, 8),     // 'Z'
    (0x1ffb, 13),  // '['
    (0x7fff0, 19), // '\\'
    (0x1ffc, 13),  // ']'
    (0x3ffc, 14),  // '^'
    (0x22, 6),     // '_'
    (0x7ffd, 15),  // '`'
    (0x3, 5),      // 'a'
    (0x23, 6),     // 'b'
    (0x4, 5),      // 'c'
    (0x24, 6),     // 'd'
    (0x5, 5),      // 'e'
    (0x25, 6),     // 'f'
    (0x26, 6),     // 'g'
    (0x27, 6),     // 'h'
    (0x6, 5),      // 'i'
    (0x74, 7),     // 'j'
    (0x75, 7),     // 'k'
    (0x28, 6),     // 'l'
    (0x29, 6),     // 'm'
    (0x2a, 6),     // 'n'
    (0x7, 5),      // 'o'
    (0x2b, 6),     // 'p'
    (0x76, 7),     // 'q'
    (0x2c, 6),     // 'r'
    (0x8, 5),      // 's'
    (0x9, 5),      // 't'
    (0x2d, 6),     // 'u'
    (0x77, 7),     // 'v'
    (0x78, 7),     // 'w'
    (0x79, 7),     // 'x'
    (0x7a, 7),     // 'y'
    (0x7b, 7),     // 'z'
    (0x7ffe, 15),  // '{'
    (0x7fc, 11),   // '|'
    (0x3ffd, 14),  // '}'
    (0x1ffd, 13),  // '~'
    (0xffffffc, 28),
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30), // EOS
];

const EOS: u16 = 256;

/// The number of bytes `src` takes Huffman-encoded.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| CODES[b as usize].1 as usize).sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-encoded, padded with ones to a byte boundary.
pub(crate) fn encode(src: &[u8], out: &mut Vec<u8>) {
    // Bits waiting to be written sit in the low `pending` bits of `bits`;
    // a code is at most 30 bits and fewer than 32 wait, so 64 bits hold them.
    let mut bits: u64 = 0;
    let mut pending: u32 = 0;
    for &byte in src {
        let (code, len) = CODES[byte as usize];
        bits = (bits << len) | u64::from(code);
        pending += u32::from(len);
        if pending >= 32 {
            pending -= 32;
            out.extend_from_slice(&((bits >> pending) as u32).to_be_bytes());
        }
    }
    while pending >= 8 {
        pending -= 8;
        out.push((bits >> pending) as u8);
    }
    if pending > 0 {
        // The most significant bits of EOS: all ones (§5.2).
        out.push(((bits << (8 - pending)) as u8) | (0xff >> pending));
    }
}

/// Appends the Huffman-decoded `src` to `out`. Rejects EOS in the string
/// and padding that is longer than 7 bits or not all ones (§5.2).
pub(crate) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    // Most strings shrink by about a fifth; room for that avoids regrowth.
    out.reserve(src.len() + src.len() / 2);
    let mut state = 0u8;
    let mut accept = true;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = STEPS[state as usize][nibble as usize];
            if step.flags & FAIL != 0 {
                return Err(DecodeError::HuffmanEos);
            }
            if step.flags & EMIT != 0 {
                out.push(step.symbol);
            }
            state = step.next;
            accept = step.flags & ACCEPT != 0;
        }
    }
    if accept {
        Ok(())
    } else {
        Err(DecodeError::HuffmanPadding)
    }
}

/// A child in the code tree that is a leaf: the symbol in the low bits.
const LEAF: u16 = 0x8000;

/// The code tree: for each internal node (0 is the root), its children for
/// bit 0 and bit 1, each an internal node's number or `LEAF | symbol`. No
/// node has the root as a child, so 0 marks a child not yet built.
const TREE: [[u16; 2]; 256] = build_tree();

const fn build_tree() -> [[u16; 2]; 256] {
    let mut tree = [[0u16; 2]; 256];
    let mut nodes = 1;
    let mut symbol = 0;
    while symbol < CODES.len() {
        let (code, len) = CODES[symbol];
        let mut node = 0;
        let mut bit = len as u32 - 1;
        while bit > 0 {
            let branch = ((code >> bit) & 1) as usize;
            if tree[node][branch] == 0 {
                tree[node][branch] = nodes;
                nodes += 1;
            }
            // A code that is a prefix of another makes this a leaf: the
            // table would be wrong, and the build fails on the index.
            node = tree[node][branch] as usize;
            bit -= 1;
        }
        let branch = (code & 1) as usize;
        assert!(tree[node][branch] == 0, "two codes end at one leaf");
        tree[node][branch] = LEAF | symbol as u16;
        symbol += 1;
    }
    // 257 leaves of a complete binary tree hang off exactly 256 nodes.
    assert!(nodes == 256, "the code is not complete");
    tree
}

/// A symbol was completed: emit `symbol`.
const EMIT: u8 = 1;
/// Ending the string here is valid: the bits read since the last symbol
/// are fewer than 8 and all ones.
const ACCEPT: u8 = 2;
/// EOS was completed: an error in a string (§5.2).
const FAIL: u8 = 4;

#[derive(Clone, Copy)]
struct Step {
    next: u8,
    symbol: u8,
    flags: u8,
}

const STEPS: [[Step; 16]; 256] = build_steps();

const fn build_steps() -> [[Step; 16]; 256] {
    let accepting = accepting_nodes();
    let mut steps = [[Step {
        next: 0,
        symbol: 0,
        flags: 0,
    }; 16]; 256];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut symbol = 0;
            let mut flags = 0;
            let mut bit = 4;
            while bit > 0 {
                bit -= 1;
                let child = TREE[node][(nibble >> bit) & 1];
                if child & LEAF == 0 {
                    node = child as usize;
                } else if child & !LEAF == EOS {
                    flags = FAIL;
                    break;
                } else {
                    flags |= EMIT;
                    symbol = (child & !LEAF) as u8;
                    node = 0;
                }
            }
            if flags & FAIL == 0 && accepting[node] {
                flags |= ACCEPT;
            }
            steps[state][nibble] = Step {
                next: node as u8,
                symbol,
                flags,
            };
            nibble += 1;
        }
        state += 1;
    }
    steps
}

/// The nodes reached from the root by zero to seven 1 bits: where a string
/// may end, the rest being padding (the start of EOS, §5.2).
const fn accepting_nodes() -> [bool; 256] {
    let mut accepting = [false; 256];
    let mut node = 0;
    let mut ones = 0;
    loop {
        accepting[node] = true;
        if ones == 7 {
            return accepting;
        }
        node = TREE[node][1] as usize;
        ones += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, encode, encoded_len, CODES};
    use crate::hpack::DecodeError;

    fn round_trip(src: &[u8]) {
        let mut encoded = Vec::new();
        encode(src, &mut encoded);
        assert_eq!(encoded.len(), encoded_len(src), "{src:?}");
        let mut decoded = Vec::new();
        decode(&encoded, &mut decoded).unwrap();
        assert_eq!(decoded, src);
    }

    #[test]
    fn the_code_is_canonical_so_lengths_and_codes_agree() {
        // HPACK's code is canonical: within a length, codes rise with the
        // symbol, and each length starts where the shorter ones ended. A
        // typo in a code or a length breaks this.
        let mut order: Vec<usize> = (0..CODES.len()).collect();
        order.sort_by_key(|&symbol| (CODES[symbol].1, symbol));
        let mut next: u64 = 0;
        let mut len = CODES[order[0]].1;
        for symbol in order {
            let (code, bits) = CODES[symbol];
            next <<= bits - len;
            len = bits;
            assert_eq!(u64::from(code), next, "symbol {symbol}");
            next += 1;
        }
        // Complete (Kraft sum 1) and ending at EOS: thirty ones.
        assert_eq!(next, 1 << 30);
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
    }

    #[test]
    fn every_byte_round_trips() {
        for byte in 0..=255u8 {
            round_trip(&[byte]);
            round_trip(&[byte, byte, b'a', byte]);
        }
        let all: Vec<u8> = (0..=255).collect();
        round_trip(&all);
        round_trip(b"");
        round_trip(b"www.example.com");
    }

    #[test]
    fn known_encodings() {
        // RFC 7541 C.4.1's authority.
        let mut out = Vec::new();
        encode(b"www.example.com", &mut out);
        assert_eq!(
            out,
            [0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]
        );
    }

    #[test]
    fn eos_in_a_string_is_an_error() {
        let mut out = Vec::new();
        // EOS (30 ones) and two bits of padding.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(DecodeError::HuffmanEos)
        );
        // 'a' (00011), then EOS, then padding.
        assert_eq!(
            decode(&[0x1f, 0xff, 0xff, 0xff, 0xff], &mut out),
            Err(DecodeError::HuffmanEos)
        );
    }

    #[test]
    fn padding_longer_than_seven_bits_is_an_error() {
        let mut out = Vec::new();
        assert_eq!(decode(&[0xff], &mut out), Err(DecodeError::HuffmanPadding));
        // 'a' (00011) and eleven ones.
        assert_eq!(
            decode(&[0x1f, 0xff], &mut out),
            Err(DecodeError::HuffmanPadding)
        );
        // Seven ones after 'a' is the longest valid padding... with 'a'
        // taking five bits, three ones finish its byte: valid.
        out.clear();
        decode(&[0x1f], &mut out).unwrap();
        assert_eq!(out, b"a");
    }

    #[test]
    fn padding_that_is_not_all_ones_is_an_error() {
        let mut out = Vec::new();
        // 'a' (00011) and 000.
        assert_eq!(decode(&[0x18], &mut out), Err(DecodeError::HuffmanPadding));
        // 'a' and 110.
        assert_eq!(decode(&[0x1e], &mut out), Err(DecodeError::HuffmanPadding));
    }
}
