//! Makefile rules deep enough to know what `make TARGET` runs: variables
//! (`=`, `:=`, `?=`), rules with prerequisites, tab-indented recipe lines
//! (`@`, `-`, `+` prefixes dropped, `\` continuation), `$(VAR)`, `$$`.

use std::collections::BTreeMap;

/// One rule.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// 1-based line of the rule.
    pub line: usize,
    /// Prerequisites, expanded.
    pub prerequisites: Vec<String>,
    /// Recipe lines, expanded, with their 1-based line.
    pub recipe: Vec<(usize, String)>,
}

/// A parsed Makefile.
#[derive(Debug, Clone, Default)]
pub struct Makefile {
    /// Rules by target.
    pub rules: BTreeMap<String, Rule>,
    /// The first target that does not start with `.`.
    pub default: Option<String>,
}

/// Parses a Makefile; the environment seeds its variables.
pub fn parse(text: &str, env: &BTreeMap<String, String>) -> Makefile {
    let mut vars = env.clone();
    let mut make = Makefile::default();
    let mut current: Vec<String> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let mut line = lines[i].to_owned();
        i += 1;
        while line.ends_with('\\') && i < lines.len() {
            line.pop();
            line.push_str(lines[i].trim_start_matches('\t'));
            i += 1;
        }
        if let Some(recipe) = line.strip_prefix('\t') {
            let recipe = recipe.trim_start_matches(['@', '-', '+', ' ']);
            for target in &current {
                let expanded = expand(recipe, &vars, target);
                make.rules.entry(target.clone()).or_default().recipe.push((line_no, expanded));
            }
            continue;
        }
        let code = strip_comment(&line);
        if code.trim().is_empty() {
            continue;
        }
        if let Some((name, value)) = assignment(code) {
            vars.entry(name.0.clone())
                .and_modify(|v| *v = if name.1 { v.clone() } else { value.clone() })
                .or_insert(value);
            current.clear();
            continue;
        }
        let Some((targets, rest)) = code.split_once(':') else {
            current.clear();
            continue;
        };
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        let (prereqs, inline) = rest.split_once(';').unwrap_or((rest, ""));
        current = expand(targets, &vars, "").split_whitespace().map(str::to_owned).collect();
        for target in &current {
            if make.default.is_none() && !target.starts_with('.') {
                make.default = Some(target.clone());
            }
            let rule = make.rules.entry(target.clone()).or_default();
            rule.line = line_no;
            rule.prerequisites.extend(expand(prereqs, &vars, target).split_whitespace().map(str::to_owned));
            if !inline.trim().is_empty() {
                rule.recipe.push((line_no, expand(inline.trim(), &vars, target)));
            }
        }
    }
    make
}

fn strip_comment(line: &str) -> &str {
    line.find('#').map_or(line, |at| &line[..at])
}

/// `NAME = value`, `NAME := value`, `NAME ?= value` ((name, only-if-unset), value).
fn assignment(code: &str) -> Option<((String, bool), String)> {
    let at = code.find('=')?;
    let colon = code.find(':');
    if colon.is_some_and(|c| c < at && !code[c..at].chars().all(|ch| ch == ':')) {
        return None;
    }
    let mut name = &code[..at];
    let mut only_unset = false;
    if let Some(n) = name.strip_suffix('?') {
        name = n;
        only_unset = true;
    }
    let name = name.trim_end_matches([':', '+', '!']).trim();
    let name = name.strip_prefix("export ").unwrap_or(name).trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some(((name.to_owned(), only_unset), code[at + 1..].trim().to_owned()))
}

/// `$(VAR)`, `${VAR}`, `$@`, `$$` expanded.
fn expand(text: &str, vars: &BTreeMap<String, String>, target: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('@') => {
                out.push_str(target);
                i += 2;
            }
            Some(open @ ('(' | '{')) => {
                let close = if *open == '(' { ')' } else { '}' };
                let len = chars[i + 2..].iter().position(|c| *c == close).unwrap_or(chars.len() - i - 2);
                let name: String = chars[i + 2..i + 2 + len].iter().collect();
                out.push_str(&vars.get(name.trim()).map(|v| expand(v, vars, target)).unwrap_or_default());
                i += len + 3;
            }
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_prerequisites_and_variables() {
        let text = "FLAGS ?= --accept-data-loss\nall: build\n\n# c\nmigrate: generate\n\t@npx prisma db push $(FLAGS) \\\n\t  --skip-generate\ngenerate:\n\tnpx prisma generate # x\n";
        let m = parse(text, &BTreeMap::new());
        assert_eq!(m.default.as_deref(), Some("all"));
        assert_eq!(m.rules["migrate"].prerequisites, vec!["generate"]);
        assert_eq!(
            m.rules["migrate"].recipe,
            vec![(6, "npx prisma db push --accept-data-loss   --skip-generate".to_owned())]
        );
    }
}
