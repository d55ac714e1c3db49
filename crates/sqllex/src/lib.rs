//! The one PostgreSQL lexer of drydock, shared by `crates/migrate` and `crates/restore`: just deep
//! enough to split a script into statements and read their keywords, the way the server lexes them.
//!
//! It understands `--` and nested `/* */` comments, `'strings'` with `''`,
//! `E'escape strings'` with backslashes, `B''`/`X''`/`N''`/`U&''` prefixes,
//! `"quoted identifiers"`, `$tag$dollar quotes$tag$` and `$1` parameters.
//!
//! It lexes as the server does under the session's `standard_conforming_strings`
//! ([`Options`]): with it off, a plain `'string'` (and `N'string'`) takes backslash
//! escapes like an `E''` string, so `'a\';'` is one string. The caller reads the
//! session's real value (`SHOW standard_conforming_strings`) and passes it; the
//! default entry points [`tokenize`] and [`statements`] assume `on`, the server's
//! default since PostgreSQL 9.1.
//!
//! [`statements`] splits where the server's grammar ends a statement: at a `;`
//! outside parentheses (a `CREATE RULE ... DO (a; b)` stays one statement, as in
//! psql) and outside the `BEGIN ATOMIC ... END` body of a SQL-standard function,
//! which is recognised only as the keyword pair `BEGIN ATOMIC` outside parentheses
//! in a `CREATE [OR REPLACE] FUNCTION|PROCEDURE` (a parameter named `begin`,
//! `case` or `end` is not a body). Inside a body, `CASE ... END` nest; an `end`
//! after `.` or `AS` is a column label.
//!
//! The script sent to the server is always the file itself: this lexer only
//! decides how to send it and what to warn about.

#![deny(missing_docs)]

use std::fmt;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A keyword or unquoted identifier (`CREATE`, `users`).
    Word,
    /// A `"quoted identifier"`.
    Quoted,
    /// Any string constant, dollar-quoted or not.
    String,
    /// A number.
    Number,
    /// `;`
    Semicolon,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// Any other character (operators, `.`, `$1`, ...).
    Other,
}

/// One significant token: comments and whitespace are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: Kind,
    /// The token's text, exactly as in the script.
    pub text: &'a str,
    /// Byte offset in the script.
    pub offset: usize,
}

impl Token<'_> {
    /// True if this is the unquoted word `keyword` (case-insensitive).
    pub fn is(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(keyword)
    }
}

/// The script does not end where a statement may end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What is left open: "string", "quoted identifier", "dollar-quoted string $tag$", "comment".
    pub what: String,
    /// 1-based line where it opens.
    pub line: usize,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unterminated {} opened on line {}", self.what, self.line)
    }
}

/// One statement: its significant tokens, without the closing `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// Its significant tokens, in order.
    pub tokens: Vec<Token<'a>>,
}

impl<'a> Statement<'a> {
    /// The `i`-th token, if any.
    pub fn get(&self, i: usize) -> Option<&Token<'a>> {
        self.tokens.get(i)
    }

    /// True if the statement starts with these keywords.
    pub fn starts_with(&self, keywords: &[&str]) -> bool {
        keywords.len() <= self.tokens.len() && keywords.iter().zip(&self.tokens).all(|(k, t)| t.is(k))
    }

    /// True if `keyword` appears outside parentheses.
    pub fn has_top_level(&self, keyword: &str) -> bool {
        let mut depth = 0i32;
        for t in &self.tokens {
            match t.kind {
                Kind::Open => depth += 1,
                Kind::Close => depth -= 1,
                _ if depth == 0 && t.is(keyword) => return true,
                _ => {}
            }
        }
        false
    }

    /// Byte offset of the first token.
    pub fn offset(&self) -> usize {
        self.tokens.first().map_or(0, |t| t.offset)
    }
}

/// 1-based line number of byte `offset` in `script`.
pub fn line_of(script: &str, offset: usize) -> usize {
    script.as_bytes()[..offset.min(script.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// How the server will lex the script: the session settings that change lexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The session's `standard_conforming_strings`: `false` makes a backslash
    /// in a plain `'string'` an escape, as in `E'...'`.
    pub standard_conforming_strings: bool,
}

impl Default for Options {
    /// `standard_conforming_strings = on`, the server's default.
    fn default() -> Options {
        Options { standard_conforming_strings: true }
    }
}

/// Splits `script` into significant tokens, with [`Options::default`].
pub fn tokenize(script: &str) -> Result<Vec<Token<'_>>, LexError> {
    tokenize_with(script, Options::default())
}

/// Splits `script` into significant tokens, lexed as a session with `options` lexes it.
pub fn tokenize_with(script: &str, options: Options) -> Result<Vec<Token<'_>>, LexError> {
    let plain_escapes = !options.standard_conforming_strings;
    let bytes = script.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let unterminated = |what: &str, at: usize| LexError { what: what.to_owned(), line: line_of(script, at) };
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let next = bytes.get(i + 1).copied();
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                i = memchr(b'\n', bytes, i).map_or(bytes.len(), |n| n + 1);
                continue;
            }
            b'/' if next == Some(b'*') => {
                let mut depth = 0usize;
                loop {
                    match (bytes.get(i), bytes.get(i + 1)) {
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(_), _) => i += 1,
                        (None, _) => return Err(unterminated("comment", start)),
                    }
                }
                continue;
            }
            b'\'' => {
                i = end_of_quoted(bytes, i + 1, b'\'', plain_escapes).ok_or_else(|| unterminated("string", start))?;
                Kind::String
            }
            b'"' => {
                i = end_of_quoted(bytes, i + 1, b'"', false).ok_or_else(|| unterminated("quoted identifier", start))?;
                Kind::Quoted
            }
            b'$' if next.is_some_and(|c| c.is_ascii_digit()) => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Kind::Other
            }
            b'$' => match dollar_tag(bytes, i) {
                Some(tag_end) => {
                    let tag = &bytes[i..tag_end];
                    match find(bytes, tag, tag_end) {
                        Some(close) => {
                            i = close + tag.len();
                            Kind::String
                        }
                        None => {
                            let what = format!("dollar-quoted string {}", &script[i..tag_end]);
                            return Err(unterminated(&what, start));
                        }
                    }
                }
                None => {
                    i += 1;
                    Kind::Other
                }
            },
            b';' => {
                i += 1;
                Kind::Semicolon
            }
            b'(' => {
                i += 1;
                Kind::Open
            }
            b')' => {
                i += 1;
                Kind::Close
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Number
            }
            c if is_ident_start(c) => {
                // String prefixes: E'..', B'..', X'..', N'..', U&'..', U&"..".
                let lower = c.to_ascii_lowercase();
                if matches!(lower, b'e' | b'b' | b'x' | b'n') && next == Some(b'\'') {
                    // N'..' is a plain string to the server's lexer (`n` + '..').
                    let escapes = lower == b'e' || (lower == b'n' && plain_escapes);
                    i = end_of_quoted(bytes, i + 2, b'\'', escapes).ok_or_else(|| unterminated("string", start))?;
                    Kind::String
                } else if lower == b'u' && next == Some(b'&') && matches!(bytes.get(i + 2), Some(b'\'' | b'"')) {
                    let quote = bytes[i + 2];
                    let what = if quote == b'\'' { "string" } else { "quoted identifier" };
                    i = end_of_quoted(bytes, i + 3, quote, false).ok_or_else(|| unterminated(what, start))?;
                    if quote == b'\'' {
                        Kind::String
                    } else {
                        Kind::Quoted
                    }
                } else {
                    i += 1;
                    while i < bytes.len() && (is_ident_start(bytes[i]) || bytes[i].is_ascii_digit() || bytes[i] == b'$')
                    {
                        i += 1;
                    }
                    Kind::Word
                }
            }
            _ => {
                // One character (UTF-8 aware: non-ASCII bytes are identifier starts).
                i += 1;
                Kind::Other
            }
        };
        tokens.push(Token { kind, text: &script[start..i], offset: start });
    }
    Ok(tokens)
}

/// Splits `script` into statements (empty statements are dropped), with [`Options::default`].
pub fn statements(script: &str) -> Result<Vec<Statement<'_>>, LexError> {
    statements_with(script, Options::default())
}

/// Splits `script` into statements as a session with `options` lexes it (empty statements are dropped).
pub fn statements_with(script: &str, options: Options) -> Result<Vec<Statement<'_>>, LexError> {
    let mut out = Vec::new();
    let mut current: Vec<Token<'_>> = Vec::new();
    // Open parentheses of the current statement.
    let mut parens = 0usize;
    // Inside the `BEGIN ATOMIC ... END` body of a SQL-standard routine: 1 + open `CASE`s.
    let mut body = 0usize;
    for token in tokenize_with(script, options)? {
        match token.kind {
            Kind::Semicolon if parens == 0 && body == 0 => {
                if !current.is_empty() {
                    out.push(Statement { tokens: std::mem::take(&mut current) });
                }
                continue;
            }
            Kind::Open => parens += 1,
            Kind::Close => parens = parens.saturating_sub(1),
            Kind::Word if body > 0 => {
                let label = current.last().is_some_and(|p| p.text == "." || p.is("AS"));
                if !label && token.is("CASE") {
                    body += 1;
                } else if !label && token.is("END") {
                    body -= 1;
                }
            }
            Kind::Word if parens == 0 && token.is("ATOMIC") => {
                if current.last().is_some_and(|p| p.is("BEGIN")) && is_routine(&current) {
                    body = 1;
                }
            }
            _ => {}
        }
        current.push(token);
    }
    if !current.is_empty() {
        out.push(Statement { tokens: current });
    }
    Ok(out)
}

fn is_routine(tokens: &[Token<'_>]) -> bool {
    let s = Statement { tokens: tokens.iter().take(4).copied().collect() };
    s.starts_with(&["CREATE", "FUNCTION"])
        || s.starts_with(&["CREATE", "PROCEDURE"])
        || s.starts_with(&["CREATE", "OR", "REPLACE", "FUNCTION"])
        || s.starts_with(&["CREATE", "OR", "REPLACE", "PROCEDURE"])
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// Position just after the closing `quote`, starting inside the quoted text.
fn end_of_quoted(bytes: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> Option<usize> {
    while i < bytes.len() {
        let c = bytes[i];
        if backslash_escapes && c == b'\\' {
            i += 2;
        } else if c == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
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

fn memchr(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
    haystack[from..].iter().position(|&b| b == needle).map(|p| p + from)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<Vec<String>> {
        statements(script).unwrap().iter().map(|s| s.tokens.iter().map(|t| t.text.to_owned()).collect()).collect()
    }

    #[test]
    fn splits_on_top_level_semicolons() {
        assert_eq!(words("SELECT 1; SELECT 2;;\n"), vec![vec!["SELECT", "1"], vec!["SELECT", "2"]]);
        assert_eq!(words("SELECT 1"), vec![vec!["SELECT", "1"]]);
        assert!(words("  -- only a comment").is_empty());
    }

    #[test]
    fn comments_hide_semicolons_and_nest() {
        assert_eq!(words("-- a; b\nSELECT 1 /* x; /* nested; */ still; */ ;"), vec![vec!["SELECT", "1"]]);
        assert_eq!(words("SELECT 1 -- trailing; no newline"), vec![vec!["SELECT", "1"]]);
    }

    #[test]
    fn strings_and_identifiers_hide_semicolons() {
        assert_eq!(words("SELECT 'a;''b'; SELECT \"x;\"\"y\";").len(), 2);
        assert_eq!(words(r"SELECT E'it\'s; fine', e'\\'; SELECT 2").len(), 2);
        assert_eq!(words("SELECT U&'d\\0061t;a', U&\"a;b\", B'1;0', X'0;F', N'n;'; SELECT 2").len(), 2);
        // A standard string does not treat a backslash as an escape.
        assert_eq!(words(r"SELECT 'C:\'; SELECT 2").len(), 2);
    }

    #[test]
    fn dollar_quotes_hide_semicolons() {
        let script = "DO $$\nBEGIN\n  PERFORM 1; -- ;\n  RAISE NOTICE 'x;';\nEND $$;\nCREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;";
        let all = words(script);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0][0], "DO");
        assert_eq!(all[1][0], "CREATE");
        // `$1` is a parameter, and `$` inside an identifier is not a quote.
        assert_eq!(words("SELECT $1; SELECT a$b$ FROM t; SELECT 3").len(), 3);
        // A tag must match exactly: $a$ does not close $ab$.
        assert_eq!(words("SELECT $ab$ x $a$ ; $ab$; SELECT 2").len(), 2);
    }

    #[test]
    fn begin_atomic_bodies_stay_in_one_statement() {
        let script = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END;\nSELECT 2;";
        let all = words(script);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[1], vec!["SELECT", "2"]);
        // Outside routines BEGIN is a transaction statement.
        assert_eq!(words("BEGIN; SELECT 1; COMMIT;").len(), 3);
    }

    /// Each case: a script, the session's `standard_conforming_strings`, and the
    /// first word of each statement the server sees.
    #[test]
    fn splits_as_the_server_does_under_standard_conforming_strings() {
        let cases: &[(&str, bool, &[&str])] = &[
            // A backslash before a quote: escaped with scs off, the end of the string with it on.
            (r"SELECT 'a\'; COMMIT; SELECT '", false, &["SELECT"]),
            (r"SELECT 'a\'; COMMIT; SELECT 'b';", true, &["SELECT", "COMMIT", "SELECT"]),
            (r"SELECT 'x\\'; COMMIT;", false, &["SELECT", "COMMIT"]),
            (r"SELECT N'a\'; COMMIT; SELECT '", false, &["SELECT"]),
            (r"SELECT N'a\'; COMMIT;", true, &["SELECT", "COMMIT"]),
            // E'' escapes whatever the setting; U&'' never takes backslash escapes.
            (r"SELECT E'a\'; COMMIT; SELECT ';", true, &["SELECT"]),
            (r"SELECT U&'a\'; COMMIT;", false, &["SELECT", "COMMIT"]),
            // Dollar quotes and identifiers are untouched by the setting.
            (r"SELECT $$a\$$; COMMIT;", false, &["SELECT", "COMMIT"]),
            (r#"SELECT "a\"; COMMIT;"#, false, &["SELECT", "COMMIT"]),
            // A doubled quote is a quote in both.
            (r"SELECT 'it''s'; COMMIT;", false, &["SELECT", "COMMIT"]),
        ];
        for (script, scs, expected) in cases {
            let options = Options { standard_conforming_strings: *scs };
            let all = statements_with(script, options).unwrap();
            let firsts: Vec<&str> = all.iter().map(|s| s.tokens[0].text).collect();
            assert_eq!(&firsts, expected, "{script} with standard_conforming_strings = {scs}");
        }
        let open = tokenize_with(r"SELECT 'a\'; COMMIT;", Options { standard_conforming_strings: false });
        assert_eq!(open.unwrap_err().what, "string");
    }

    /// `BEGIN ATOMIC` opens a body only after a routine's signature; `begin`,
    /// `case` and `end` as names swallow nothing.
    #[test]
    fn begin_atomic_only_where_a_sql_standard_body_is() {
        let cases: &[(&str, usize)] = &[
            ("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS 'SELECT 1';\nDROP TABLE t;", 2),
            ("CREATE PROCEDURE p(case text) LANGUAGE sql AS $$ SELECT 1 $$;\nCOMMIT;\nSELECT 2;", 3),
            ("CREATE FUNCTION f(\"end\" int, begin int) RETURNS TABLE (begin int, \"case\" int) LANGUAGE sql AS $$ SELECT 1, 2 $$; SELECT 2;", 2),
            ("create or replace function f(begin int) returns int language sql begin atomic select begin + 1; end; select 2;", 2),
            ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN (CASE 1 WHEN 1 THEN 1 END) END; SELECT x.end FROM t x; SELECT 1 AS end; END; SELECT 2;", 2),
            ("CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END; COMMIT; SELECT 3;", 3),
            // Not a routine: BEGIN is a transaction statement, ATOMIC a word.
            ("BEGIN; SELECT atomic FROM t; END;", 3),
            ("CREATE TABLE t (begin int, atomic int); SELECT 2;", 2),
            ("CREATE VIEW v AS SELECT 1 AS begin; SELECT 2;", 2),
            // Semicolons in parentheses do not end a statement (rule actions).
            ("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2)); SELECT 2;", 2),
        ];
        for (script, count) in cases {
            assert_eq!(statements(script).unwrap().len(), *count, "{script}: {:?}", words(script));
        }
    }

    #[test]
    fn crlf_is_whitespace() {
        assert_eq!(words("SELECT 1;\r\nSELECT 2;\r\n").len(), 2);
    }

    #[test]
    fn unterminated_constructs_are_errors_with_lines() {
        let err = tokenize("SELECT 1;\nSELECT 'abc").unwrap_err();
        assert_eq!(err, LexError { what: "string".into(), line: 2 });
        assert_eq!(tokenize("\n\n/* a /* b */").unwrap_err().line, 3);
        assert_eq!(tokenize("DO $x$ BEGIN END $y$").unwrap_err().what, "dollar-quoted string $x$");
        assert_eq!(tokenize("SELECT \"abc").unwrap_err().what, "quoted identifier");
        assert_eq!(tokenize(r"SELECT E'\'").unwrap_err().what, "string");
    }

    #[test]
    fn non_ascii_identifiers() {
        assert_eq!(words("CREATE TABLE café (ñ int); SELECT 1").len(), 2);
    }

    #[test]
    fn line_numbers() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
