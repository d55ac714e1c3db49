//! Service definitions as compose resolves them (`compose config`), for the
//! preflight: build context and Dockerfile, command, entrypoint, volumes.

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
    /// way compose splits it (shell-like quoting, no shell).
    pub command_args: Option<Vec<String>>,
    /// `entrypoint` as its words, like `command_args`.
    pub entrypoint_args: Option<Vec<String>>,
    /// `working_dir`, if set.
    pub working_dir: Option<String>,
    /// `build.args` as resolved. May hold secrets: never print values.
    pub build_args: BTreeMap<String, String>,
    /// Mounts: (type, source, target); type is `volume`, `bind` or `tmpfs`.
    pub volumes: Vec<(String, String, String)>,
    /// `environment` as resolved. May hold secrets: never print values.
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
    Map(BTreeMap<String, Option<serde_yaml::Value>>),
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
            StringOrList::One(s) => split_words(s),
            StringOrList::Many(v) => v.clone(),
        }
    }
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
                    Some(serde_yaml::Value::String(s)) => s,
                    Some(other) => serde_yaml::to_string(&other).unwrap_or_default().trim().to_owned(),
                    None => String::new(),
                };
                (k, v)
            })
            .collect(),
        Some(RawEnvironment::List(l)) => l
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv, String::new()),
            })
            .collect(),
    }
}

impl Compose {
    /// The resolved definitions of every service (`compose config`, which also
    /// validates the files: an invalid file is an error here).
    pub fn definitions(&self) -> Result<Vec<ServiceDefinition>, ComposeError> {
        let yaml = self.run(&["config"])?;
        let model: Model = serde_yaml::from_str(&yaml)
            .map_err(|e| ComposeError::Unexpected { detail: format!("compose config: {e}") })?;
        let root = &self.environment().root;
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
                    working_dir: raw.working_dir,
                    build_args,
                    volumes,
                    environment,
                }
            })
            .collect())
    }
}
