//! The dynamic table (RFC 7541 §2.3.2, §4), as both the decoder and the
//! encoder keep it: entries newest first, evicted oldest first by size.
//!
//! Entries' bytes live in one buffer, appended at its end; eviction only
//! forgets the oldest entries, and the dead bytes before the oldest live
//! entry are dropped when the buffer would otherwise grow. The buffer
//! is kept at least twice the live bytes after such a compaction, so
//! compaction copies at most one byte per byte inserted, and after warm-up
//! inserting allocates nothing. Each entry is a contiguous slice, and an
//! index is an O(1) look-up in a `VecDeque`.

use std::collections::VecDeque;

/// What an entry costs beyond its name and value (§4.1).
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// An entry's size as §4.1 counts it.
pub(crate) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

/// A table's entries, newest first, and its size (for tests).
#[cfg(test)]
pub(crate) type Snapshot = (Vec<(Vec<u8>, Vec<u8>)>, usize);

#[derive(Clone, Copy)]
struct Entry {
    /// The name's position in the stream of all bytes ever appended
    /// (`Table::origin` is `bytes[0]`'s), then the value's.
    start: u64,
    name_len: usize,
    value_len: usize,
}

/// An inserted entry's name: bytes, or an entry's name (0 = newest), which
/// may be one the insertion evicts (§4.4 allows it).
pub(crate) enum Name<'a> {
    Bytes(&'a [u8]),
    Entry(usize),
}

pub(crate) struct Table {
    bytes: Vec<u8>,
    origin: u64,
    /// Newest first.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl Table {
    pub(crate) fn new(max_size: usize) -> Table {
        Table {
            bytes: Vec::new(),
            origin: 0,
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The sum of the entries' sizes.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// Entry `i`, 0 being the newest.
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(|entry| self.slices(entry))
    }

    fn slices(&self, entry: &Entry) -> (&[u8], &[u8]) {
        let start = (entry.start - self.origin) as usize;
        let middle = start + entry.name_len;
        (
            &self.bytes[start..middle],
            &self.bytes[middle..middle + entry.value_len],
        )
    }

    /// The newest entry with this name and value, and the newest with this
    /// name (0 = newest). A linear scan: the table holds a few dozen
    /// entries at most in practice, and comparing lengths first makes most
    /// steps a pair of integer compares (cheaper than hashing the field).
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut same_name = None;
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.name_len != name.len() {
                continue;
            }
            let (entry_name, entry_value) = self.slices(entry);
            if entry_name != name {
                continue;
            }
            if entry_value == value {
                return (Some(i), same_name.or(Some(i)));
            }
            same_name = same_name.or(Some(i));
        }
        (None, same_name)
    }

    /// A new maximum size (a dynamic table size update): evicts until the
    /// entries fit.
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict();
    }

    /// Adds an entry, evicting the oldest until it fits; one larger than
    /// the table empties it (§4.4).
    pub(crate) fn insert(&mut self, name: Name<'_>, value: &[u8]) {
        let name_len = match name {
            Name::Bytes(bytes) => bytes.len(),
            Name::Entry(i) => self.entries[i].name_len,
        };
        let size = name_len + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            self.clear();
            return;
        }
        // Appending before evicting keeps a referenced name's bytes live.
        self.make_room(name_len + value.len());
        let start = self.origin + self.bytes.len() as u64;
        match name {
            Name::Bytes(bytes) => self.bytes.extend_from_slice(bytes),
            Name::Entry(i) => {
                let from = (self.entries[i].start - self.origin) as usize;
                self.bytes.extend_from_within(from..from + name_len);
            }
        }
        self.bytes.extend_from_slice(value);
        self.entries.push_front(Entry {
            start,
            name_len,
            value_len: value.len(),
        });
        self.size += size;
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            let Some(oldest) = self.entries.pop_back() else {
                break;
            };
            self.size -= oldest.name_len + oldest.value_len + ENTRY_OVERHEAD;
        }
        if self.entries.is_empty() {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
        self.size = 0;
    }

    /// Makes room for `needed` more bytes without reallocating if dropping
    /// the dead bytes (those before the oldest live entry) gives it.
    fn make_room(&mut self, needed: usize) {
        if self.bytes.len() + needed <= self.bytes.capacity() {
            return;
        }
        let live_from = match self.entries.back() {
            Some(oldest) => (oldest.start - self.origin) as usize,
            None => self.bytes.len(),
        };
        self.bytes.drain(..live_from);
        self.origin += live_from as u64;
        let wanted = 2 * (self.bytes.len() + needed);
        self.bytes.reserve(wanted - self.bytes.len());
    }

    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> Snapshot {
        (self.entries(), self.size)
    }

    /// The entries, newest first (for tests).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.entries
            .iter()
            .map(|entry| {
                let (name, value) = self.slices(entry);
                (name.to_vec(), value.to_vec())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Name, Table};

    #[test]
    fn eviction_by_size_oldest_first() {
        let mut table = Table::new(100);
        table.insert(Name::Bytes(b"a"), b"1"); // 34
        table.insert(Name::Bytes(b"b"), b"2"); // 34
        assert_eq!(table.size(), 68);
        table.insert(Name::Bytes(b"c"), b"3"); // 34: "a" goes
        assert_eq!(table.size(), 68);
        assert_eq!(
            table.entries(),
            [
                (b"c".to_vec(), b"3".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        table.set_max_size(34);
        assert_eq!(table.entries(), [(b"c".to_vec(), b"3".to_vec())]);
        table.set_max_size(0);
        assert_eq!(table.len(), 0);
        assert_eq!(table.size(), 0);
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut table = Table::new(64);
        table.insert(Name::Bytes(b"a"), b"1");
        table.insert(Name::Bytes(b"name"), &[b'x'; 29]); // 65
        assert_eq!(table.len(), 0);
        assert_eq!(table.size(), 0);
        table.insert(Name::Bytes(b"name"), &[b'x'; 28]); // 64: fits exactly
        assert_eq!(table.size(), 64);
    }

    #[test]
    fn a_new_entry_may_take_the_name_of_one_it_evicts() {
        let mut table = Table::new(80);
        table.insert(Name::Bytes(b"custom-name"), b"first-value"); // 54
        table.insert(Name::Entry(0), b"second-value"); // 55: evicts the first
        assert_eq!(
            table.entries(),
            [(b"custom-name".to_vec(), b"second-value".to_vec())]
        );
    }

    #[test]
    fn many_insertions_keep_entries_intact_and_the_buffer_bounded() {
        let mut table = Table::new(4096);
        for i in 0..100_000u32 {
            let value = i.to_string().repeat(1 + (i % 7) as usize);
            table.insert(Name::Bytes(b"x-counter"), value.as_bytes());
            let (name, newest) = table.get(0).unwrap();
            assert_eq!((name, newest), (&b"x-counter"[..], value.as_bytes()));
            if i > 0 {
                let older = (i - 1).to_string().repeat(1 + ((i - 1) % 7) as usize);
                assert_eq!(table.get(1).unwrap().1, older.as_bytes());
            }
            assert!(table.size() <= 4096);
        }
        assert!(
            table.bytes.capacity() <= 4 * 4096,
            "{}",
            table.bytes.capacity()
        );
    }

    #[test]
    fn find_prefers_the_newest() {
        let mut table = Table::new(4096);
        table.insert(Name::Bytes(b"a"), b"1");
        table.insert(Name::Bytes(b"b"), b"2");
        table.insert(Name::Bytes(b"a"), b"3");
        assert_eq!(table.find(b"a", b"1"), (Some(2), Some(0)));
        assert_eq!(table.find(b"a", b"3"), (Some(0), Some(0)));
        assert_eq!(table.find(b"a", b"4"), (None, Some(0)));
        assert_eq!(table.find(b"c", b"1"), (None, None));
    }
}
