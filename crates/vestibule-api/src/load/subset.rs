//! The YAML that manifests are written in, read without the full parser.
//!
//! serde-saphyr costs about 900 instructions per byte of manifest (10,000
//! VirtualServices, 3 MB, took 2.7 G instructions to parse), most of the
//! time to load a large configuration. Manifests almost always use a small
//! part of YAML: block mappings and sequences, plain scalars that are plainly
//! text, integers or `true`/`false`, quoted scalars on one line, and flow
//! collections on one line. This reader takes exactly that part, about ten
//! times faster, and declines (`None`) everything else, however valid:
//! anchors, aliases, tags, block scalars, multi-line scalars, scalars whose
//! type depends on the schema (`yes`, `1.5`, `0x10`, `~`), tabs, CRLF,
//! duplicate keys. A declined document goes to serde-saphyr as before.
//!
//! The rule: whenever this reader gives a tree, it is the tree serde-saphyr
//! gives for the same text. The tests check it on every manifest in the
//! repository and on cases built to tell them apart; the `yaml_subset` fuzz
//! target checks it on any input.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is declined (serde-saphyr's budget is 128).
const MAX_DEPTH: usize = 64;

/// Lines with a `#` beyond this are declined: the parser gives up looking
/// ahead past 96 buffered events (granit-parser's
/// `max_buffered_comment_events`; a comment line queues about two), so a
/// long run of comments can make it fail where this reader would not. The
/// fuzzer found 42 comment lines after a key with no value enough.
const MAX_COMMENT_LINES: usize = 24;

/// Longer keys are declined: YAML limits an implicit key to 1,024
/// characters, and the parser enforces it (`simple_key_max_lookahead`).
const MAX_KEY_BYTES: usize = 512;

/// Larger documents are declined: the parser's budget counts nodes
/// (250,000), which a document this size cannot reach.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The document's tree, or `None` when the text is not in the subset.
pub(crate) fn parse(text: &str) -> Option<Value> {
    if text.len() > MAX_DOCUMENT_BYTES || !plain_characters(text) {
        return None;
    }
    let mut lines = lines(text)?;
    if lines.is_empty() {
        return None;
    }
    let mut reader = Reader {
        lines: &mut lines,
        next: 0,
        depth: 0,
    };
    let indent = reader.lines[0].indent;
    let value = reader.block(indent)?;
    (reader.next == reader.lines.len()).then_some(value)
}

/// No tab, no CR, nothing YAML forbids or reads as a line break or mark
/// (control characters, NEL, the line and paragraph separators, BOM,
/// noncharacters): only `\n` breaks lines, and every other character is
/// the same to both readers.
fn plain_characters(text: &str) -> bool {
    let ascii_ok = |b: &u8| *b == b'\n' || (0x20..0x7f).contains(b) || *b >= 0x80;
    if !text.as_bytes().iter().all(ascii_ok) {
        return false;
    }
    text.is_ascii()
        || !text.chars().any(|c| {
            (c.is_control() && c != '\n')
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                )
        })
}

/// A line with content: its indentation and its text after it (comments
/// are left in: where one starts depends on what precedes it).
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// The lines that hold content. A document marker may open the text; any
/// other marker, directive or content after the marker is declined.
fn lines(text: &str) -> Option<Vec<Line<'_>>> {
    let mut lines = Vec::with_capacity(text.len() / 16);
    let mut comments = 0;
    // Most documents have no `#` at all: one search instead of one a line.
    let any_hash = memchr::memchr(b'#', text.as_bytes()).is_some();
    for (index, raw) in split_lines(text).enumerate() {
        let text = raw.trim_start_matches(' ');
        if any_hash && text.contains('#') {
            comments += 1;
            if comments > MAX_COMMENT_LINES {
                return None;
            }
        }
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let indent = raw.len() - text.len();
        if indent == 0 && (text.starts_with("---") || text.starts_with("...")) {
            if index == 0 && lines.is_empty() && text.trim_end() == "---" {
                continue;
            }
            return None;
        }
        if indent == 0 && text.starts_with('%') {
            return None;
        }
        lines.push(Line { indent, text });
    }
    Some(lines)
}

/// `text.split('\n')`, with the newlines found by one vectorised search
/// over the whole text rather than a search started again at each line.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut newlines = memchr::memchr_iter(b'\n', text.as_bytes());
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        let end = newlines.next();
        start = end.map(|end| end + 1);
        Some(&text[from..end.unwrap_or(text.len())])
    })
}

struct Reader<'r, 'a> {
    lines: &'r mut Vec<Line<'a>>,
    next: usize,
    depth: usize,
}

impl<'a> Reader<'_, 'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.next).copied()
    }

    /// The block node whose first line is the next one, at `indent`.
    fn block(&mut self, indent: usize) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let line = self.peek()?;
        let value = if is_entry(line.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        };
        self.depth -= 1;
        value
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek().filter(|l| l.indent == indent) {
            if !is_entry(line.text) {
                break; // a mapping's next key, when the sequence is its value
            }
            let rest = &line.text[1..];
            let content = rest.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                self.next += 1;
                items.push(self.nested(indent, false)?);
                continue;
            }
            // The item's content starts a node at its own column: rewrite
            // the line as that node's first line and read it in place.
            let column = indent + 1 + (rest.len() - content.len());
            if is_entry(content) || starts_mapping(content)? {
                self.lines[self.next] = Line {
                    indent: column,
                    text: content,
                };
                items.push(self.block(column)?);
            } else {
                self.next += 1;
                items.push(self.inline(content)?);
                self.no_continuation(indent)?;
            }
        }
        self.after_block(indent)?;
        Some(Value::Array(items))
    }

    fn mapping(&mut self, indent: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.peek().filter(|l| l.indent == indent) {
            if is_entry(line.text) {
                return None; // a sequence entry among keys
            }
            let (key, rest) = key(line.text)?;
            self.next += 1;
            let content = rest.trim_start_matches(' ');
            let value = if content.is_empty() || content.starts_with('#') {
                self.nested(indent, true)?
            } else {
                let value = self.inline(content)?;
                self.no_continuation(indent)?;
                value
            };
            if map.insert(key, value).is_some() {
                return None; // duplicate key: the parser rejects the document
            }
        }
        self.after_block(indent)?;
        Some(Value::Object(map))
    }

    /// The value of a key or entry with nothing after it on its line: the
    /// block below it, or, for a key, a sequence at the key's own
    /// indentation; else null.
    fn nested(&mut self, indent: usize, in_mapping: bool) -> Option<Value> {
        match self.peek() {
            Some(next) if next.indent > indent => self.block(next.indent),
            Some(next) if in_mapping && next.indent == indent && is_entry(next.text) => {
                self.block(indent)
            }
            _ => Some(Value::Null),
        }
    }

    /// A scalar or flow collection ends its line: a more indented line
    /// after it would continue a multi-line scalar.
    fn no_continuation(&self, indent: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    /// A block ends where a line is less indented; one more indented than
    /// the block is a mistake (or a continuation) the subset does not read.
    fn after_block(&self, indent: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    /// A value on the rest of a line: a flow collection or a scalar.
    fn inline(&self, text: &str) -> Option<Value> {
        let text = strip_comment(text)?;
        match text.as_bytes()[0] {
            b'[' | b'{' => {
                let mut flow = Flow {
                    bytes: text.as_bytes(),
                    text,
                    at: 0,
                    depth: self.depth,
                };
                let value = flow.node()?;
                flow.skip_spaces();
                (flow.at == text.len()).then_some(value)
            }
            b'"' | b'\'' => {
                let (value, rest) = quoted_prefix(text)?;
                rest.is_empty().then_some(Value::String(value))
            }
            _ => plain_value(text, false),
        }
    }
}

/// `- ` (or a lone `-`) opens a sequence entry.
fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Whether an entry's content is a mapping's first key (`name: x`).
fn starts_mapping(text: &str) -> Option<bool> {
    match text.as_bytes()[0] {
        b'[' | b'{' => Some(false),
        b'"' | b'\'' => {
            let (_, rest) = quoted_prefix(text)?;
            Some(rest.starts_with(':'))
        }
        _ => Some(plain_key_end(text).is_some()),
    }
}

/// A mapping key and the rest of its line after the `:`.
fn key(text: &str) -> Option<(String, &str)> {
    match text.as_bytes()[0] {
        b'"' | b'\'' => {
            let (key, rest) = quoted_prefix(text)?;
            if text.len() - rest.len() > MAX_KEY_BYTES {
                return None;
            }
            let rest = rest.strip_prefix(':')?;
            (rest.is_empty() || rest.starts_with(' ')).then_some((key, rest))
        }
        _ => {
            let end = plain_key_end(text)?;
            let key = &text[..end];
            is_plain_key(key).then(|| (key.to_owned(), &text[end + 1..]))
        }
    }
}

/// Where a plain key's `:` is (followed by a space or the end of the line).
fn plain_key_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let end = bytes.iter().position(|&b| b == b':')?;
    if end > MAX_KEY_BYTES {
        return None;
    }
    matches!(bytes.get(end + 1), None | Some(b' ')).then_some(end)
}

/// Keys as manifests write them: a letter or `_`, then letters, digits and
/// `-_./`, and not a word a schema reads otherwise. Anything else goes to
/// the parser.
fn is_plain_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    // A key `null` or `yes` is not the text "null" to the parser.
    if is_schema_word(key) {
        return false;
    }
    matches!(bytes.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// `text` without a trailing comment (` #…`) and trailing spaces; `None`
/// when nothing is left, or when text follows a closing quote.
fn strip_comment(text: &str) -> Option<&str> {
    if matches!(text.as_bytes()[0], b'"' | b'\'') {
        // A comment can only start after the closing quote.
        let (_, rest) = quoted_prefix(text)?;
        let tail = rest.trim_start_matches(' ');
        let comment = tail.starts_with('#') && tail.len() < rest.len();
        return (tail.is_empty() || comment).then(|| &text[..text.len() - rest.len()]);
    }
    let end = comment_start(text).unwrap_or(text.len());
    let kept = text[..end].trim_end_matches(' ');
    (!kept.is_empty()).then_some(kept)
}

/// Where ` #` first occurs in `text` (`text.find(" #")`): a search for the
/// rare `#` alone, without a substring searcher built for each value.
fn comment_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'#', bytes)
        .find(|&at| at > 0 && bytes[at - 1] == b' ')
        .map(|at| at - 1)
}

/// A quoted scalar at the start of `text`, closed on this line, and the
/// text right after the closing quote.
fn quoted_prefix(text: &str) -> Option<(String, &str)> {
    let bytes = text.as_bytes();
    if bytes[0] == b'\'' {
        let mut value = String::new();
        let mut at = 1;
        loop {
            let close = at + text[at..].find('\'')?;
            value.push_str(&text[at..close]);
            if bytes.get(close + 1) == Some(&b'\'') {
                value.push('\'');
                at = close + 2;
            } else {
                return Some((value, &text[close + 1..]));
            }
        }
    }
    let mut value = String::new();
    let mut at = 1;
    loop {
        let stop = at + text[at..].find(['"', '\\'])?;
        value.push_str(&text[at..stop]);
        if bytes[stop] == b'"' {
            return Some((value, &text[stop + 1..]));
        }
        let (ch, used) = escape(&text[stop + 1..])?;
        value.push(ch);
        at = stop + 1 + used;
    }
}

/// A double-quoted escape (after the `\`): the common ones only.
fn escape(text: &str) -> Option<(char, usize)> {
    let ch = match text.as_bytes().first()? {
        b'\\' => '\\',
        b'"' => '"',
        b'/' => '/',
        b'n' => '\n',
        b't' => '\t',
        b'r' => '\r',
        b'0' => '\0',
        b'u' => {
            let hex = text.get(1..5)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            return Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 5));
        }
        _ => return None,
    };
    Some((ch, 1))
}

/// A plain scalar's value, when its type is the same under every schema
/// serde-saphyr might apply: `true`, `false`, a decimal integer, or text
/// that cannot be read as anything but text. `None` for the rest.
fn plain_value(text: &str, in_flow: bool) -> Option<Value> {
    let bytes = text.as_bytes();
    let first = bytes[0];
    if text.contains(": ") || text.ends_with(':') {
        return None; // a mapping where a scalar must be
    }
    if in_flow && text.contains(['[', ']', '{', '}', ',', '#']) {
        return None;
    }
    if first.is_ascii_digit() {
        return digits_value(text);
    }
    if !(first.is_ascii_alphabetic() || first == b'/' || first == b'_') {
        return None;
    }
    match text {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if is_schema_word(text) {
        return None;
    }
    Some(Value::String(text.to_owned()))
}

/// Words some YAML schema reads as a boolean, null or special float.
fn is_schema_word(text: &str) -> bool {
    text.len() <= 5
        && [
            "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf",
        ]
        .iter()
        .any(|word| text.eq_ignore_ascii_case(word))
}

/// A scalar that starts with a digit: a decimal integer without leading
/// zeros, or a duration (`10s`, `250ms`) or IPv4 address, which are text
/// under every schema. Anything else (`1.5`, `0x10`, `1e3`, `1_000`,
/// `10:30`, `007`) is declined.
fn digits_value(text: &str) -> Option<Value> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, rest) = text.split_at(digits);
    if number.len() > 1 && number.starts_with('0') {
        return None;
    }
    if rest.is_empty() {
        let value = number.parse::<u64>().ok().filter(|_| digits <= 18)?;
        return Some(Value::Number(Number::from(value)));
    }
    if matches!(rest, "ms" | "s" | "m" | "h" | "us" | "ns") || is_ipv4(text) {
        return Some(Value::String(text.to_owned()));
    }
    None
}

fn is_ipv4(text: &str) -> bool {
    let mut parts = 0;
    for part in text.split('.') {
        parts += 1;
        let plain = !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit());
        if !plain || (part.len() > 1 && part.starts_with('0')) {
            return false;
        }
    }
    parts == 4
}

/// A flow collection on one line: `[a, b]`, `{name: x, port: 80}`.
struct Flow<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Flow<'_> {
    fn skip_spaces(&mut self) {
        while self.bytes.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn node(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.skip_spaces();
        let value = match *self.bytes.get(self.at)? {
            b'[' => self.sequence(),
            b'{' => self.mapping(),
            b'"' | b'\'' => {
                let (value, rest) = quoted_prefix(&self.text[self.at..])?;
                self.at = self.text.len() - rest.len();
                Some(Value::String(value))
            }
            _ => {
                let start = self.at;
                while let Some(&b) = self.bytes.get(self.at) {
                    if matches!(b, b',' | b']' | b'}') {
                        break;
                    }
                    self.at += 1;
                }
                let text = self.text[start..self.at].trim_end_matches(' ');
                if text.is_empty() {
                    return None;
                }
                plain_value(text, true)
            }
        };
        self.depth -= 1;
        value
    }

    /// Steps past a flow collection's opening bracket; true, past its
    /// close too, when the collection is empty.
    fn open(&mut self, close: u8) -> bool {
        self.at += 1;
        self.skip_spaces();
        let empty = self.bytes.get(self.at) == Some(&close);
        if empty {
            self.at += 1;
        }
        empty
    }

    fn sequence(&mut self) -> Option<Value> {
        let mut items = Vec::new();
        if self.open(b']') {
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.node()?);
            self.skip_spaces();
            match self.bytes.get(self.at)? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Value::Array(items));
                }
                _ => return None, // `[a: b]` and the like
            }
        }
    }

    fn mapping(&mut self) -> Option<Value> {
        let mut map = Map::new();
        if self.open(b'}') {
            return Some(Value::Object(map));
        }
        loop {
            self.skip_spaces();
            let key = self.key()?;
            let value = self.node()?;
            if map.insert(key, value).is_some() {
                return None;
            }
            self.skip_spaces();
            match self.bytes.get(self.at)? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(Value::Object(map));
                }
                _ => return None,
            }
        }
    }

    /// A flow mapping's key and its `: `.
    fn key(&mut self) -> Option<String> {
        let rest = &self.text[self.at..];
        if rest.find(':').is_none_or(|colon| colon > MAX_KEY_BYTES) {
            return None;
        }
        let (key, after) = match *self.bytes.get(self.at)? {
            b'"' | b'\'' => quoted_prefix(rest)?,
            _ => {
                let end = rest.find(':')?;
                let key = &rest[..end];
                if !is_plain_key(key) {
                    return None;
                }
                (key.to_owned(), &rest[end..])
            }
        };
        let after = after.strip_prefix(": ")?;
        self.at = self.text.len() - after.len();
        Some(key)
    }
}

#[cfg(test)]
#[path = "subset_tests.rs"]
mod tests;
