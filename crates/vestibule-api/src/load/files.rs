//! Reading files and directories from disk.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{Diagnostic, LoadError, Loaded};

/// Loads one file's text (its name, its text) into a set.
pub(crate) type LoadText<'a> = dyn FnMut(&str, &str, &mut Loaded) + 'a;

/// Larger files are refused unless configured otherwise: a file is parsed
/// whole, at a few times its size in memory, and no manifest set comes near
/// (Kubernetes caps one object at 1.5 MiB; 10,000 routes take about 3 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn load_paths(
    paths: &[PathBuf],
    max_file_bytes: u64,
    load: &mut LoadText<'_>,
) -> Loaded {
    let mut out = Loaded::default();
    for path in paths {
        match files_of(path) {
            Ok(files) => {
                for file in files {
                    load_file(&file, max_file_bytes, load, &mut out);
                }
            }
            Err(err) => out.errors.push(diagnostic(path, &err)),
        }
    }
    out
}

/// The path itself for a file; for a directory, its manifest files
/// (`.yaml`, `.yml`, `.json`, not dotfiles), sorted by name, not recursing.
fn files_of(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_manifest_name) {
            continue;
        }
        let full = entry.path();
        // Follows symlinks (ConfigMap volumes link files into place); a
        // dangling one is kept so that reading it reports the problem.
        if fs::metadata(&full).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        files.push(full);
    }
    files.sort();
    Ok(files)
}

fn is_manifest_name(name: &str) -> bool {
    !name.starts_with('.')
        && [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn load_file(path: &Path, max_file_bytes: u64, load: &mut LoadText<'_>, out: &mut Loaded) {
    match read_text(path, max_file_bytes) {
        Ok(text) => {
            out.files.push(path.to_path_buf());
            load(&path.display().to_string(), &text, out);
        }
        Err(err) => out.errors.push(diagnostic(path, &err)),
    }
}

fn read_text(path: &Path, limit: u64) -> Result<String, LoadError> {
    let file = fs::File::open(path)?;
    let too_large = |size| LoadError::TooLarge { size, limit };
    // Refused by its size before a byte is read; the read is bounded too,
    // for files that grow while being read (or report no size).
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|err| {
        let valid = err
            .as_bytes()
            .get(..err.utf8_error().valid_up_to())
            .unwrap_or_default();
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        LoadError::NotUtf8 {
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    })
}

fn diagnostic(path: &Path, err: &LoadError) -> Diagnostic {
    Diagnostic {
        file: path.display().to_string(),
        line: match err {
            LoadError::NotUtf8 { line } => *line,
            _ => 0,
        },
        column: 0,
        field: String::new(),
        message: err.to_string(),
        resource: None,
    }
}
