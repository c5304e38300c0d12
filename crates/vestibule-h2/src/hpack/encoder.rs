//! The header block encoder (RFC 7541 §6), for responses: it runs on every
//! response, so the common path is a match on the name, a short scan of
//! the dynamic table, and a byte or two of output.

use super::table::{entry_size, Name, Table};
use super::{huffman, integer, static_table};

/// The most dynamic table this encoder uses, however large the peer's
/// decoder allows: a response head's repeated fields fit many times over,
/// and the scan of a larger table would cost more than it saves
/// (nghttp2 caps its encoder the same way).
const TABLE_LIMIT: usize = 4096;

/// The peer's table before its SETTINGS say otherwise (RFC 9113 §6.5.2).
const DEFAULT_TABLE_SIZE: usize = 4096;

/// The longest `content-length` value worth indexing: small bodies (error
/// pages, health checks, fixed replies) repeat their length exactly, while
/// larger ones rarely do and would only push useful entries out.
const INDEXED_CONTENT_LENGTH_DIGITS: usize = 3;

/// An HPACK encoder: one per connection, writing every header block in
/// order.
pub struct Encoder {
    table: Table,
    /// Table size changes not yet signalled: the smallest since the last
    /// block, and the latest.
    pending: Option<Resize>,
}

#[derive(Clone, Copy)]
struct Resize {
    smallest: usize,
    latest: usize,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// A peer's decoder table is 4,096 bytes until its SETTINGS say
    /// otherwise.
    pub fn new() -> Encoder {
        Encoder {
            table: Table::new(DEFAULT_TABLE_SIZE.min(TABLE_LIMIT)),
            pending: None,
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block
    /// starts with the dynamic table size update(s) RFC 7541 §4.2 requires
    /// (the minimum seen, then the final, if it shrank and grew).
    pub fn set_max_table_size(&mut self, size: usize) {
        let size = size.min(TABLE_LIMIT);
        let current = self.table.max_size();
        let resize = self.pending.get_or_insert(Resize {
            smallest: current,
            latest: current,
        });
        resize.smallest = resize.smallest.min(size);
        resize.latest = size;
    }

    /// Starts a header block (writes any pending size update).
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        let Some(resize) = self.pending.take() else {
            return;
        };
        if resize.smallest < self.table.max_size() {
            self.size_update(resize.smallest, out);
        }
        if resize.latest != self.table.max_size() {
            self.size_update(resize.latest, out);
        }
    }

    fn size_update(&mut self, size: usize, out: &mut Vec<u8>) {
        integer::encode(size, 5, 0x20, out);
        self.table.set_max_size(size);
    }

    /// `:status` (uses the static table's 200/204/206/304/400/404/500
    /// entries, else a literal).
    pub fn status(&mut self, status: u16, out: &mut Vec<u8>) {
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if index != 0 {
            out.push(0x80 | index);
            return;
        }
        let mut digits = [0u8; 5];
        let mut start = digits.len();
        let mut rest = status;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.field(b":status", &digits[start..], false, out);
    }

    /// One field. `sensitive`: never indexed (RFC 7541 §6.2.3), for e.g.
    /// set-cookie/authorization if the caller asks. Names must already be
    /// lowercase.
    pub fn field(&mut self, name: &[u8], value: &[u8], sensitive: bool, out: &mut Vec<u8>) {
        let static_name = static_table::name_index(name);
        if sensitive {
            // Never an indexed field: the representation itself tells
            // intermediaries not to index it either (§6.2.3).
            let name_index = static_name.or_else(|| self.dynamic_name(name));
            literal(name_index, name, value, 0x10, out);
            return;
        }
        if let Some(index) = static_name.and_then(|index| static_table::field_index(index, value)) {
            integer::encode(index, 7, 0x80, out);
            return;
        }
        let (same_field, same_name) = self.table.find(name, value);
        if let Some(i) = same_field {
            integer::encode(static_table::LEN + 1 + i, 7, 0x80, out);
            return;
        }
        let name_index = static_name.or(same_name.map(|i| static_table::LEN + 1 + i));
        if self.worth_indexing(static_name, name, value) {
            literal(name_index, name, value, 0x40, out);
            self.table.insert(Name::Bytes(name), value);
        } else {
            literal(name_index, name, value, 0x00, out);
        }
    }

    fn dynamic_name(&self, name: &[u8]) -> Option<usize> {
        let (_, same_name) = self.table.find(name, b"");
        same_name.map(|i| static_table::LEN + 1 + i)
    }

    /// Whether a field is likely to repeat on this connection, and small
    /// enough that indexing it does not flush the table.
    fn worth_indexing(&self, static_name: Option<usize>, name: &[u8], value: &[u8]) -> bool {
        if entry_size(name, value) > self.table.max_size() * 3 / 4 {
            return false;
        }
        match static_name {
            Some(static_table::CONTENT_LENGTH) => value.len() <= INDEXED_CONTENT_LENGTH_DIGITS,
            // Per-response values: a cookie's session or expiry, an age
            // that counts seconds, a resource's own tag, a byte range.
            Some(
                static_table::SET_COOKIE
                | static_table::AGE
                | static_table::ETAG
                | static_table::CONTENT_RANGE,
            ) => false,
            _ => true,
        }
    }

    /// The dynamic table's entries, newest first, and its size (for tests).
    #[cfg(test)]
    pub(crate) fn table(&self) -> super::table::Snapshot {
        self.table.snapshot()
    }
}

/// A literal field (§6.2): `flags` 0x40 with incremental indexing (a
/// 6-bit index prefix), 0x00 without indexing, 0x10 never indexed (a
/// 4-bit prefix).
fn literal(name_index: Option<usize>, name: &[u8], value: &[u8], flags: u8, out: &mut Vec<u8>) {
    let prefix_bits = if flags == 0x40 { 6 } else { 4 };
    match name_index {
        Some(index) => integer::encode(index, prefix_bits, flags, out),
        None => {
            out.push(flags);
            string(name, out);
        }
    }
    string(value, out);
}

/// A string literal (§5.2): Huffman-coded when that is shorter.
fn string(bytes: &[u8], out: &mut Vec<u8>) {
    let huffman_len = huffman::encoded_len(bytes);
    if huffman_len < bytes.len() {
        integer::encode(huffman_len, 7, 0x80, out);
        huffman::encode(bytes, out);
    } else {
        integer::encode(bytes.len(), 7, 0x00, out);
        out.extend_from_slice(bytes);
    }
}
