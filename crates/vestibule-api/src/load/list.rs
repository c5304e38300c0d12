//! `kind: List` documents. Each item is cut out of the List as a document of
//! its own (padded so that lines and columns stay those of the file), which
//! keeps loading linear in the List's size. When a cut cannot be made or does
//! not read back the same, the item is read in place instead (see
//! [`super::select`]), which costs a parse of the whole List.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_saphyr::Spanned;

use super::dispatch::object;
use super::doc::{Doc, Format};
use super::header::Header;
use super::path::FieldPath;
use super::{context::Ctx, Loaded};

/// One item of a List, as found by the first pass over it.
struct Item {
    /// File line of the item's first line.
    line: u32,
    /// The header as read in the List (YAML only): a cut must read back the same.
    header: Option<Header>,
    cut: Option<Cut>,
}

/// An item's text as a document of its own.
struct Cut {
    text: String,
    line_offset: u32,
}

/// Loads every item of the List document `doc` (whose header is `list`).
pub(crate) fn load_list(cx: &mut Ctx<'_>) {
    let items = match cx.doc.format {
        Format::Yaml => yaml_items(cx),
        Format::Json => json_items(cx),
    };
    let (file, doc) = (cx.file, cx.doc);
    for (index, item) in items.into_iter().enumerate() {
        load_item(file, doc, index, &item, cx.out);
    }
}

fn load_item(file: &str, doc: &Doc<'_>, index: usize, item: &Item, out: &mut Loaded) {
    let prefix = FieldPath::default().key("items").index(index);
    if let Some(cut) = &item.cut {
        let sub = Doc::new(&cut.text, doc.format, cut.line_offset, item.line);
        if let Ok(parsed) = sub.read::<Header>(None) {
            if item.header.as_ref().is_none_or(|h| *h == parsed.value) {
                let header = parsed.value;
                let mut cx = Ctx {
                    file,
                    doc: &sub,
                    item: None,
                    prefix,
                    header: &header,
                    line: item.line,
                    out,
                };
                return object(&mut cx);
            }
        }
    }
    let (header, failure) = match doc.parse::<Header>(Some(index)) {
        Ok(parsed) => (parsed.value, None),
        Err(failure) => (Header::default(), Some(failure)),
    };
    let mut cx = Ctx {
        file,
        doc,
        item: Some(index),
        prefix: FieldPath::default(),
        header: &header,
        line: item.line,
        out,
    };
    match failure {
        Some(failure) => cx.failure(failure),
        None => object(&mut cx),
    }
}

#[derive(Deserialize)]
struct YamlItems {
    #[serde(default)]
    items: Option<Vec<Spanned<Header>>>,
}

fn yaml_items(cx: &mut Ctx<'_>) -> Vec<Item> {
    let Some(parsed) = cx.parse::<YamlItems>() else {
        return Vec::new();
    };
    let doc = cx.doc;
    let starts = line_starts(doc.text);
    let items = parsed.value.items.unwrap_or_default();
    items
        .into_iter()
        .map(|spanned| {
            let (line, column) = (spanned.referenced.line(), spanned.referenced.column());
            let line = u32::try_from(line).unwrap_or(0);
            let column = u32::try_from(column).unwrap_or(0);
            Item {
                line: if line > 0 {
                    line.saturating_add(doc.line_offset)
                } else {
                    cx.line
                },
                header: Some(spanned.value),
                cut: cut_block_item(doc, &starts, line, column),
            }
        })
        .collect()
}

/// Byte offset of the start of each line.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < text.len())
        .collect()
}

/// Cuts a block-sequence item that starts at (`line`, `column`) of `doc`: its
/// first line from `column` on, and the following lines up to the first
/// content line indented less than `column`.
fn cut_block_item(doc: &Doc<'_>, starts: &[usize], line: u32, column: u32) -> Option<Cut> {
    let first = usize::try_from(line).ok()?.checked_sub(1)?;
    let indent = usize::try_from(column).ok()?.checked_sub(1)?;
    let start = *starts.get(first)?;
    let end_of = |i: usize| starts.get(i + 1).copied().unwrap_or(doc.text.len());
    let first_line = doc.text.get(start..end_of(first))?;
    let lead: String = first_line.chars().take(indent).collect();
    // Only `- ` and spaces may come before a block item; anything else (a flow
    // sequence) is read in place.
    if lead.chars().any(|c| c != ' ' && c != '-') || lead.matches('-').count() > 1 {
        return None;
    }
    let mut end = first + 1;
    while end < starts.len() && !ends_item(doc.text.get(starts[end]..end_of(end))?, indent) {
        end += 1;
    }
    let body = doc
        .text
        .get(start + lead.len()..starts.get(end).copied().unwrap_or(doc.text.len()))?;
    Some(Cut {
        text: format!("{}{body}", " ".repeat(indent)),
        line_offset: doc.line_offset.saturating_add(u32::try_from(first).ok()?),
    })
}

fn ends_item(line: &str, indent: usize) -> bool {
    let trimmed = line.trim_start_matches(' ');
    let content = !trimmed.trim().is_empty() && !trimmed.starts_with('#');
    content && line.len() - trimmed.len() < indent
}

#[derive(Deserialize)]
struct JsonItems<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

fn json_items(cx: &mut Ctx<'_>) -> Vec<Item> {
    let doc = cx.doc;
    let items = match serde_json::from_str::<JsonItems<'_>>(doc.text) {
        Ok(parsed) => parsed.items.unwrap_or_default(),
        Err(err) => {
            let failure = super::json::failure(&err, FieldPath::default().key("items"));
            cx.failure(failure);
            return Vec::new();
        }
    };
    items
        .into_iter()
        .map(|raw| match cut_json_item(doc.text, raw.get()) {
            Some((line, cut)) => Item {
                line,
                header: None,
                cut: Some(cut),
            },
            None => Item {
                line: cx.line,
                header: None,
                cut: None,
            },
        })
        .collect()
}

/// `raw` is a slice of `text`: finds where, and pads it to keep its position.
fn cut_json_item(text: &str, raw: &str) -> Option<(u32, Cut)> {
    // Address arithmetic only (no unsafe): where the borrowed slice begins.
    let offset = (raw.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = u32::try_from(before.matches('\n').count()).ok()?;
    let column = before.get(line_start..)?.chars().count();
    let cut = Cut {
        text: format!("{}{raw}", " ".repeat(column)),
        line_offset: line,
    };
    Some((line.saturating_add(1), cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Doc<'_> {
        Doc::new(text, Format::Yaml, 10, 11)
    }

    #[test]
    fn cuts_block_items_up_to_the_next_less_indented_line() {
        let text = "items:\n- kind: A\n  spec:\n    x: |\n      text\n# between\n-   kind: B\nkind: List\n";
        let doc = yaml(text);
        let starts = line_starts(text);
        let first = cut_block_item(&doc, &starts, 2, 3).expect("first item");
        assert_eq!(
            first.text,
            "  kind: A\n  spec:\n    x: |\n      text\n# between\n"
        );
        assert_eq!(first.line_offset, 11);
        let second = cut_block_item(&doc, &starts, 7, 5).expect("second item");
        assert_eq!(second.text, "    kind: B\n");
        assert_eq!(second.line_offset, 16);
    }

    #[test]
    fn flow_items_are_not_cut() {
        let text = "items: [{kind: A}, {kind: B}]\n";
        let doc = yaml(text);
        assert!(cut_block_item(&doc, &line_starts(text), 1, 9).is_none());
    }

    #[test]
    fn json_items_keep_their_position() {
        let text = "{\"items\": [\n  {\"kind\": \"A\"}]}";
        let start = text.find("{\"kind").expect("item");
        let raw = &text[start..start + 13];
        assert_eq!(raw, "{\"kind\": \"A\"}");
        let (line, cut) = cut_json_item(text, raw).expect("cut");
        assert_eq!((line, cut.line_offset), (2, 1));
        assert_eq!(cut.text, "  {\"kind\": \"A\"}");
    }
}
