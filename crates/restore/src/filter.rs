//! `Filter`: the line-aware pass between the backup file and psql that keeps
//! the replay one transaction, in constant memory.
//!
//! Lines inside `COPY … FROM stdin;` … `\.` blocks pass untouched. Outside
//! them:
//!
//! - the `BEGIN;` / `COMMIT;` pair pg_dump wraps large-object data in
//!   (pg_backup_null.c: a `BEGIN;` right after a `--` comment block, closed by
//!   the next `COMMIT;`) is dropped: psql `--single-transaction` would
//!   otherwise commit everything up to that `COMMIT;`;
//! - any other exact `COMMIT;` or `ROLLBACK;` line is refused, for the same
//!   reason;
//! - psql meta-commands other than `\restrict` / `\unrestrict` (PostgreSQL
//!   ≥ 17.6 dumps) are refused: `\connect` would leave the transaction,
//!   `\i`, `\!`, `\o`, `\set` could change what runs.
//!
//! Only the first [`HEAD`] bytes of a line are held back to decide; the rest
//! of a long line streams through.

use std::fmt;

/// Bytes of a line held back to classify it.
const HEAD: usize = 64;

/// psql meta-commands a pg_dump file may contain.
const ALLOWED_META: [&[u8]; 2] = [b"\\restrict", b"\\unrestrict"];

/// A line the replay will not send to psql.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 1-based line number in the file.
    pub line: u64,
    /// What the line does, in a few words.
    pub what: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Top-level SQL.
    Sql,
    /// Inside pg_dump's `BEGIN;` … `COMMIT;` around large-object data.
    LargeObjects,
    /// Inside a `COPY … FROM stdin;` block, until `\.`.
    Copy,
}

/// What to do with the rest of a line longer than [`HEAD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rest {
    /// At the start of a line.
    None,
    /// Forward until the newline.
    Forward,
    /// Forward until the newline, then see whether it ended in ` FROM stdin;`.
    CopyCandidate,
}

/// The streaming filter; feed it the file in chunks of any size.
#[derive(Debug)]
pub(crate) struct Filter {
    state: State,
    rest: Rest,
    /// The start of the current line while undecided (at most `HEAD` bytes).
    head: Vec<u8>,
    /// The last bytes of a long line that may be a `COPY … FROM stdin;`.
    tail: Vec<u8>,
    /// The previous non-blank top-level line was `--`.
    after_comment: bool,
    /// Lines completed so far.
    line: u64,
    /// `COPY … FROM stdin;` blocks seen.
    pub(crate) copy_blocks: u64,
    /// Large-object transaction pairs dropped.
    pub(crate) dropped_pairs: u64,
}

/// A refusal or the output's error.
#[derive(Debug)]
pub(crate) enum FilterError<E> {
    Refused(Refused),
    Output(E),
}

enum Decision {
    Forward,
    Drop,
}

impl Filter {
    pub(crate) fn new() -> Filter {
        Filter {
            state: State::Sql,
            rest: Rest::None,
            head: Vec::with_capacity(HEAD),
            tail: Vec::with_capacity(16),
            after_comment: false,
            line: 0,
            copy_blocks: 0,
            dropped_pairs: 0,
        }
    }

    /// Filters `chunk`, passing what psql may run to `out`.
    pub(crate) fn feed<E>(
        &mut self,
        mut chunk: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), FilterError<E>> {
        while !chunk.is_empty() {
            if self.rest != Rest::None {
                let (piece, ended) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(p) => (&chunk[..=p], true),
                    None => (chunk, false),
                };
                out(piece).map_err(FilterError::Output)?;
                chunk = &chunk[piece.len()..];
                if self.rest == Rest::CopyCandidate {
                    self.tail.extend_from_slice(piece);
                    let cut = self.tail.len().saturating_sub(16);
                    self.tail.drain(..cut);
                }
                if ended {
                    if self.rest == Rest::CopyCandidate && self.tail.ends_with(b" FROM stdin;\n") {
                        self.enter_copy();
                    }
                    self.rest = Rest::None;
                    self.line += 1;
                }
                continue;
            }
            if self.state == State::Copy && self.head.is_empty() {
                chunk = self.copy_lines(chunk, out)?;
                if chunk.is_empty() {
                    break;
                }
            }
            let need = HEAD - self.head.len();
            let window = &chunk[..chunk.len().min(need)];
            if let Some(p) = window.iter().position(|&b| b == b'\n') {
                self.head.extend_from_slice(&window[..=p]);
                chunk = &chunk[p + 1..];
                self.line += 1;
                self.decide_line(out)?;
            } else if window.len() == need {
                self.head.extend_from_slice(window);
                chunk = &chunk[need..];
                self.decide_long(out)?;
            } else {
                self.head.extend_from_slice(window);
                chunk = &[];
            }
        }
        Ok(())
    }

    /// The end of the file: a last line without a newline.
    pub(crate) fn finish<E>(&mut self, out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), FilterError<E>> {
        if !self.head.is_empty() {
            self.line += 1;
            self.decide_line(out)?;
        }
        Ok(())
    }

    /// A whole line (with its newline, unless at the end of the file) is in `head`.
    fn decide_line<E>(&mut self, out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), FilterError<E>> {
        let line = std::mem::take(&mut self.head);
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let decision = match self.state {
            State::Copy => {
                if text == b"\\." {
                    self.state = State::Sql;
                }
                Decision::Forward
            }
            State::LargeObjects if text == b"COMMIT;" => {
                self.state = State::Sql;
                self.dropped_pairs += 1;
                Decision::Drop
            }
            State::Sql if text == b"BEGIN;" && self.after_comment => {
                self.state = State::LargeObjects;
                Decision::Drop
            }
            State::Sql | State::LargeObjects => {
                self.check_top_level(text, self.line)?;
                if text.starts_with(b"COPY ") && text.ends_with(b" FROM stdin;") {
                    self.enter_copy();
                }
                Decision::Forward
            }
        };
        if self.state != State::Copy && !text.iter().all(u8::is_ascii_whitespace) {
            self.after_comment = text == b"--";
        }
        if let Decision::Forward = decision {
            out(&line).map_err(FilterError::Output)?;
        }
        self.head = line;
        self.head.clear();
        Ok(())
    }

    /// The first `HEAD` bytes of a longer line are in `head`.
    fn decide_long<E>(&mut self, out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), FilterError<E>> {
        self.rest = Rest::Forward;
        if self.state != State::Copy {
            // A long line is neither `--`, `BEGIN;` nor `COMMIT;`.
            self.after_comment = false;
            self.check_top_level(&self.head, self.line + 1)?;
            if self.head.starts_with(b"COPY ") {
                self.rest = Rest::CopyCandidate;
                self.tail.clear();
            }
        }
        out(&self.head).map_err(FilterError::Output)?;
        self.head.clear();
        Ok(())
    }

    /// The fast path for `COPY` data: whole lines are forwarded in one piece
    /// until `\.`; returns what is left (a partial line, or after `\.`).
    fn copy_lines<'a, E>(
        &mut self,
        chunk: &'a [u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<&'a [u8], FilterError<E>> {
        let mut pos = 0;
        while let Some(p) = chunk[pos..].iter().position(|&b| b == b'\n') {
            let end = pos + p + 1;
            self.line += 1;
            if &chunk[pos..end] == b"\\.\n" {
                self.state = State::Sql;
                self.after_comment = false;
                pos = end;
                break;
            }
            pos = end;
        }
        out(&chunk[..pos]).map_err(FilterError::Output)?;
        Ok(&chunk[pos..])
    }

    fn enter_copy(&mut self) {
        self.state = State::Copy;
        self.copy_blocks += 1;
    }

    /// Refuses top-level lines that would end or leave the transaction.
    fn check_top_level<E>(&self, text: &[u8], line: u64) -> Result<(), FilterError<E>> {
        let refuse = |what: String| Err(FilterError::Refused(Refused { line, what }));
        let word = text.split(|b| b.is_ascii_whitespace()).next().unwrap_or_default();
        if word.starts_with(b"\\") && !ALLOWED_META.contains(&word) {
            return refuse(format!(
                "the psql meta-command `{}` could leave the restore's transaction or change what runs",
                String::from_utf8_lossy(word)
            ));
        }
        let upper = text.to_ascii_uppercase();
        if upper == b"COMMIT;" || upper == b"ROLLBACK;" {
            return refuse(format!("`{}` would end the restore's transaction halfway", String::from_utf8_lossy(text)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter over `input` cut into chunks of `size` bytes.
    fn run(input: &str, size: usize) -> Result<(String, Filter), Refused> {
        let mut filter = Filter::new();
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        };
        for chunk in input.as_bytes().chunks(size) {
            match filter.feed(chunk, &mut sink) {
                Err(FilterError::Refused(r)) => return Err(r),
                Err(FilterError::Output(())) => unreachable!(),
                Ok(()) => {}
            }
        }
        if let Err(FilterError::Refused(r)) = filter.finish(&mut sink) {
            return Err(r);
        }
        Ok((String::from_utf8(out).unwrap(), filter))
    }

    fn every_chunking(input: &str) -> Result<(String, Filter), Refused> {
        let whole = run(input, input.len().max(1));
        for size in [1, 2, 3, 7, 63, 64, 65, 200] {
            let cut = run(input, size);
            assert_eq!(cut.as_ref().map(|c| &c.0), whole.as_ref().map(|w| &w.0), "chunks of {size}");
        }
        whole
    }

    const LARGE_OBJECTS: &str = "--\n-- Data for Name: BLOBS; Type: BLOBS; Schema: -; Owner: -\n--\n\nBEGIN;\n\nSELECT pg_catalog.lo_open('16387', 131072);\nSELECT pg_catalog.lowrite(0, '\\x68656c6c6f');\nSELECT pg_catalog.lo_close(0);\n\nCOMMIT;\n\n--\nGRANT SELECT ON TABLE public.t TO PUBLIC;\n";

    #[test]
    fn the_large_object_transaction_is_dropped() {
        let (out, filter) = every_chunking(LARGE_OBJECTS).unwrap();
        assert!(!out.contains("BEGIN;") && !out.contains("COMMIT;"), "{out}");
        assert!(out.contains("lowrite") && out.contains("GRANT SELECT"));
        assert_eq!(filter.dropped_pairs, 1);
    }

    #[test]
    fn copy_blocks_pass_untouched() {
        let long_columns: String = (0..40).map(|i| format!("column_{i}, ")).collect();
        let input = format!(
            "COPY public.t (id, t) FROM stdin;\n1\t\\connect x\nCOMMIT;\n2\tBEGIN;\n\\.\nCOPY public.wide ({long_columns}x) FROM stdin;\n\\! rm -rf /\n\\.\nSELECT 1;\n"
        );
        let (out, filter) = every_chunking(&input).unwrap();
        assert_eq!(out, input);
        assert_eq!(filter.copy_blocks, 2);
    }

    #[test]
    fn meta_commands_that_leave_the_transaction_are_refused() {
        for bad in [
            "\\connect other",
            "\\c other",
            "\\i /etc/passwd",
            "\\ir x.sql",
            "\\! touch /tmp/x",
            "\\o /tmp/out",
            "\\set ON_ERROR_STOP 0",
            "\\unset ON_ERROR_STOP",
        ] {
            let input = format!("SELECT 1;\n{bad}\nSELECT 2;\n");
            let refused = every_chunking(&input).unwrap_err();
            assert_eq!(refused.line, 2, "{bad}");
            assert!(refused.what.contains("meta-command"), "{refused}");
        }
        let long = format!("SELECT 1;\n\\connect {}\n", "x".repeat(200));
        assert_eq!(every_chunking(&long).unwrap_err().line, 2);
    }

    #[test]
    fn restrict_and_unrestrict_pass() {
        let input = "--\n\\restrict abc\nSELECT 1;\n--\n\\unrestrict abc\n";
        assert_eq!(every_chunking(input).unwrap().0, input);
    }

    #[test]
    fn a_stray_commit_is_refused_and_a_plain_begin_kept() {
        let refused = every_chunking("CREATE TABLE a ();\nCOMMIT;\nDROP TABLE b;\n").unwrap_err();
        assert_eq!(refused.line, 2);
        assert!(refused.what.contains("COMMIT;"), "{refused}");
        assert!(every_chunking("SELECT 1;\nrollback;\n").is_err());
        let input = "SELECT 1;\nBEGIN;\nSELECT 2;\n";
        assert_eq!(every_chunking(input).unwrap().0, input);
    }

    #[test]
    fn a_commit_inside_an_indented_function_body_passes() {
        let input = "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$\nBEGIN\n  COMMIT;\nEND $$;\n";
        assert_eq!(every_chunking(input).unwrap().0, input);
    }
}
