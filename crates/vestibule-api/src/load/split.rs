//! Cuts a YAML stream into documents, remembering where each one starts so
//! that every line reported is a line of the file.

/// One document of a YAML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    /// The document's text, from its `---` line (if any) to the next marker.
    pub(crate) text: &'a str,
    /// How many lines of the file come before `text`.
    pub(crate) line_offset: u32,
    /// 1-based file line of the document's first line that is not blank or a comment.
    pub(crate) first_line: u32,
}

/// Splits `text` at `---` and `...` lines in column 0, dropping documents that
/// hold only blank lines, comments and directives.
///
/// A reload reads a changed file of 10,000 documents (180,000 lines) again,
/// so the markers are found by searching the whole text for them (SIMD),
/// not line by line; lines are counted between markers, and only a
/// document's first lines are looked at, for its first line of content.
pub(crate) fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let candidates = marker_candidates(text);
    let mut out = Vec::with_capacity(candidates.len() + 1);
    let mut lines = Lines::default();
    let mut start = 0usize; // byte offset of the current chunk
    let mut start_line = 0u32; // lines before the current chunk
    let mut first: Option<u32> = None;
    // Where the current chunk's content may begin (after its marker line).
    let mut content = 0usize;
    for at in candidates {
        let end = line_end(text, at);
        let bare = text[at..end].trim_end_matches(['\n', '\r']);
        let dashes = marker_rest(bare, "---");
        if dashes.is_none() && marker_rest(bare, "...").is_none() {
            continue;
        }
        if first.is_none() {
            first = first_content(text, content, at, &mut lines);
        }
        push_chunk(&mut out, &text[start..at], start_line, first);
        let line_no = lines.at(text, at);
        if let Some(rest) = dashes {
            start = at;
            start_line = line_no;
            first = is_content(rest).then_some(line_no.saturating_add(1));
        } else {
            start = end;
            start_line = line_no.saturating_add(1);
            first = None;
        }
        content = end;
    }
    if first.is_none() {
        first = first_content(text, content, text.len(), &mut lines);
    }
    push_chunk(&mut out, &text[start..], start_line, first);
    out
}

/// Offsets of the lines that start with `---` or `...`, in order: the only
/// lines that can be document markers.
fn marker_candidates(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    if bytes.starts_with(b"---") || bytes.starts_with(b"...") {
        starts.push(0);
    }
    let line_after = |newline: usize| newline + 1;
    starts.extend(memchr::memmem::find_iter(bytes, b"\n---").map(line_after));
    let dashes = starts.len();
    starts.extend(memchr::memmem::find_iter(bytes, b"\n...").map(line_after));
    if starts.len() > dashes {
        // Two sorted runs (`...` lines are rare): a stable sort merges
        // them in one pass.
        starts.sort();
    }
    starts
}

/// The end of the line at `at`, its newline included.
fn line_end(text: &str, at: usize) -> usize {
    memchr::memchr(b'\n', &text.as_bytes()[at..]).map_or(text.len(), |newline| at + newline + 1)
}

/// 1-based line of the first line of content (not blank, a comment or a
/// directive) between `from` and `to`, both line starts.
fn first_content(text: &str, from: usize, to: usize, lines: &mut Lines) -> Option<u32> {
    let mut at = from;
    for line in text[from..to].split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_content(bare) && !bare.starts_with('%') {
            return Some(lines.at(text, at).saturating_add(1));
        }
        at += line.len();
    }
    None
}

/// Lines before an offset, counted on from the last offset asked about
/// (offsets are asked in order).
#[derive(Default)]
struct Lines {
    offset: usize,
    count: u32,
}

impl Lines {
    fn at(&mut self, text: &str, offset: usize) -> u32 {
        debug_assert!(offset >= self.offset, "offsets asked in order");
        let newlines = memchr::memchr_iter(b'\n', &text.as_bytes()[self.offset..offset]).count();
        self.count = self
            .count
            .saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
        self.offset = offset;
        self.count
    }
}

fn push_chunk<'a>(out: &mut Vec<Chunk<'a>>, text: &'a str, line_offset: u32, first: Option<u32>) {
    if let Some(first_line) = first {
        out.push(Chunk {
            text,
            line_offset,
            first_line,
        });
    }
}

/// The rest of the line after a document marker, or `None` if `line` is not one.
fn marker_rest<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(marker)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(u32, u32)> {
        split_documents(text)
            .iter()
            .map(|c| (c.line_offset, c.first_line))
            .collect()
    }

    #[test]
    fn splits_and_keeps_lines() {
        let text = "a: 1\n---\n# c\nb: 2\n--- # x\n\n---\nc: 3\n...\n# after\nd: 4\n";
        assert_eq!(lines(text), vec![(0, 1), (1, 4), (6, 8), (9, 11)]);
        let chunks = split_documents(text);
        assert_eq!(chunks[1].text, "---\n# c\nb: 2\n");
        assert_eq!(chunks[3].text, "# after\nd: 4\n");
    }

    #[test]
    fn empty_and_comment_only() {
        assert!(split_documents("").is_empty());
        assert!(split_documents("# only\n---\n  # indented\n\n---\n").is_empty());
    }

    /// The line-by-line split this one replaced, to compare against.
    fn by_lines(text: &str) -> Vec<Chunk<'_>> {
        let mut out = Vec::new();
        let (mut start, mut start_line, mut first, mut offset) = (0usize, 0u32, None, 0usize);
        for (idx, line) in text.split_inclusive('\n').enumerate() {
            let line_no = u32::try_from(idx).unwrap();
            let bare = line.trim_end_matches(['\n', '\r']);
            if let Some(rest) = marker_rest(bare, "---") {
                push_chunk(&mut out, &text[start..offset], start_line, first);
                (start, start_line) = (offset, line_no);
                first = is_content(rest).then_some(line_no + 1);
            } else if marker_rest(bare, "...").is_some() {
                push_chunk(&mut out, &text[start..offset], start_line, first);
                (start, start_line, first) = (offset + line.len(), line_no + 1, None);
            } else if first.is_none() && is_content(bare) && !bare.starts_with('%') {
                first = Some(line_no + 1);
            }
            offset += line.len();
        }
        push_chunk(&mut out, &text[start..], start_line, first);
        out
    }

    #[test]
    fn agrees_with_a_line_by_line_split() {
        const PIECES: &[&str] = &[
            "---\n",
            "--- # c\n",
            "--- {a: 1}\n",
            "---\r\n",
            "...\n",
            "... # end\n",
            "a: 1\n",
            "  ---\n",
            "----: x\n",
            "...x\n",
            "# c\n",
            "\n",
            "  # i\n",
            "%YAML 1.2\n",
            "b: |\n  text\n",
            "---",
            "...",
            "c: 2",
            "-\n",
            ".\n",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut pick = seed;
            for _ in 0..(pick % 12) {
                pick = pick.rotate_right(5);
                text.push_str(PIECES[(pick % PIECES.len() as u64) as usize]);
            }
            assert_eq!(split_documents(&text), by_lines(&text), "{text:?}");
        }
    }

    #[test]
    fn content_after_marker_and_crlf() {
        assert_eq!(lines("--- {a: 1}\r\n---\r\nb: 2\r\n"), vec![(0, 1), (1, 3)]);
        // Not markers: indented, or followed by other characters.
        assert_eq!(lines("a: |\n  ---\n----: x\n"), vec![(0, 1)]);
    }
}
