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
pub(crate) fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let mut start = 0usize; // byte offset of the current chunk
    let mut start_line = 0u32; // lines before the current chunk
    let mut first: Option<u32> = None;
    let mut offset = 0usize;
    for (idx, line) in text.split_inclusive('\n').enumerate() {
        // Most lines neither start with a marker's character nor are
        // looked at for content: skipped at the cost of one comparison
        // (10,000 documents are 180,000 lines).
        if first.is_some() && !line.starts_with(['-', '.']) {
            offset += line.len();
            continue;
        }
        let line_no = u32::try_from(idx).unwrap_or(u32::MAX);
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = marker_rest(bare, "---") {
            push_chunk(&mut out, &text[start..offset], start_line, first);
            start = offset;
            start_line = line_no;
            first = is_content(rest).then_some(line_no.saturating_add(1));
        } else if marker_rest(bare, "...").is_some() {
            push_chunk(&mut out, &text[start..offset], start_line, first);
            start = offset + line.len();
            start_line = line_no.saturating_add(1);
            first = None;
        } else if first.is_none() && is_content(bare) && !bare.starts_with('%') {
            first = Some(line_no.saturating_add(1));
        }
        offset += line.len();
    }
    push_chunk(&mut out, &text[start..], start_line, first);
    out
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

    #[test]
    fn content_after_marker_and_crlf() {
        assert_eq!(lines("--- {a: 1}\r\n---\r\nb: 2\r\n"), vec![(0, 1), (1, 3)]);
        // Not markers: indented, or followed by other characters.
        assert_eq!(lines("a: |\n  ---\n----: x\n"), vec![(0, 1)]);
    }
}
