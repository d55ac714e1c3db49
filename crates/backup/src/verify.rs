//! Checking a backup file: a plain-SQL pg_dump, complete (trailer), and
//! matching its `.sha256` sidecar when it has one.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Read, Seek, SeekFrom};

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

/// The line pg_dump writes when, and only when, the dump is complete.
pub const TRAILER: &str = "-- PostgreSQL database dump complete";

/// The line pg_dump starts a plain-SQL dump with.
const HEADER: &str = "-- PostgreSQL database dump";

/// How far from either end of the file the header and trailer are looked for.
const EDGE: u64 = 16 * 1024;

/// The sidecar of a verified backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sidecar {
    /// `<file>.sha256` exists and matches.
    Matched,
    /// There is no sidecar (a dump made by another tool): only the trailer vouches for it.
    Missing,
}

/// A backup file that passed [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The file.
    pub path: Utf8PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256 (hex), when a sidecar was checked.
    pub sha256: Option<String>,
    /// What vouched for it besides the trailer.
    pub sidecar: Sidecar,
}

/// Why a file is not a backup drydock will use. Each message is one sentence
/// naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Nothing at that path.
    Missing {
        /// The path.
        path: Utf8PathBuf,
    },
    /// The path is a directory.
    Directory {
        /// The path.
        path: Utf8PathBuf,
    },
    /// The file cannot be read.
    Unreadable {
        /// The path.
        path: Utf8PathBuf,
        /// The operating system's reason.
        detail: String,
    },
    /// The file is empty.
    Empty {
        /// The path.
        path: Utf8PathBuf,
    },
    /// The file is not a plain-SQL pg_dump.
    NotPlainSql {
        /// The path.
        path: Utf8PathBuf,
        /// What it looks like instead, if known.
        hint: String,
    },
    /// The completeness trailer is missing: the dump was cut short.
    Truncated {
        /// The path.
        path: Utf8PathBuf,
    },
    /// The sidecar does not match the file.
    ChecksumMismatch {
        /// The path.
        path: Utf8PathBuf,
        /// The sidecar's checksum.
        expected: String,
        /// The file's checksum.
        actual: String,
    },
    /// The sidecar exists but is not in `sha256sum` format.
    SidecarMalformed {
        /// The sidecar's path.
        path: Utf8PathBuf,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Missing { path } => write!(f, "no such file: {path}: check the path (`cargo xtask backups` lists the backups)"),
            VerifyError::Directory { path } => write!(f, "{path} is a directory, not a backup file: name a backup_<env>_<timestamp>.sql file inside it"),
            VerifyError::Unreadable { path, detail } => write!(f, "cannot read {path} ({detail}): check its permissions"),
            VerifyError::Empty { path } => write!(f, "backup is empty: {path}: it cannot be restored, pick another backup"),
            VerifyError::NotPlainSql { path, hint } => write!(f, "not a plain-SQL pg_dump file ({hint}): {path}"),
            VerifyError::Truncated { path } => write!(
                f,
                "backup is incomplete (no \"dump complete\" trailer): {path}: it was cut short, pick another backup"
            ),
            VerifyError::ChecksumMismatch { path, expected, actual } => write!(
                f,
                "backup does not match its .sha256 sidecar (expected {expected}, file has {actual}): {path}: it was altered or damaged, pick another backup"
            ),
            VerifyError::SidecarMalformed { path } => write!(
                f,
                "the sidecar is not in sha256sum format: {path}: fix or delete it (without a sidecar only the trailer is checked)"
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The sidecar path: `<file>.sha256`.
pub(crate) fn sidecar_path(path: &Utf8Path) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{path}.sha256"))
}

/// Checks that `path` is a complete plain-SQL pg_dump and, when a
/// `<path>.sha256` sidecar exists, that it matches. Reads the file once when
/// there is a sidecar; otherwise only its first and last 16 KiB.
pub fn verify(path: &Utf8Path) -> Result<Verified, VerifyError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VerifyError::Missing { path: path.to_owned() })
        }
        Err(e) => return Err(VerifyError::Unreadable { path: path.to_owned(), detail: e.to_string() }),
    };
    if meta.is_dir() {
        return Err(VerifyError::Directory { path: path.to_owned() });
    }
    check_complete(path)?;
    let sidecar = sidecar_path(path);
    let expected = match std::fs::read_to_string(&sidecar) {
        Ok(text) => Some(parse_sidecar(&text).ok_or_else(|| VerifyError::SidecarMalformed { path: sidecar.clone() })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(VerifyError::Unreadable { path: sidecar, detail: e.to_string() }),
    };
    let Some(expected) = expected else {
        return Ok(Verified { path: path.to_owned(), size: meta.len(), sha256: None, sidecar: Sidecar::Missing });
    };
    let actual =
        sha256_file(path).map_err(|e| VerifyError::Unreadable { path: path.to_owned(), detail: e.to_string() })?;
    if actual != expected {
        return Err(VerifyError::ChecksumMismatch { path: path.to_owned(), expected, actual });
    }
    Ok(Verified { path: path.to_owned(), size: meta.len(), sha256: Some(actual), sidecar: Sidecar::Matched })
}

/// Header and trailer: a non-empty plain-SQL pg_dump that ends with the
/// completeness trailer (then only comments, blank lines or `\unrestrict`).
pub(crate) fn check_complete(path: &Utf8Path) -> Result<(), VerifyError> {
    let unreadable = |e: std::io::Error| VerifyError::Unreadable { path: path.to_owned(), detail: e.to_string() };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size == 0 {
        return Err(VerifyError::Empty { path: path.to_owned() });
    }
    let mut head = Vec::new();
    (&mut file).take(EDGE).read_to_end(&mut head).map_err(unreadable)?;
    if head.starts_with(b"PGDMP") {
        return Err(VerifyError::NotPlainSql {
            path: path.to_owned(),
            hint: "it is a pg_dump custom-format archive; convert it with `pg_restore -f out.sql` first".into(),
        });
    }
    let head = String::from_utf8_lossy(&head);
    if !head.lines().take(50).any(|l| l.trim_end() == HEADER) {
        return Err(VerifyError::NotPlainSql {
            path: path.to_owned(),
            hint: format!("its first lines lack \"{HEADER}\""),
        });
    }
    let start = size.saturating_sub(EDGE);
    file.seek(SeekFrom::Start(start)).map_err(unreadable)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(unreadable)?;
    if !ends_with_trailer(&String::from_utf8_lossy(&tail)) {
        return Err(VerifyError::Truncated { path: path.to_owned() });
    }
    Ok(())
}

/// Whether the text ends with the trailer line followed only by blank lines,
/// comments and `\unrestrict <key>`.
fn ends_with_trailer(tail: &str) -> bool {
    for line in tail.lines().rev() {
        let line = line.trim_end();
        if line == TRAILER {
            return true;
        }
        let ignorable = line.is_empty() || line.starts_with("--") || line.starts_with("\\unrestrict ");
        if !ignorable {
            return false;
        }
    }
    false
}

/// The checksum of a `sha256sum` line: `<64 hex>  <name>` (or ` *<name>`).
fn parse_sidecar(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let (hash, name) = line.split_once(' ')?;
    let name_ok = name.strip_prefix(' ').or_else(|| name.strip_prefix('*')).is_some_and(|n| !n.is_empty());
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (hash_ok && name_ok).then(|| hash.to_ascii_lowercase())
}

/// The sidecar text for a file: `<sha256>  <file name>\n`, as `sha256sum` writes it.
pub(crate) fn sidecar_text(sha256: &str, path: &Utf8Path) -> String {
    format!("{sha256}  {}\n", path.file_name().unwrap_or(path.as_str()))
}

/// The sha256 (lowercase hex) of a file, read through a 1 MiB buffer.
pub fn sha256_file(path: &Utf8Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Rows per table in a plain-SQL dump, counted from its `COPY ... FROM stdin;`
/// blocks; tables are named as pg_dump quotes them (`public."Order"`).
pub fn copy_row_counts(path: &Utf8Path) -> std::io::Result<BTreeMap<String, u64>> {
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut counts = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match &current {
            Some(table) => {
                if text == b"\\." {
                    current = None;
                } else {
                    *counts.get_mut(table).expect("entry made at COPY") += 1;
                }
            }
            None => {
                if text.starts_with(b"COPY ") && text.ends_with(b" FROM stdin;") {
                    let name = copy_table_name(&String::from_utf8_lossy(&text[5..]));
                    counts.insert(name.clone(), 0);
                    current = Some(name);
                }
            }
        }
    }
    Ok(counts)
}

/// The (possibly quoted, possibly qualified) name at the start of `rest`.
fn copy_table_name(rest: &str) -> String {
    let mut end = 0;
    let mut in_quotes = false;
    let bytes = rest.as_bytes();
    while end < bytes.len() {
        match bytes[end] {
            b'"' => in_quotes = !in_quotes,
            b' ' if !in_quotes => break,
            _ => {}
        }
        end += 1;
    }
    rest[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_may_be_followed_by_unrestrict() {
        assert!(ends_with_trailer("x\n--\n-- PostgreSQL database dump complete\n--\n\n"));
        assert!(ends_with_trailer("-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n"));
        assert!(!ends_with_trailer("-- PostgreSQL database dump complete\n--\nCOPY x FROM stdin;\n"));
        assert!(!ends_with_trailer("INSERT INTO t VALUES (1);\n"));
    }

    #[test]
    fn sidecars_are_sha256sum_lines() {
        let hash = "ab".repeat(32);
        assert_eq!(parse_sidecar(&format!("{hash}  backup_prod_20260101_000000.sql\n")), Some(hash.clone()));
        assert_eq!(parse_sidecar(&format!("{hash} *file.sql")), Some(hash.clone()));
        assert_eq!(parse_sidecar("nonsense"), None);
        assert_eq!(parse_sidecar(&format!("{hash}  ")), None);
        assert_eq!(sidecar_text(&hash, Utf8Path::new("/b/x y.sql")), format!("{hash}  x y.sql\n"));
    }

    #[test]
    fn copy_names_keep_pg_dump_quoting() {
        assert_eq!(copy_table_name("public.a (id, t) FROM stdin;"), "public.a");
        assert_eq!(copy_table_name("public.\"we ird (x\" (id) FROM stdin;"), "public.\"we ird (x\"");
    }
}
