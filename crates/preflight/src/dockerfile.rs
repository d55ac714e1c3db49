//! Dockerfile instructions as Docker's parser reads them: the `# escape=`
//! directive, comment lines (removed wherever they are, even inside a
//! continued instruction, and never continued themselves), the escape
//! character at the end of a line (trailing blanks allowed) joining it with
//! the next, blank lines inside a continuation skipped, and here-documents
//! (`RUN <<EOF`).

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of its first line.
    pub line: usize,
    /// Upper-case keyword: `RUN`, `CMD`, `ENV`, ...
    pub keyword: String,
    /// Everything after the keyword, continuation lines joined as Docker joins them.
    pub args: String,
    /// Its here-documents, in order: (delimiter, body).
    pub heredocs: Vec<(String, String)>,
}

/// The instructions of a Dockerfile.
pub fn parse(text: &str) -> Vec<Instruction> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    // Parser directives: only at the very top, before any other line.
    for line in &lines {
        let Some(directive) = line.trim().strip_prefix('#') else { break };
        let Some((key, value)) = directive.split_once('=') else { break };
        if key.trim().eq_ignore_ascii_case("escape") {
            escape = value.trim().chars().next().unwrap_or('\\');
        } else if !key.trim().eq_ignore_ascii_case("syntax") && !key.trim().eq_ignore_ascii_case("check") {
            break;
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i];
        i += 1;
        let trimmed = first.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let line = i;
        let mut text = String::new();
        let mut current = first;
        loop {
            match continued(current, escape) {
                Some(head) => {
                    text.push_str(head);
                    // The next line that is neither a comment nor blank.
                    while i < lines.len() && (lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#')) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    current = lines[i];
                    i += 1;
                }
                None => {
                    text.push_str(current);
                    break;
                }
            }
        }
        let text = text.trim_start();
        let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let args = args.trim().to_owned();
        let mut heredocs = Vec::new();
        if matches!(keyword.to_ascii_uppercase().as_str(), "RUN" | "COPY" | "ADD") {
            for (delim, strip) in heredoc_delimiters(&args) {
                let delim_name = delim.clone();
                let mut body = String::new();
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let l = if strip { raw.trim_start_matches('\t') } else { raw };
                    if l == delim {
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                heredocs.push((delim_name, body));
            }
        }
        out.push(Instruction { line, keyword: keyword.to_ascii_uppercase(), args, heredocs });
    }
    out
}

/// The line without its continuation mark, if it ends with one.
fn continued(line: &str, escape: char) -> Option<&str> {
    line.trim_end_matches([' ', '\t', '\r']).strip_suffix(escape)
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"` in an instruction (not `<<<`).
fn heredoc_delimiters(args: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        if after.starts_with('<') {
            rest = after.trim_start_matches('<');
            continue;
        }
        let strip = after.starts_with('-');
        let after = after.trim_start_matches('-');
        let word: String = after
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '&' | '|' | '>' | '<'))
            .filter(|c| !matches!(c, '"' | '\''))
            .collect();
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push((word, strip));
        }
        rest = after;
    }
    out
}

/// An exec form (`["npm", "start"]`) as its words; None for the shell form.
pub fn exec_form(args: &str) -> Option<Vec<String>> {
    let args = args.trim();
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str(args).ok()
}

/// Splits `KEY=value KEY2="v 2"` (or the legacy `KEY value`) of `ENV`, `ARG`, `LABEL`.
pub fn key_values(args: &str, legacy_allowed: bool) -> Vec<(String, Option<String>)> {
    let words = docker_words(args);
    if legacy_allowed && words.first().is_some_and(|w| !w.contains('=')) && words.len() > 1 {
        let key = words[0].clone();
        let value = args.trim_start()[key.len()..].trim().to_owned();
        return vec![(key, Some(unquote(&value)))];
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(unquote(v))),
            None => (w, None),
        })
        .collect()
}

/// Words separated by blanks, quotes kept together.
pub fn docker_words(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                word.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (_, '\\') => {
                word.push(c);
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn unquote(value: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_continuations_as_docker_reads_them() {
        let text = "FROM node\n# a comment \\\nRUN npx prisma db push \\\n  # inside\n\n  --accept-data-loss\nCMD [\"npm\", \"start\"]\n";
        let ins = parse(text);
        assert_eq!(ins.len(), 3);
        assert_eq!((ins[1].line, ins[1].keyword.as_str()), (3, "RUN"));
        assert_eq!(ins[1].args, "npx prisma db push   --accept-data-loss");
        assert_eq!(exec_form(&ins[2].args), Some(vec!["npm".into(), "start".into()]));
    }

    #[test]
    fn escape_directive_and_heredoc() {
        let ins = parse("# escape=`\nFROM x\nRUN a `\n b\nRUN <<EOF\ndropdb app\nEOF\nCMD c\n");
        assert_eq!(ins[1].args, "a  b");
        assert_eq!(ins[2].heredocs, vec![("EOF".to_owned(), "dropdb app\n".to_owned())]);
        assert_eq!(ins[3].keyword, "CMD");
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            key_values("A=1 B=\"x y\"", true),
            vec![("A".into(), Some("1".into())), ("B".into(), Some("x y".into()))]
        );
        assert_eq!(
            key_values("FLAGS --accept-data-loss --x", true),
            vec![("FLAGS".into(), Some("--accept-data-loss --x".into()))]
        );
        assert_eq!(key_values("NAME", false), vec![("NAME".into(), None)]);
    }
}
