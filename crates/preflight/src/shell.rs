//! A POSIX sh lexer deep enough to know which commands a script runs: quotes,
//! escapes, `#` comments, backslash-newline, `;` `&&` `||` `|` `&`, redirections,
//! here-documents, `$VAR`/`${VAR:-default}` expansion with word splitting, and
//! `$(...)`/backquote substitutions (whose commands run too).
//!
//! What sh would only compute at run time (the output of a substitution, a
//! variable set by the environment of `docker run`) is unknown here: an
//! unknown variable expands to nothing, a substitution to an empty word.

use std::collections::BTreeMap;

/// Variables visible to a script (Dockerfile `ENV`/`ARG`, compose `environment:`).
pub type Env = BTreeMap<String, String>;

/// Where a command's standard input comes from, when the script says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    /// A here-document or here-string.
    Text(String),
    /// `< file`.
    File(String),
    /// The previous command of a pipeline, when it only prints (`echo`, `printf`, `cat`).
    Piped(Box<Command>),
}

/// One simple command: its words after quote removal and expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The words, reserved words (`if`, `then`, `do`, `!`, `{`...) removed.
    pub words: Vec<String>,
    /// 1-based line of the script where the command starts.
    pub line: usize,
    /// Its standard input, if the script gives one.
    pub stdin: Option<Stdin>,
}

/// The commands `script` runs, in order, with `env` expanded. Assignments
/// (`X=1`, `export X=1`) update the variables for the commands that follow.
pub fn commands(script: &str, env: &Env) -> Vec<Command> {
    let mut lexer = Lexer { chars: script.chars().collect(), pos: 0, line: 1, env: env.clone(), out: Vec::new() };
    lexer.run(None);
    lexer.out
}

const RESERVED: &[&str] = &["if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time"];

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    env: Env,
    out: Vec<Command>,
}

#[derive(Default)]
struct Pending {
    words: Vec<String>,
    word: Option<String>,
    line: usize,
    stdin: Option<Stdin>,
    heredocs: Vec<(String, bool, bool)>,
    redirect: Option<&'static str>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Lexes until the end, or until `close` (`)` of `$(`) at depth zero.
    fn run(&mut self, close: Option<char>) {
        let mut cmd = Pending { line: self.line, ..Default::default() };
        let mut piped: Option<Command> = None;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' if self.peek(1) == Some('\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                '\\' => {
                    self.pos += 1;
                    if let Some(n) = self.peek(0) {
                        self.pos += 1;
                        cmd.word.get_or_insert_with(String::new).push(n);
                    }
                }
                '#' if cmd.word.is_none() => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                ' ' | '\t' | '\r' => {
                    self.pos += 1;
                    self.end_word(&mut cmd);
                }
                '\n' => {
                    self.end_word(&mut cmd);
                    self.pos += 1;
                    self.line += 1;
                    let heredocs = std::mem::take(&mut cmd.heredocs);
                    for (delim, strip, expand) in heredocs {
                        let body = self.heredoc(&delim, strip, expand);
                        cmd.stdin = Some(Stdin::Text(body));
                    }
                    self.finish(&mut cmd, &mut piped, false);
                }
                ';' | '&' | '(' => {
                    self.pos += 1;
                    if c == '&' && self.peek(0) == Some('>') {
                        self.pos += 1;
                        self.end_word(&mut cmd);
                        cmd.redirect = Some(">");
                        continue;
                    }
                    if self.peek(0) == Some(c) {
                        self.pos += 1;
                    }
                    self.finish(&mut cmd, &mut piped, false);
                }
                ')' => {
                    self.pos += 1;
                    if close == Some(')') {
                        self.finish(&mut cmd, &mut piped, false);
                        return;
                    }
                    self.finish(&mut cmd, &mut piped, false);
                }
                '|' => {
                    self.pos += 1;
                    let or = self.peek(0) == Some('|');
                    if or {
                        self.pos += 1;
                    }
                    self.finish(&mut cmd, &mut piped, !or);
                }
                '<' | '>' => self.redirection(&mut cmd),
                '\'' => {
                    self.pos += 1;
                    let word = cmd.word.get_or_insert_with(String::new);
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        if c == '\n' {
                            self.line += 1;
                        }
                        word.push(c);
                    }
                }
                '"' => {
                    self.pos += 1;
                    cmd.word.get_or_insert_with(String::new);
                    self.double_quoted(&mut cmd);
                }
                '`' => {
                    self.pos += 1;
                    let inner = self.until_backquote();
                    self.substitute(&inner);
                }
                '$' if self.peek(1) == Some('\'') => {
                    // bash's $'...': a single-quoted string with backslash escapes.
                    self.pos += 2;
                    let word = cmd.word.get_or_insert_with(String::new);
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        match c {
                            '\'' => break,
                            '\\' => {
                                if let Some(n) = self.peek(0) {
                                    self.pos += 1;
                                    word.push(match n {
                                        'n' => '\n',
                                        't' => '\t',
                                        other => other,
                                    });
                                }
                            }
                            c => word.push(c),
                        }
                    }
                }
                '$' => {
                    let value = self.dollar();
                    if let Some(value) = value {
                        // Unquoted: the value is split into words.
                        let mut parts = value.split_whitespace();
                        if value.starts_with(char::is_whitespace) {
                            self.end_word(&mut cmd);
                        }
                        if let Some(first) = parts.next() {
                            cmd.word.get_or_insert_with(String::new).push_str(first);
                        }
                        for part in parts {
                            self.end_word(&mut cmd);
                            cmd.word = Some(part.to_owned());
                        }
                        if value.ends_with(char::is_whitespace) {
                            self.end_word(&mut cmd);
                        }
                    }
                }
                _ => {
                    self.pos += 1;
                    cmd.word.get_or_insert_with(String::new).push(c);
                }
            }
        }
        self.finish(&mut cmd, &mut piped, false);
    }

    fn end_word(&mut self, cmd: &mut Pending) {
        let Some(word) = cmd.word.take() else { return };
        match cmd.redirect.take() {
            Some("<") => cmd.stdin = Some(Stdin::File(word)),
            Some("<<<") => cmd.stdin = Some(Stdin::Text(word)),
            Some(_) => {}
            None => {
                if cmd.words.is_empty() {
                    cmd.line = self.line;
                }
                cmd.words.push(word);
            }
        }
    }

    fn finish(&mut self, cmd: &mut Pending, piped: &mut Option<Command>, into_pipe: bool) {
        self.end_word(cmd);
        let mut words = std::mem::take(&mut cmd.words);
        while words.first().is_some_and(|w| RESERVED.contains(&w.as_str())) {
            words.remove(0);
        }
        // Assignments before a command, or alone (`X=1`, `export X=1`).
        let assignments = words.iter().take_while(|w| assignment(w).is_some()).count();
        let alone = assignments == words.len()
            || (words.first().is_some_and(|w| w == "export" || w == "readonly")
                && words[1..].iter().all(|w| assignment(w).is_some() || !w.contains('=')));
        if alone {
            for w in &words {
                if let Some((k, v)) = assignment(w) {
                    self.env.insert(k.to_owned(), v.to_owned());
                }
            }
            words.clear();
        } else {
            words.drain(..assignments);
        }
        let mut stdin = cmd.stdin.take();
        if stdin.is_none() {
            stdin = piped.take().map(|p| Stdin::Piped(Box::new(p)));
        }
        let line = cmd.line;
        *cmd = Pending { line: self.line, heredocs: std::mem::take(&mut cmd.heredocs), ..Default::default() };
        if words.is_empty() && stdin.is_none() {
            return;
        }
        let command = Command { words, line, stdin };
        *piped = None;
        if into_pipe {
            *piped = Some(command.clone());
        }
        self.out.push(command);
    }

    fn redirection(&mut self, cmd: &mut Pending) {
        // A word of digits right before `<`/`>` is a file descriptor.
        if cmd.word.as_deref().is_some_and(|w| w.chars().all(|c| c.is_ascii_digit())) {
            cmd.word = None;
        }
        self.end_word(cmd);
        let c = self.peek(0).unwrap_or('>');
        self.pos += 1;
        if c == '<' && self.peek(0) == Some('<') {
            self.pos += 1;
            if self.peek(0) == Some('<') {
                self.pos += 1;
                cmd.redirect = Some("<<<");
                return;
            }
            let strip = self.peek(0) == Some('-');
            if strip {
                self.pos += 1;
            }
            while self.peek(0).is_some_and(|c| c == ' ' || c == '\t') {
                self.pos += 1;
            }
            let mut delim = String::new();
            let mut quoted = false;
            while let Some(c) = self.peek(0) {
                if c.is_whitespace() || matches!(c, ';' | '&' | '|' | '<' | '>' | '(' | ')') {
                    break;
                }
                self.pos += 1;
                if matches!(c, '\'' | '"' | '\\') {
                    quoted = true;
                } else {
                    delim.push(c);
                }
            }
            cmd.heredocs.push((delim, strip, !quoted));
            return;
        }
        while matches!(self.peek(0), Some('>' | '&' | '|')) {
            self.pos += 1;
        }
        if self.peek(0).is_some_and(|c| c.is_ascii_digit()) && self.chars.get(self.pos - 1) == Some(&'&') {
            self.pos += 1;
            return;
        }
        cmd.redirect = Some(if c == '<' { "<" } else { ">" });
    }

    /// The body of a here-document that starts at the current line.
    fn heredoc(&mut self, delim: &str, strip: bool, expand: bool) -> String {
        let mut body = String::new();
        loop {
            if self.pos >= self.chars.len() {
                break;
            }
            let start = self.pos;
            while self.peek(0).is_some_and(|c| c != '\n') {
                self.pos += 1;
            }
            let line: String = self.chars[start..self.pos].iter().collect();
            if self.peek(0) == Some('\n') {
                self.pos += 1;
            }
            self.line += 1;
            let line = if strip { line.trim_start_matches('\t').to_owned() } else { line };
            if line == delim {
                break;
            }
            if expand {
                // An unquoted here-document runs its substitutions.
                for inner in substitutions(&line) {
                    self.substitute(&inner);
                }
            }
            body.push_str(&if expand { expand_text(&line, &self.env) } else { line });
            body.push('\n');
        }
        body
    }

    fn double_quoted(&mut self, cmd: &mut Pending) {
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.pos += 1;
                    return;
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some('\n') => {
                            self.pos += 1;
                            self.line += 1;
                        }
                        Some(n @ ('$' | '`' | '"' | '\\')) => {
                            self.pos += 1;
                            cmd.word.get_or_insert_with(String::new).push(n);
                        }
                        _ => cmd.word.get_or_insert_with(String::new).push('\\'),
                    }
                }
                '$' => {
                    if let Some(v) = self.dollar() {
                        cmd.word.get_or_insert_with(String::new).push_str(&v);
                    }
                }
                '`' => {
                    self.pos += 1;
                    let inner = self.until_backquote();
                    self.substitute(&inner);
                }
                _ => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    self.pos += 1;
                    cmd.word.get_or_insert_with(String::new).push(c);
                }
            }
        }
    }

    fn until_backquote(&mut self) -> String {
        let mut inner = String::new();
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                '`' => break,
                '\\' => {
                    if let Some(n) = self.peek(0) {
                        self.pos += 1;
                        inner.push(n);
                    }
                }
                _ => inner.push(c),
            }
        }
        inner
    }

    /// Lexes the commands of a substitution; they run too.
    fn substitute(&mut self, inner: &str) {
        let mut sub =
            Lexer { chars: inner.chars().collect(), pos: 0, line: self.line, env: self.env.clone(), out: Vec::new() };
        sub.run(None);
        self.out.append(&mut sub.out);
    }

    /// At `$`: the expansion's value (None for a lone `$` written as is).
    fn dollar(&mut self) -> Option<String> {
        self.pos += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                // Arithmetic: skip to the matching `))`.
                let mut depth = 0;
                while let Some(c) = self.peek(0) {
                    self.pos += 1;
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                Some(String::new())
            }
            Some('(') => {
                self.pos += 1;
                let start = self.out.len();
                self.run(Some(')'));
                let _ = start;
                Some(String::new())
            }
            Some('{') => {
                self.pos += 1;
                let mut inner = String::new();
                let mut depth = 1;
                while let Some(c) = self.peek(0) {
                    self.pos += 1;
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    inner.push(c);
                }
                Some(braced(&inner, &self.env))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = self.peek(0).filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    self.pos += 1;
                    name.push(c);
                }
                Some(self.env.get(&name).cloned().unwrap_or_default())
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '@' | '*' | '#' | '?' | '$' | '!' | '-') => {
                self.pos += 1;
                Some(String::new())
            }
            _ => Some("$".to_owned()),
        }
    }
}

/// The `$(...)` and backquoted commands in a line of text (nesting counted).
fn substitutions(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'(') && chars.get(i + 2) != Some(&'(') {
            let mut depth = 0;
            let start = i + 2;
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            out.push(chars[start..j.min(chars.len())].iter().collect());
            i = j + 1;
        } else if chars[i] == '`' {
            let end = chars[i + 1..].iter().position(|c| *c == '`').map_or(chars.len(), |p| i + 1 + p);
            out.push(chars[i + 1..end].iter().collect());
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// `NAME=value` (a shell assignment word).
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then_some((name, value))
}

/// `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:=default}`, `${NAME:+alt}`.
fn braced(inner: &str, env: &Env) -> String {
    let end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
    let (name, op) = inner.split_at(end);
    let value = env.get(name).cloned();
    let word = |s: &str| expand_text(s, env);
    if let Some(rest) = op.strip_prefix(":-").or_else(|| op.strip_prefix(":=")) {
        return value.filter(|v| !v.is_empty()).unwrap_or_else(|| word(rest));
    }
    if let Some(rest) = op.strip_prefix('-').or_else(|| op.strip_prefix('=')) {
        return value.unwrap_or_else(|| word(rest));
    }
    if let Some(rest) = op.strip_prefix(":+") {
        return if value.is_some_and(|v| !v.is_empty()) { word(rest) } else { String::new() };
    }
    if let Some(rest) = op.strip_prefix('+') {
        return if value.is_some() { word(rest) } else { String::new() };
    }
    value.unwrap_or_default()
}

/// `$NAME` and `${...}` expanded in a text (here-documents, Dockerfile
/// instructions, defaults); nothing else is interpreted.
pub fn expand_text(text: &str, env: &Env) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('{') => {
                let Some(len) = chars[i + 2..].iter().position(|c| *c == '}') else {
                    out.extend(&chars[i..]);
                    break;
                };
                let inner: String = chars[i + 2..i + 2 + len].iter().collect();
                out.push_str(&braced(&inner, env));
                i += len + 3;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let len = chars[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push_str(env.get(&name).map(String::as_str).unwrap_or(""));
                i += len + 1;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<Vec<String>> {
        commands(script, &Env::new()).into_iter().map(|c| c.words).collect()
    }

    #[test]
    fn quotes_comments_and_operators() {
        assert_eq!(
            words("echo 'a b' \"c $X\" # x y\nnpx prisma db push && node i.js; ls|wc -l"),
            vec![
                vec!["echo", "a b", "c "],
                vec!["npx", "prisma", "db", "push"],
                vec!["node", "i.js"],
                vec!["ls"],
                vec!["wc", "-l"]
            ]
        );
        assert_eq!(words("a \\\n b # c \\\nd"), vec![vec!["a", "b"], vec!["d"]]);
        assert_eq!(words("x=1 y=2 cmd --f=1 > out 2>&1"), vec![vec!["cmd", "--f=1"]]);
        assert_eq!(
            words("if prisma migrate reset; then echo; fi"),
            vec![vec!["prisma", "migrate", "reset"], vec!["echo"], vec!["fi"]]
        );
        assert_eq!(
            words("echo $(dropdb app) `dropdb b`"),
            vec![vec!["dropdb", "app"], vec!["dropdb", "b"], vec!["echo"]]
        );
    }

    #[test]
    fn variables_split_and_defaults() {
        let env = Env::from([("FLAGS".to_owned(), "--a --b".to_owned())]);
        let c = commands("p $FLAGS \"$FLAGS\" ${NONE:---c} ${FLAGS}x\nY=--d\np $Y", &env);
        assert_eq!(c[0].words, vec!["p", "--a", "--b", "--a --b", "--c", "--a", "--bx"]);
        assert_eq!(c[1].words, vec!["p", "--d"]);
        assert_eq!(c[1].line, 3);
    }

    #[test]
    fn heredocs_are_stdin() {
        let c = commands("psql <<-'SQL'\n\tDROP TABLE $T;\n\tSQL\ncat <<EOF\nprisma db push\nEOF\nnext", &Env::new());
        assert_eq!(c[0].words, vec!["psql"]);
        assert_eq!(c[0].stdin, Some(Stdin::Text("DROP TABLE $T;\n".into())));
        assert_eq!(c[1].words, vec!["cat"]);
        assert_eq!(c[2].words, vec!["next"]);
        assert_eq!(c[2].line, 7);
        let c = commands("cat <<EOF\nnow: $(dropdb app) `x y`\nEOF\ncat <<'EOF'\n$(dropdb b)\nEOF\n", &Env::new());
        let words: Vec<_> = c.iter().map(|c| c.words.join(" ")).collect();
        assert_eq!(words, vec!["dropdb app", "x y", "cat", "cat"], "a quoted here-document runs nothing");
    }
}
