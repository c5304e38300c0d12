//! The header block decoder (RFC 7541 §3, §6). It faces the clients, so it
//! is exact: any malformation is an error, every integer is bounded, and
//! nothing is allocated per field once its buffers have grown.

use std::ops::Range;

use super::table::{entry_size, Name, Table};
use super::{huffman, integer, static_table};
use crate::ErrorCode;

/// What was wrong with a header block. Each is a connection error of type
/// `COMPRESSION_ERROR` (RFC 9113 §4.3): the decoder's state can no longer
/// be trusted to match the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An indexed field with index 0 (§6.1).
    #[error("index 0 names no field")]
    ZeroIndex,
    /// An index past the static and dynamic tables (§2.3.3).
    #[error("index {0} is past the static and dynamic tables")]
    BadIndex(usize),
    /// An integer with more continuation bytes than any valid value needs.
    #[error("an integer exceeds the decoder's bound")]
    IntegerOverflow,
    /// The block ends inside a field's integer or before its string.
    #[error("the block ends inside a field")]
    Truncated,
    /// A string's length runs past the block's end.
    #[error("a string runs past the block's end")]
    StringPastEnd,
    /// A Huffman-coded string contains EOS (§5.2).
    #[error("a Huffman-coded string contains EOS")]
    HuffmanEos,
    /// A Huffman-coded string's padding is longer than 7 bits or not the
    /// most significant bits of EOS (all ones) (§5.2).
    #[error("a Huffman-coded string's padding is longer than 7 bits or not all ones")]
    HuffmanPadding,
    /// A dynamic table size update above what this endpoint advertised
    /// (§6.3).
    #[error("dynamic table size update to {size} exceeds the advertised {max}")]
    SizeUpdateTooLarge { size: usize, max: usize },
    /// A dynamic table size update after the block's first field (§4.2).
    #[error("dynamic table size update after the block's first field")]
    SizeUpdateNotAtStart,
}

impl DecodeError {
    /// The HTTP/2 error code to close the connection with.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::COMPRESSION_ERROR
    }
}

/// What [`Decoder::decode`] found besides the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The header list was larger than `max_list_size`: the fields from
    /// the first one past it on were not emitted.
    pub over_limit: bool,
    /// The whole list's size (RFC 9113 §6.5.2: name + value + 32 each),
    /// emitted fields or not.
    pub list_size: usize,
}

/// An HPACK decoder: one per connection, fed every header block in order.
pub struct Decoder {
    table: Table,
    /// The SETTINGS_HEADER_TABLE_SIZE this endpoint advertises.
    max_table_size: usize,
    /// Huffman-decoded strings of the field being decoded.
    scratch: Vec<u8>,
}

/// A decoded string: in the block (sent raw) or in the scratch buffer
/// (Huffman-coded).
enum Str {
    Block(Range<usize>),
    Scratch(Range<usize>),
}

impl Str {
    fn bytes<'a>(&self, block: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            Str::Block(range) => &block[range.clone()],
            Str::Scratch(range) => &scratch[range.clone()],
        }
    }
}

/// The running size of the header list and whether it passed its limit.
struct List {
    max_size: usize,
    size: usize,
    over_limit: bool,
}

impl List {
    fn emit(&mut self, name: &[u8], value: &[u8], field: &mut impl FnMut(&[u8], &[u8])) {
        self.size = self.size.saturating_add(entry_size(name, value));
        // Once over, nothing more is emitted: the request is refused
        // whole, and a later small field must not look like a complete
        // list.
        self.over_limit |= self.size > self.max_size;
        if !self.over_limit {
            field(name, value);
        }
    }
}

impl Decoder {
    /// `max_table_size`: the SETTINGS_HEADER_TABLE_SIZE this endpoint
    /// advertises (4,096 by default): the most a peer's dynamic table size
    /// update may ask for. The table starts at this size. A peer may encode
    /// blocks against the protocol's initial 4,096 before it has this
    /// endpoint's SETTINGS, so advertising less than 4,096 needs the
    /// connection to allow for that window; at 4,096 or more a table
    /// larger than the peer's is harmless (indexes count from the newest).
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: Table::new(max_table_size),
            max_table_size,
            scratch: Vec::new(),
        }
    }

    /// Decodes one complete header block (the HEADERS payload plus any
    /// CONTINUATIONs, concatenated), calling `field(name, value)` for each
    /// field in order. Names are as sent (HTTP/2 requires lowercase;
    /// checking that is the caller's job, not HPACK's). Fields past
    /// `max_list_size` (RFC 9113 §6.5.2's size: name + value + 32 per
    /// field) are not emitted, but the block is still decoded to its end so
    /// the dynamic table stays in step with the peer's, and the result is
    /// `Ok(Decoded { over_limit: true, .. })`. Any malformation is `Err` (a
    /// connection error, COMPRESSION_ERROR, for the caller).
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<Decoded, DecodeError> {
        let mut list = List {
            max_size: max_list_size,
            size: 0,
            over_limit: false,
        };
        let mut pos = 0;
        // Dynamic table size updates: only before the first field (§4.2).
        while block.get(pos).is_some_and(|&b| b & 0xe0 == 0x20) {
            self.size_update(block, &mut pos)?;
        }
        while let Some(&first) = block.get(pos) {
            if first & 0x80 != 0 {
                self.indexed(block, &mut pos, &mut list, &mut field)?;
            } else if first & 0xc0 == 0x40 {
                self.literal(block, &mut pos, 6, true, &mut list, &mut field)?;
            } else if first & 0xe0 == 0x20 {
                return Err(DecodeError::SizeUpdateNotAtStart);
            } else {
                // Without indexing (0000) or never indexed (0001): the
                // same to a decoder that forwards nothing itself.
                self.literal(block, &mut pos, 4, false, &mut list, &mut field)?;
            }
        }
        Ok(Decoded {
            over_limit: list.over_limit,
            list_size: list.size,
        })
    }

    fn size_update(&mut self, block: &[u8], pos: &mut usize) -> Result<(), DecodeError> {
        let size = integer::decode(block, pos, 5)?;
        if size > self.max_table_size {
            return Err(DecodeError::SizeUpdateTooLarge {
                size,
                max: self.max_table_size,
            });
        }
        self.table.set_max_size(size);
        Ok(())
    }

    /// An indexed field (§6.1).
    fn indexed(
        &self,
        block: &[u8],
        pos: &mut usize,
        list: &mut List,
        field: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let index = integer::decode(block, pos, 7)?;
        if index == 0 {
            return Err(DecodeError::ZeroIndex);
        }
        let (name, value) = self.entry(index)?;
        list.emit(name, value, field);
        Ok(())
    }

    /// A literal field (§6.2), added to the table if `index`.
    fn literal(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        prefix_bits: u8,
        index: bool,
        list: &mut List,
        field: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let name_index = integer::decode(block, pos, prefix_bits)?;
        self.scratch.clear();
        let literal_name = if name_index == 0 {
            Some(read_string(block, pos, &mut self.scratch)?)
        } else {
            // Checked before the value is read: the error names the index.
            self.entry(name_index)?;
            None
        };
        let value = read_string(block, pos, &mut self.scratch)?;
        let value = value.bytes(block, &self.scratch);
        let name = match &literal_name {
            Some(name) => name.bytes(block, &self.scratch),
            None => self.entry(name_index)?.0,
        };
        list.emit(name, value, field);
        if index {
            let name = match (&literal_name, name_index.checked_sub(static_table::LEN + 1)) {
                (Some(name), _) => Name::Bytes(name.bytes(block, &self.scratch)),
                (None, Some(dynamic)) => Name::Entry(dynamic),
                (None, None) => Name::Bytes(static_table::ENTRIES[name_index - 1].0),
            };
            self.table.insert(name, value);
        }
        Ok(())
    }

    /// Entry `index` of the static and dynamic tables together (§2.3.3).
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        match index.checked_sub(static_table::LEN + 1) {
            None => static_table::get(index).ok_or(DecodeError::ZeroIndex),
            Some(dynamic) => self.table.get(dynamic).ok_or(DecodeError::BadIndex(index)),
        }
    }

    /// The dynamic table's entries, newest first, and its size (for tests).
    #[cfg(test)]
    pub(crate) fn table(&self) -> super::table::Snapshot {
        self.table.snapshot()
    }
}

/// Reads a string literal (§5.2) at `*pos`; a Huffman-coded one is
/// decoded onto the end of `scratch`.
fn read_string(block: &[u8], pos: &mut usize, scratch: &mut Vec<u8>) -> Result<Str, DecodeError> {
    let huffman = block.get(*pos).ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let len = integer::decode(block, pos, 7)?;
    let start = *pos;
    let end = start
        .checked_add(len)
        .filter(|&end| end <= block.len())
        .ok_or(DecodeError::StringPastEnd)?;
    *pos = end;
    if !huffman {
        return Ok(Str::Block(start..end));
    }
    let from = scratch.len();
    huffman::decode(&block[start..end], scratch)?;
    Ok(Str::Scratch(from..scratch.len()))
}
