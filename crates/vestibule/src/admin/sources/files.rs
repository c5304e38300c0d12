//! File mode's sources: the files the applied generation was read from,
//! read again, each Secret document's lines blanked (so every other line
//! keeps its number).

use std::path::PathBuf;

use super::SourceFile;

/// The files' texts and how many Secret documents were blanked; `Err`
/// names a file that cannot be read.
pub(super) fn read(paths: &[PathBuf]) -> Result<(Vec<SourceFile>, usize), String> {
    let mut files = Vec::with_capacity(paths.len());
    let mut secrets_withheld = 0;
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let (text, withheld) = without_secrets(&text);
        secrets_withheld += withheld;
        files.push(SourceFile {
            path: path.display().to_string(),
            text,
        });
    }
    Ok((files, secrets_withheld))
}

/// `text` with every `kind: Secret` document's lines blanked (the `---`
/// between documents kept), and how many there were.
fn without_secrets(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut withheld = 0;
    let mut document: Vec<&str> = Vec::new();
    let mut flush = |document: &mut Vec<&str>, out: &mut String| {
        let secret = document
            .iter()
            .any(|line| line.trim_end() == "kind: Secret" || line.trim_end() == "kind: \"Secret\"");
        withheld += usize::from(secret);
        for line in document.drain(..) {
            if !secret {
                out.push_str(line);
            }
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with("---") {
            flush(&mut document, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            document.push(line);
        }
    }
    flush(&mut document, &mut out);
    (out, withheld)
}

#[cfg(test)]
mod tests {
    use super::without_secrets;

    #[test]
    fn secret_documents_are_blanked_line_for_line() {
        let text = "kind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\ndata:\n  tls.key: c2VjcmV0\n---\nkind: Service\n";
        let (kept, withheld) = without_secrets(text);
        assert_eq!(withheld, 1);
        assert!(!kept.contains("c2VjcmV0"));
        assert_eq!(kept.lines().count(), text.lines().count());
        assert_eq!(kept.lines().nth(8), Some("kind: Service"));
    }
}
