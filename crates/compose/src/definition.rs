//! Service definitions as compose resolves them (`compose config`), for the
//! preflight: build context and Dockerfile, command, entrypoint, volumes.
//!
//! Compose v2 prints its model as JSON (`config --format json`), read with
//! serde_json; v1 (1.29) prints YAML only, so serde_yaml stays for v1 alone
//! ([`Compose::config_model`]).

use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use serde::Deserialize;

use crate::{Compose, ComposeError};

/// One service of the resolved compose model. Not `Debug`: `environment`
/// may hold secrets.
#[derive(Clone, Default)]
pub struct ServiceDefinition {
    /// The service name.
    pub name: String,
    /// Absolute build context, if the service is built.
    pub build_context: Option<Utf8PathBuf>,
    /// Dockerfile path relative to the context (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// `command`, joined with spaces.
    pub command: Option<String>,
    /// `entrypoint`, joined with spaces.
    pub entrypoint: Option<String>,
    /// `command` as its words: the list as written, or the string split the
    /// way compose splits it (shell-like quoting, no shell); `$$` unescaped.
    pub command_args: Option<Vec<String>>,
    /// `entrypoint` as its words, like `command_args`.
    pub entrypoint_args: Option<Vec<String>>,
    /// `working_dir`, if set.
    pub working_dir: Option<String>,
    /// `build.args` as resolved. May hold secrets: never print values.
    pub build_args: BTreeMap<String, String>,
    /// Mounts: (type, source, target); type is `volume`, `bind` or `tmpfs`.
    pub volumes: Vec<(String, String, String)>,
    /// `environment` as resolved, `$$` unescaped. May hold secrets: never print values.
    pub environment: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Model {
    #[serde(default)]
    services: BTreeMap<String, RawService>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawService {
    build: Option<RawBuild>,
    command: Option<StringOrList>,
    entrypoint: Option<StringOrList>,
    volumes: Vec<RawVolume>,
    environment: Option<RawEnvironment>,
    working_dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawBuild {
    Context(String),
    Full {
        context: Option<String>,
        dockerfile: Option<String>,
        #[serde(default)]
        args: Option<RawEnvironment>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawVolume {
    Short(String),
    Long {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        source: Option<String>,
        target: String,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawEnvironment {
    Map(BTreeMap<String, Option<serde_json::Value>>),
    List(Vec<String>),
}

impl StringOrList {
    fn joined(&self) -> String {
        match self {
            StringOrList::One(s) => s.clone(),
            StringOrList::Many(v) => v.join(" "),
        }
    }

    fn words(&self) -> Vec<String> {
        match self {
            StringOrList::One(s) => split_words(s).iter().map(|w| unescape(w)).collect(),
            StringOrList::Many(v) => v.iter().map(|w| unescape(w)).collect(),
        }
    }
}

/// `$$` as the container receives it: `$` (compose config keeps the escape).
fn unescape(s: &str) -> String {
    s.replace("$$", "$")
}

/// A command string split as compose splits it (shlex: quotes and
/// backslashes, no expansion, no operators).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    word.get_or_insert_with(String::new).push(n);
                }
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

fn environment_map(raw: Option<RawEnvironment>) -> BTreeMap<String, String> {
    match raw {
        None => BTreeMap::new(),
        Some(RawEnvironment::Map(m)) => m
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Some(serde_json::Value::String(s)) => unescape(&s),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        Some(RawEnvironment::List(l)) => l
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), unescape(v)),
                None => (kv, String::new()),
            })
            .collect(),
    }
}

impl Compose {
    /// compose's resolved model (`compose config`, which also validates the
    /// files: an invalid file is an error here) as a JSON value: v2's
    /// `config --format json`, or v1's YAML read into the same value. Read at
    /// the first question and kept (shared by clones), so drydock's own
    /// questions (definitions, build specs, service names) ask compose once
    /// (about 0.2 s a call); compose's own commands (`config --hash`, `build`,
    /// `pull`, `up`) still read the files themselves.
    pub fn config_model(&self) -> Result<serde_json::Value, ComposeError> {
        let mut kept = self.model.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(model) = &*kept {
            return Ok(model.clone());
        }
        let unexpected =
            |e: &dyn std::fmt::Display| ComposeError::Unexpected { detail: format!("compose config: {e}") };
        let model: serde_json::Value = match self.flavor() {
            crate::Flavor::V2 => {
                let json = self.run(&crate::command::Cmd::ConfigJson)?;
                serde_json::from_str(&json).map_err(|e| unexpected(&e))?
            }
            crate::Flavor::V1 => {
                let yaml = self.run(&crate::command::Cmd::Config)?;
                serde_yaml::from_str(&yaml).map_err(|e| unexpected(&e))?
            }
        };
        *kept = Some(model.clone());
        Ok(model)
    }

    /// The resolved definitions of every service.
    pub fn definitions(&self) -> Result<Vec<ServiceDefinition>, ComposeError> {
        let model: Model = serde_json::from_value(self.config_model()?)
            .map_err(|e| ComposeError::Unexpected { detail: format!("compose config: {e}") })?;
        let root = &self.environment().root();
        Ok(model
            .services
            .into_iter()
            .map(|(name, raw)| {
                let (build_context, dockerfile, build_args) = match raw.build {
                    None => (None, None, BTreeMap::new()),
                    Some(RawBuild::Context(c)) => (Some(root.join(c)), None, BTreeMap::new()),
                    Some(RawBuild::Full { context, dockerfile, args }) => {
                        (Some(root.join(context.unwrap_or_else(|| ".".into()))), dockerfile, environment_map(args))
                    }
                };
                let volumes = raw
                    .volumes
                    .into_iter()
                    .map(|v| match v {
                        RawVolume::Long { kind, source, target } => {
                            (kind.unwrap_or_else(|| "volume".into()), source.unwrap_or_default(), target)
                        }
                        RawVolume::Short(s) => {
                            let parts: Vec<&str> = s.split(':').collect();
                            match parts.as_slice() {
                                [target] => ("volume".into(), String::new(), target.to_string()),
                                [source, target, ..] => {
                                    let kind = if source.starts_with('/') || source.starts_with('.') {
                                        "bind"
                                    } else {
                                        "volume"
                                    };
                                    (kind.into(), source.to_string(), target.to_string())
                                }
                                [] => ("volume".into(), String::new(), String::new()),
                            }
                        }
                    })
                    .collect();
                let environment = environment_map(raw.environment);
                ServiceDefinition {
                    name,
                    build_context,
                    dockerfile,
                    command: raw.command.as_ref().map(StringOrList::joined),
                    entrypoint: raw.entrypoint.as_ref().map(StringOrList::joined),
                    command_args: raw.command.as_ref().map(StringOrList::words),
                    entrypoint_args: raw.entrypoint.as_ref().map(StringOrList::words),
                    working_dir: raw.working_dir.as_deref().map(unescape),
                    build_args,
                    volumes,
                    environment,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_strings_split_as_compose_splits_them() {
        assert_eq!(
            split_words(r#"sh -c "npx prisma db push $F" 'a b'"#),
            vec!["sh", "-c", "npx prisma db push $F", "a b"]
        );
        assert_eq!(split_words(r#"a\ b "" c"#), vec!["a b", "", "c"]);
        let one = StringOrList::One(r#"sh -c "prisma db push $$F""#.to_owned());
        assert_eq!(one.words(), vec!["sh", "-c", "prisma db push $F"], "compose's `$$` reaches the container as `$`");
    }

    #[test]
    fn v2_json_and_v1_yaml_read_alike() {
        let json = r#"{"services":{"api":{"build":{"context":"/x/api","dockerfile":"Dockerfile","args":{"A":"1"}},
            "command":["npm","start"],"entrypoint":null,"environment":{"F":"--x","N":null},"working_dir":"/app",
            "volumes":[{"type":"bind","source":"/x/code","target":"/app","bind":{}}]}}}"#;
        let yaml = "services:\n  api:\n    build:\n      context: /x/api\n      args:\n        A: '1'\n    command: npm start\n    environment:\n      F: --x\n      N: null\n    working_dir: /app\n    volumes:\n    - /x/code:/app:rw\n";
        for value in [serde_json::from_str::<serde_json::Value>(json).unwrap(), serde_yaml::from_str(yaml).unwrap()] {
            let model: Model = serde_json::from_value(value).unwrap();
            let api = &model.services["api"];
            assert_eq!(api.command.as_ref().map(StringOrList::words), Some(vec!["npm".to_owned(), "start".to_owned()]));
            assert_eq!(api.working_dir.as_deref(), Some("/app"));
            assert_eq!(api.volumes.len(), 1);
        }
    }
}
