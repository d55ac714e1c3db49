//! `Reader`: a plain-SQL backup read statement by statement, in constant
//! memory, the way the server will lex it, admitting only what pg_dump writes.
//!
//! The file is read a line at a time. Outside `COPY` data a small scanner
//! follows the lexical state across lines (quotes, `E''` escapes, dollar
//! quotes, nested comments) to find the `;` that ends a statement and any
//! backslash outside quotes (what psql would read as a meta-command). Each
//! statement found is then lexed again by [`sqllex`], the lexer migrate uses:
//! it must be exactly one statement there too, and its tokens are checked
//! against the allow-list in [`crate::admit`]. A `COPY … FROM stdin;` is
//! followed by data lines, passed on untouched up to the line `\.` (where
//! psql ends them), which is not part of the data.

use std::io::{self, BufRead};

use crate::admit::{self, Action, Context};

/// A statement the replay will not send: the file is not a pg_dump backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// 1-based line number in the file.
    pub(crate) line: u64,
    /// The statement's start, as in the file (one line, shortened).
    pub(crate) excerpt: String,
    /// What it would do.
    pub(crate) what: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} `{}` {}", self.line, self.excerpt, self.what)
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The file holds something pg_dump does not write.
    Refused(Refused),
    /// The file could not be read.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// The next thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Send this statement, exactly as in the file (with its `;`).
    Run {
        /// Line of its first token.
        line: u64,
        /// The statement's text.
        sql: String,
    },
    /// Send this `COPY … FROM stdin;`, then the data [`Reader::copy_chunk`] returns.
    Copy {
        /// Line of the `COPY`.
        line: u64,
        /// The statement's text.
        sql: String,
        /// The table it copies into, its name as the file writes it.
        table: String,
    },
    /// The file ended between statements.
    End,
}

/// What a whole read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// `COPY … FROM stdin;` blocks.
    pub(crate) copy_blocks: u64,
    /// pg_dump's `BEGIN;` … `COMMIT;` around large-object data (dropped).
    pub(crate) large_object_blocks: u64,
    /// Statements of pg_dump's `--clean` section (dropped: the preamble emptied the database).
    pub(crate) clean_statements: u64,
}

/// The lexical state at the end of the pending text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lex {
    Normal,
    /// `'…'`; `escapes` for `E'…'`, where a backslash escapes the next character.
    Single {
        escapes: bool,
    },
    /// `"…"`.
    Double,
    /// `$tag$…$tag$` (the tag with its dollars).
    Dollar(String),
    /// `/* … */`, nested.
    Block(u32),
}

/// The token the scanner is in, for prefixes and dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    None,
    /// An identifier or keyword that started at this byte of the pending text.
    Word(usize),
    Number,
}

/// Statement by statement over a backup file.
pub(crate) struct Reader<R> {
    src: R,
    /// Lines read so far.
    line: u64,
    /// Bytes read so far.
    bytes: u64,
    /// The pending statement's text (comments and blank lines before it included).
    text: String,
    /// The line `text` starts on.
    text_line: u64,
    /// Where scanning stopped in `text`.
    scanned: usize,
    lex: Lex,
    tok: Tok,
    /// `text` holds a significant character (not only blanks and comments).
    significant: bool,
    /// Inside `COPY` data, started on this line.
    copy: Option<u64>,
    context: Context,
    raw: Vec<u8>,
    counts: Counts,
}

impl<R: BufRead> Reader<R> {
    pub(crate) fn new(src: R) -> Reader<R> {
        Reader {
            src,
            line: 0,
            bytes: 0,
            text: String::new(),
            text_line: 1,
            scanned: 0,
            lex: Lex::Normal,
            tok: Tok::None,
            significant: false,
            copy: None,
            context: Context::default(),
            raw: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Bytes of the file read so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// What was read so far.
    pub(crate) fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The next statement to send, or the end of the file.
    pub(crate) fn next_item(&mut self) -> Result<Item, ReadError> {
        assert!(self.copy.is_none(), "the COPY data must be read first");
        loop {
            // A statement may already be complete in the pending text (several on one line).
            if let Some(end) = self.scan()? {
                if let Some(item) = self.take_statement(end)? {
                    return Ok(item);
                }
                continue;
            }
            self.raw.clear();
            let n = self.src.read_until(b'\n', &mut self.raw)?;
            if n == 0 {
                return self.at_end();
            }
            self.bytes += n as u64;
            self.line += 1;
            let Ok(line) = std::str::from_utf8(&self.raw) else {
                return Err(self.refuse(
                    self.line,
                    "",
                    "is not UTF-8 text (restore only UTF8-encoded dumps: `pg_dump --encoding=UTF8`)",
                ));
            };
            if !self.significant && self.lex == Lex::Normal && is_restrict(line) {
                // pg_dump's own `\restrict KEY` / `\unrestrict KEY` (17.6, 16.10, 15.14 on): nothing to
                // run; an empty line keeps the line count.
                if self.text.is_empty() {
                    self.text_line = self.line;
                }
                self.text.push('\n');
                continue;
            }
            if self.text.is_empty() {
                self.text_line = self.line;
            }
            self.text.push_str(line);
        }
    }

    /// The next piece of `COPY` data (whole lines, about `max` bytes), or
    /// `None` once the line `\.` is read.
    pub(crate) fn copy_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, ReadError> {
        let Some(started) = self.copy else { return Ok(None) };
        let mut chunk = Vec::with_capacity(max + (max >> 4));
        while chunk.len() < max {
            let at = chunk.len();
            let n = self.src.read_until(b'\n', &mut chunk)?;
            if n == 0 {
                return Err(self.refuse(
                    started,
                    "COPY",
                    "has data that runs to the end of the file without its closing `\\.` line (the file is cut short)",
                ));
            }
            self.bytes += n as u64;
            self.line += 1;
            let piece = &chunk[at..];
            if piece == b"\\.\n" || piece == b"\\.\r\n" {
                chunk.truncate(at);
                self.copy = None;
                self.text_line = self.line + 1;
                if chunk.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(chunk));
            }
        }
        Ok(Some(chunk))
    }

    /// Reads every statement and `COPY` block to the end, sending nothing.
    pub(crate) fn read_all(&mut self) -> Result<(), ReadError> {
        loop {
            match self.next_item()? {
                Item::End => return Ok(()),
                Item::Run { .. } => {}
                Item::Copy { .. } => while self.copy_chunk(1 << 20)?.is_some() {},
            }
        }
    }

    fn at_end(&mut self) -> Result<Item, ReadError> {
        if self.lex != Lex::Normal {
            let what = match &self.lex {
                Lex::Single { .. } => "a string".to_owned(),
                Lex::Double => "a quoted identifier".to_owned(),
                Lex::Dollar(tag) => format!("a dollar-quoted string {tag}"),
                Lex::Block(_) => "a comment".to_owned(),
                Lex::Normal => unreachable!(),
            };
            let line = self.text_line;
            return Err(self.refuse(line, "", &format!("opens {what} that never ends (the file is cut short)")));
        }
        if self.significant {
            let line = self.first_token_line();
            let excerpt = excerpt(&self.text);
            return Err(self.refuse(line, &excerpt, "is a statement without its closing `;` at the end of the file"));
        }
        if self.context.large_objects {
            return Err(self.refuse(
                self.line,
                "",
                "ends inside pg_dump's large-object `BEGIN;` without its `COMMIT;`",
            ));
        }
        Ok(Item::End)
    }

    /// Scans the pending text from where it stopped; `Some(i)`: a `;` at
    /// `i` ends a statement.
    fn scan(&mut self) -> Result<Option<usize>, ReadError> {
        let bytes = self.text.as_bytes();
        let mut i = self.scanned;
        while i < bytes.len() {
            let b = bytes[i];
            match &mut self.lex {
                Lex::Normal => {
                    let next = bytes.get(i + 1).copied();
                    match b {
                        b'-' if next == Some(b'-') => {
                            i = bytes[i..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |p| i + p + 1);
                            self.tok = Tok::None;
                            continue;
                        }
                        b'/' if next == Some(b'*') => {
                            self.lex = Lex::Block(1);
                            self.tok = Tok::None;
                            i += 2;
                            continue;
                        }
                        b'\\' => {
                            let line = self.text_line + count_newlines(&bytes[..i]);
                            let rest = &self.text[i..];
                            let command = rest.split(|c: char| c.is_whitespace()).next().unwrap_or(rest).to_owned();
                            return Err(self.refuse(
                                line,
                                &command,
                                "is a psql meta-command (it could run a program or leave the restore's transaction); a pg_dump file has none but `\\restrict`/`\\unrestrict` on lines of their own",
                            ));
                        }
                        b';' => {
                            self.tok = Tok::None;
                            self.scanned = i + 1;
                            if self.closes_statement(i) {
                                return Ok(Some(i));
                            }
                            i += 1;
                            continue;
                        }
                        _ => {}
                    }
                    if !b.is_ascii_whitespace() {
                        self.significant = true;
                    }
                    match b {
                        b'\'' => {
                            let escapes =
                                matches!(self.tok, Tok::Word(s) if s + 1 == i && matches!(bytes[s], b'E' | b'e'));
                            self.lex = Lex::Single { escapes };
                            self.tok = Tok::None;
                        }
                        b'"' => {
                            self.lex = Lex::Double;
                            self.tok = Tok::None;
                        }
                        b'$' if matches!(self.tok, Tok::Word(_)) => {}
                        b'$' if next.is_some_and(|c| c.is_ascii_digit()) => self.tok = Tok::Number,
                        b'$' => match dollar_tag(bytes, i) {
                            Some(end) => {
                                self.lex = Lex::Dollar(self.text[i..end].to_owned());
                                self.tok = Tok::None;
                                i = end;
                                continue;
                            }
                            None => self.tok = Tok::None,
                        },
                        c if is_ident_start(c) => {
                            if self.tok == Tok::None {
                                self.tok = Tok::Word(i);
                            }
                        }
                        c if c.is_ascii_digit() => {
                            if self.tok == Tok::None {
                                self.tok = Tok::Number;
                            }
                        }
                        b'.' | b'_' if self.tok == Tok::Number => {}
                        _ => self.tok = Tok::None,
                    }
                    i += 1;
                }
                Lex::Single { escapes } => {
                    if *escapes && b == b'\\' {
                        i += 2;
                    } else if b == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                        } else {
                            self.lex = Lex::Normal;
                            i += 1;
                        }
                    } else {
                        i += 1;
                    }
                }
                Lex::Double => {
                    if b == b'"' {
                        if bytes.get(i + 1) == Some(&b'"') {
                            i += 2;
                        } else {
                            self.lex = Lex::Normal;
                            i += 1;
                        }
                    } else {
                        i += 1;
                    }
                }
                Lex::Dollar(tag) => match find(bytes, tag.as_bytes(), i) {
                    Some(at) => {
                        i = at + tag.len();
                        self.lex = Lex::Normal;
                    }
                    None => i = bytes.len(),
                },
                Lex::Block(depth) => {
                    let next = bytes.get(i + 1).copied();
                    if b == b'/' && next == Some(b'*') {
                        *depth += 1;
                        i += 2;
                    } else if b == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        i += 2;
                        if *depth == 0 {
                            self.lex = Lex::Normal;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
        }
        // A backslash escape may have stepped over the end.
        self.scanned = i.min(bytes.len());
        Ok(None)
    }

    /// Whether the top-level `;` at `at` ends the statement: always, except
    /// inside a SQL-standard function body (`BEGIN ATOMIC … END`), which
    /// [`sqllex`] decides.
    fn closes_statement(&self, at: usize) -> bool {
        let upto = &self.text[..=at];
        let Ok(tokens) = sqllex::tokenize(upto) else { return true };
        let head = sqllex::Statement { tokens: tokens.iter().take(4).copied().collect() };
        let routine = ["FUNCTION", "PROCEDURE"]
            .iter()
            .any(|k| head.starts_with(&["CREATE", k]) || head.starts_with(&["CREATE", "OR", "REPLACE", k]));
        if !routine {
            return true;
        }
        // Closed when a word written after the `;` is a statement of its own.
        let probe = format!("{upto}\nx");
        match sqllex::statements(&probe) {
            Ok(all) => all.last().is_some_and(|s| s.tokens.len() == 1 && s.tokens[0].offset > at),
            Err(_) => true,
        }
    }

    /// Takes the statement that ends at `end` out of the pending text and
    /// decides what to do with it; `None`: nothing to send.
    fn take_statement(&mut self, end: usize) -> Result<Option<Item>, ReadError> {
        let rest = self.text.split_off(end + 1);
        let sql = std::mem::replace(&mut self.text, rest);
        let start_line = self.text_line;
        // What stays pending starts on the statement's last line.
        self.text_line = start_line + count_newlines(sql.as_bytes());
        self.scanned = 0;
        self.tok = Tok::None;
        self.significant = false;

        let statements = sqllex::statements(&sql).map_err(|e| {
            let line = start_line + e.line as u64 - 1;
            self.refuse(line, &excerpt(&sql), &format!("is lexed differently by drydock's two readers ({e})"))
        })?;
        let Some(statement) = statements.first() else { return Ok(None) };
        let line = start_line + sqllex::line_of(&sql, statement.offset()) as u64 - 1;
        if statements.len() != 1 {
            return Err(self.refuse(line, &excerpt(&sql), "is lexed as several statements by sqllex"));
        }
        match admit::admit(statement, &mut self.context) {
            Ok(Action::Run) => Ok(Some(Item::Run { line, sql })),
            Ok(Action::Copy(table)) => {
                if !self.text.trim().is_empty() {
                    return Err(self.refuse(
                        line,
                        &excerpt(&sql),
                        "is followed by more text on its line, where its data should start",
                    ));
                }
                self.text.clear();
                self.copy = Some(line);
                self.counts.copy_blocks += 1;
                Ok(Some(Item::Copy { line, sql, table }))
            }
            Ok(Action::Skip(skipped)) => {
                match skipped {
                    admit::Skipped::LargeObjectsEnd => self.counts.large_object_blocks += 1,
                    admit::Skipped::Clean => self.counts.clean_statements += 1,
                    admit::Skipped::LargeObjectsBegin | admit::Skipped::Encoding => {}
                }
                Ok(None)
            }
            Err(what) => Err(self.refuse(line, &excerpt(&sql), &what)),
        }
    }

    fn first_token_line(&self) -> u64 {
        let offset = sqllex::tokenize(&self.text).ok().and_then(|t| t.first().map(|t| t.offset)).unwrap_or(0);
        self.text_line + count_newlines(&self.text.as_bytes()[..offset])
    }

    fn refuse(&self, line: u64, excerpt: &str, what: &str) -> ReadError {
        ReadError::Refused(Refused { line, excerpt: excerpt.to_owned(), what: what.to_owned() })
    }
}

/// `\restrict KEY` or `\unrestrict KEY` on a line of its own, as pg_dump writes them.
fn is_restrict(line: &str) -> bool {
    let line = line.trim_end_matches(['\n', '\r']);
    let Some(key) = line.strip_prefix("\\restrict ").or_else(|| line.strip_prefix("\\unrestrict ")) else {
        return false;
    };
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The statement's start on one line: comments and blanks skipped, at most 60 characters.
fn excerpt(sql: &str) -> String {
    let start = sqllex::tokenize(sql).ok().and_then(|t| t.first().map(|t| t.offset)).unwrap_or(0);
    let flat: String = sql[start..].split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 {
        format!("{}…", flat.chars().take(60).collect::<String>())
    } else {
        flat
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// If a dollar-quote tag (`$$`, `$tag$`) starts at `i`, the position after it.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if bytes.get(j) == Some(&b'$') {
        return Some(j + 1);
    }
    if !bytes.get(j).is_some_and(|&c| is_ident_start(c)) {
        return None;
    }
    while j < bytes.len() && (is_ident_start(bytes[j]) || bytes[j].is_ascii_digit()) {
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item of `input`, `COPY` data as one `Data` item per block.
    fn items(input: &str) -> Result<(Vec<String>, Counts), Refused> {
        let mut reader = Reader::new(io::BufReader::with_capacity(7, input.as_bytes()));
        let mut out = Vec::new();
        let refused = |e: ReadError| match e {
            ReadError::Refused(r) => r,
            ReadError::Io(e) => panic!("{e}"),
        };
        loop {
            match reader.next_item().map_err(refused)? {
                Item::End => return Ok((out, reader.counts().clone())),
                Item::Run { line, sql } => out.push(format!("{line}: {}", from_first_token(&sql))),
                Item::Copy { line, sql, .. } => {
                    out.push(format!("{line}: {}", from_first_token(&sql)));
                    let mut data = Vec::new();
                    while let Some(chunk) = reader.copy_chunk(5).map_err(refused)? {
                        data.extend_from_slice(&chunk);
                    }
                    out.push(format!("data {:?}", String::from_utf8(data).unwrap()));
                }
            }
        }
    }

    fn from_first_token(sql: &str) -> &str {
        &sql[sqllex::tokenize(sql).unwrap()[0].offset..]
    }

    const DUMP: &str = r#"--
-- PostgreSQL database dump
--

\restrict AbC123

-- Dumped from database version 15.18

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

ALTER TABLE IF EXISTS ONLY public.orders DROP CONSTRAINT IF EXISTS orders_customer_id_fkey;
ALTER TABLE IF EXISTS public.customers ALTER COLUMN id DROP DEFAULT;
DROP TABLE IF EXISTS public.customers;
SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '16387';
DROP SCHEMA IF EXISTS audit;
--
-- Name: audit; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA audit;
SET default_tablespace = '';
SET default_table_access_method = heap;
CREATE TABLE public.customers (
    id integer NOT NULL,
    note text DEFAULT 'it''s; fine'::text
);
CREATE FUNCTION public.f() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
BEGIN
  -- COPY x FROM stdin;
  COMMIT;
  RETURN NEW;
END $_$;
CREATE FUNCTION public.g() RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT 1;
 SELECT 2;
END;
SELECT pg_catalog.lo_create('16387');
COPY public.customers (id, note) FROM stdin;
1	a\tb; COMMIT;
2	\\connect x
\.
SELECT pg_catalog.setval('public.customers_id_seq', 2, true);
--
-- Data for Name: BLOBS; Type: BLOBS; Schema: -; Owner: -
--

BEGIN;

SELECT pg_catalog.lo_open('16387', 131072);
SELECT pg_catalog.lowrite(0, '\x68656c6c6f');
SELECT pg_catalog.lo_close(0);

COMMIT;

ALTER TABLE ONLY public.customers ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
COMMENT ON TABLE public.customers IS 'people; and COMMIT;';
GRANT SELECT ON TABLE public.customers TO PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE demo IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC;
REFRESH MATERIALIZED VIEW public.mv;
--
-- PostgreSQL database dump complete
--

\unrestrict AbC123

"#;

    #[test]
    fn a_pg_dump_file_is_read_statement_by_statement() {
        let (items, counts) = items(DUMP).unwrap();
        let firsts: Vec<&str> = items.iter().map(|i| i.split_once(": ").map_or(i.as_str(), |p| p.1)).collect();
        assert_eq!(counts, Counts { copy_blocks: 1, large_object_blocks: 1, clean_statements: 5 });
        assert_eq!(items[0], "9: SET statement_timeout = 0;");
        assert!(firsts.iter().all(|i| !i.starts_with("DROP") && *i != "BEGIN;" && *i != "COMMIT;"), "{items:#?}");
        let copy = items.iter().position(|i| i.ends_with("FROM stdin;")).unwrap();
        assert_eq!(items[copy], "50: COPY public.customers (id, note) FROM stdin;");
        assert_eq!(items[copy + 1], "data \"1\\ta\\\\tb; COMMIT;\\n2\\t\\\\\\\\connect x\\n\"");
        assert!(
            items.iter().any(|i| i.starts_with("43: CREATE FUNCTION public.g()") && i.ends_with("END;")),
            "{items:#?}"
        );
        assert!(items.iter().any(|i| i.starts_with("35: CREATE FUNCTION public.f()") && i.contains("COMMIT;")));
        assert!(items.last().unwrap().starts_with("71: REFRESH"), "{items:#?}");
    }

    /// `extra` inserted after the settings of [`DUMP`], and the refusal's line.
    fn refused(extra: &str) -> Refused {
        let at = DUMP.find("CREATE SCHEMA audit;").unwrap();
        let input = format!("{}{extra}\n{}", &DUMP[..at], &DUMP[at..]);
        match items(&input) {
            Ok(items) => panic!("admitted {extra:?}: {items:#?}"),
            Err(r) => r,
        }
    }

    #[test]
    fn whole_classes_are_refused_with_their_line() {
        let line = DUMP[..DUMP.find("CREATE SCHEMA audit;").unwrap()].matches('\n').count() as u64 + 1;
        let cases: &[(&str, &str)] = &[
            ("COMMIT;", "transaction"),
            ("END;", "transaction"),
            ("  COMMIT;", "transaction"),
            ("commit\n;", "transaction"),
            ("COMMIT /* x */ ;", "transaction"),
            ("/* c */ COMMIT -- y\n;", "transaction"),
            ("ROLLBACK AND CHAIN;", "transaction"),
            ("COMMIT AND CHAIN;", "transaction"),
            ("ABORT;", "transaction"),
            ("START TRANSACTION;", "transaction"),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE;", "transaction"),
            ("PREPARE TRANSACTION 'x';", "transaction"),
            ("COMMIT PREPARED 'x';", "transaction"),
            ("ROLLBACK PREPARED 'x';", "transaction"),
            ("SAVEPOINT s;", "transaction"),
            ("RELEASE SAVEPOINT s;", "transaction"),
            ("SELECT 1; COMMIT;", "query"),
            ("\\! touch /tmp/pwned", "meta-command"),
            ("   \\! touch /tmp/pwned", "meta-command"),
            ("SELECT 1 \\! touch /tmp/pwned", "meta-command"),
            ("\\connect postgres", "meta-command"),
            ("\\i /etc/passwd", "meta-command"),
            ("\\set ON_ERROR_STOP 0", "meta-command"),
            ("\\restrict", "meta-command"),
            ("COPY public.t FROM PROGRAM 'touch /tmp/pwned';", "COPY"),
            ("copy public.t from program 'id';", "COPY"),
            ("COPY public.t TO PROGRAM 'id';", "COPY"),
            ("COPY public.t FROM '/etc/passwd';", "COPY"),
            ("COPY public.t TO STDOUT;", "COPY"),
            ("COPY (SELECT 1) TO '/tmp/x';", "COPY"),
            ("COPY public.t FROM stdin WITH (FORMAT csv);", "COPY"),
            ("SET standard_conforming_strings = off;", "standard_conforming_strings"),
            ("SET SESSION AUTHORIZATION postgres;", "SESSION"),
            ("SET ROLE postgres;", "ROLE"),
            ("SET search_path = x; SET work_mem = '1GB';", "work_mem"),
            ("SET drydock.restore_complete = 'on';", "drydock"),
            ("DO $$ BEGIN PERFORM 1; END $$;", "run code"),
            ("CALL p();", "run code"),
            ("DROP TABLE public.customers;", "drop"),
            ("DROP TABLE IF EXISTS public.customers CASCADE;", "drop"),
            ("CREATE DATABASE x;", "database"),
            ("DROP DATABASE demo;", "drop"),
            ("ALTER SYSTEM SET fsync = off;", "ALTER SYSTEM"),
            ("ALTER ROLE demo SUPERUSER;", "role"),
            ("CREATE ROLE x SUPERUSER;", "role"),
            ("GRANT pg_execute_server_program TO demo;", "role"),
            ("LISTEN x;", "not a statement"),
            ("NOTIFY x;", "not a statement"),
            ("LOAD 'x';", "not a statement"),
            ("VACUUM;", "not a statement"),
            ("CHECKPOINT;", "not a statement"),
            ("TRUNCATE public.customers;", "not a statement"),
            ("SELECT pg_catalog.pg_terminate_backend(1);", "pg_catalog"),
            ("SELECT pg_catalog.setval((SELECT 'x'), 1, true);", "query"),
            ("SELECT pg_catalog.lo_import('/etc/passwd');", "pg_catalog"),
            ("CREATE TABLE x AS SELECT pg_sleep(1);", "query"),
            ("CREATE TEMP TABLE x ();", "temporary"),
            ("BEGIN;\nDROP TABLE public.customers;\nCOMMIT;", "large-object"),
        ];
        for (extra, says) in cases {
            let r = refused(extra);
            let text = r.to_string();
            assert!(text.contains(says), "{extra:?}: {text}");
            let lines = extra.lines().count() as u64;
            assert!(
                r.line >= line && r.line < line + lines.max(1) + 1,
                "{extra:?}: line {} not {line}: {text}",
                r.line
            );
        }
    }

    #[test]
    fn a_copy_inside_a_comment_or_a_body_is_no_copy() {
        for hidden in [
            "-- COPY public.t (a) FROM stdin;\nCOMMIT;",
            "/* COPY public.t (a) FROM stdin;\n*/ COMMIT;",
            "CREATE FUNCTION public.h() RETURNS void LANGUAGE sql AS $$\nCOPY public.t (a) FROM stdin;\n$$;\nCOMMIT;",
            "COMMENT ON TABLE public.t IS '\nCOPY public.t (a) FROM stdin;\n';\nCOMMIT;",
        ] {
            let r = refused(hidden);
            assert!(r.to_string().contains("`COMMIT;`") || r.excerpt == "COMMIT;", "{hidden:?}: {r}");
        }
    }

    #[test]
    fn copy_data_ends_where_psql_ends_it() {
        // A premature `\.`: what follows is read as SQL again, and refused.
        let input = "COPY public.t (a, b) FROM stdin;\n1\tx\n\\.\n2\ty\nCOMMIT;\n\\.\n";
        let r = items(input).unwrap_err();
        assert!(r.to_string().contains("meta-command") || r.line == 4, "{r}");
        // `\.` with trailing text is data (the server rejects it); a CRLF `\.` ends it.
        let (items_crlf, _) =
            items("COPY t (a) FROM stdin;\r\n1\r\n\\.\r\nSELECT pg_catalog.setval('s', 1, true);\n").unwrap();
        assert_eq!(items_crlf.len(), 3, "{items_crlf:?}");
        // Data to the end of the file without `\.` is refused.
        assert!(items("COPY t (a) FROM stdin;\n1\n2\n").unwrap_err().to_string().contains("without its closing"));
        // Text after the COPY statement on its line is refused.
        assert!(items("COPY t (a) FROM stdin; SELECT 1;\n1\n\\.\n").is_err());
    }

    #[test]
    fn strings_comments_and_dollars_hide_semicolons_and_backslashes() {
        let input = "COMMENT ON TABLE t IS E'a\\'; \\\\ COMMIT;';\nCOMMENT ON TABLE t IS 'C:\\';\nCOMMENT ON COLUMN t.\"a;\\b\" IS $x$ ; \\! $x$;\n/* /* \\! ; */ ; */ GRANT SELECT ON t TO PUBLIC;\n";
        let (items, _) = items(input).unwrap();
        assert_eq!(items.len(), 4, "{items:#?}");
        // An unterminated string at the end is refused, not sent.
        assert!(items_err("COMMENT ON TABLE t IS 'abc;\n").contains("never ends"));
        assert!(items_err("GRANT SELECT ON t TO PUBLIC\n").contains("without its closing"));
    }

    fn items_err(input: &str) -> String {
        items(input).unwrap_err().to_string()
    }
}
