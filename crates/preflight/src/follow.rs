//! Following what a service really runs: from the Dockerfile (`RUN`, `CMD`,
//! `ENTRYPOINT`) and compose (`command:`, `entrypoint:`) through package.json
//! scripts, shell scripts, Makefile targets and entrypoint folders, with
//! `ENV`/`ARG`/`environment:` substituted, to the commands at the end, each
//! judged by [`crate::rules`]. Every finding carries the chain that leads to it.
//!
//! Container paths are mapped back to host files through the build's `COPY`/
//! `ADD` destinations and the service's bind mounts (best effort: a path that
//! maps nowhere is not followed). Cycles stop; depth and work are bounded.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use compose::ServiceDefinition;

use crate::dockerfile::{self, Instruction};
use crate::rules::{self, Refusal, SqlSource, Verdict};
use crate::shell::{self, Env, Stdin};
use crate::Finding;

const MAX_DEPTH: usize = 24;
const MAX_COMMANDS: usize = 20_000;
const PATH: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const ENTRYPOINT_DIRS: &[&str] = &["/docker-entrypoint.d", "/docker-entrypoint-initdb.d"];

/// A container path backed by a host file or folder: where it came from.
#[derive(Debug, Clone)]
struct Mount {
    container: String,
    host: Utf8PathBuf,
    origin: String,
}

/// Where a command runs: its chain so far, variables, working directory.
#[derive(Clone)]
struct Frame {
    chain: Vec<String>,
    env: Env,
    cwd: String,
    visited: Vec<String>,
}

impl Frame {
    fn hop(&self, hop: String) -> Frame {
        let mut f = self.clone();
        f.chain.push(hop);
        f
    }
}

struct Walker {
    findings: Vec<Finding>,
    mounts: Vec<Mount>,
    roots: Vec<Utf8PathBuf>,
    work: usize,
    gave_up: bool,
}

/// Every finding for one service.
pub(crate) fn service(def: &ServiceDefinition, compose_files: &[Utf8PathBuf]) -> Vec<Finding> {
    let mut w = Walker { findings: Vec::new(), mounts: Vec::new(), roots: Vec::new(), work: 0, gave_up: false };
    let mut runtime_env = Env::new();
    let mut workdir = "/".to_owned();
    let mut cmd: Option<Instruction> = None;
    let mut entrypoint: Option<Instruction> = None;
    let mut dockerfile_label = String::new();
    if let Some(context) = &def.build_context {
        w.roots.push(context.clone());
        let path = context.join(def.dockerfile.as_deref().unwrap_or("Dockerfile"));
        dockerfile_label = display(&path, &[]);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let stage = w.dockerfile(&text, context, &dockerfile_label, &def.build_args);
                runtime_env = stage.env;
                workdir = stage.workdir;
                cmd = stage.cmd;
                entrypoint = stage.entrypoint;
                w.mounts = stage.mounts;
            }
            Err(e) => w.findings.push(Finding {
                place: dockerfile_label.clone(),
                why: format!(
                    "cannot read the Dockerfile of service `{}` ({e}), so its commands are unchecked",
                    def.name
                ),
                fix: "fix `build.context`/`build.dockerfile` in the compose file".to_owned(),
            }),
        }
    }
    // Bind mounts cover what the image holds at those paths.
    for (kind, source, target) in &def.volumes {
        if kind == "bind" && !source.is_empty() {
            let host = Utf8PathBuf::from(source);
            if host.is_dir() {
                w.roots.push(host.clone());
            }
            w.mounts.push(Mount {
                container: normalize(target),
                host,
                origin: format!("service `{}` volume {source}:{target}", def.name),
            });
        }
    }
    runtime_env.extend(def.environment.clone());
    let cwd = def.working_dir.clone().unwrap_or(workdir);
    let base = Frame { chain: Vec::new(), env: runtime_env, cwd, visited: Vec::new() };

    // What the container runs: compose's entrypoint replaces the image's
    // (and then the image's CMD is dropped); compose's command replaces CMD.
    let compose_place = |what: &str, words: &[String]| {
        let at = compose_line(compose_files, &def.name, what).map(|l| format!("{l} ")).unwrap_or_default();
        format!("{at}service `{}` {what}: {}", def.name, short(&words.join(" ")))
    };
    // The container runs ENTRYPOINT followed by CMD as one argv (exec forms):
    // `ENTRYPOINT ["sh", "-c"]` + `CMD ["prisma ..."]`, `tini --` + CMD.
    let exec_words = |ins: &Option<Instruction>| ins.as_ref().and_then(|i| dockerfile::exec_form(&i.args));
    let entry_words = def.entrypoint_args.clone().or_else(|| exec_words(&entrypoint));
    let cmd_words =
        def.command_args.clone().or_else(|| if def.entrypoint_args.is_none() { exec_words(&cmd) } else { None });
    if let (Some(e), Some(c)) = (&entry_words, &cmd_words) {
        let last = e.last().map(String::as_str).unwrap_or_default();
        let name = e.first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or_default();
        if last == "-c"
            || last == "--"
            || matches!(name, "tini" | "dumb-init" | "catatonit" | "gosu" | "su-exec" | "env" | "npx")
        {
            let all: Vec<String> = e.iter().chain(c).cloned().collect();
            w.exec(&all, &base.hop(format!("service `{}` runs {}", def.name, short(&all.join(" ")))));
        }
    }
    match &def.entrypoint_args {
        Some(words) => w.exec(words, &base.hop(compose_place("entrypoint", words))),
        None => {
            if let Some(ins) = &entrypoint {
                w.instruction(ins, &dockerfile_label, &base);
            }
        }
    }
    match &def.command_args {
        Some(words) => w.exec(words, &base.hop(compose_place("command", words))),
        None if def.entrypoint_args.is_none() => {
            if let Some(ins) = &cmd {
                w.instruction(ins, &dockerfile_label, &base);
            }
        }
        None => {}
    }
    // An image-only service without a command: what the mounted code would
    // start (`npm start`) and the scripts at the top of the mounted folders.
    if def.build_context.is_none() && def.command_args.is_none() && def.entrypoint_args.is_none() {
        for m in w.mounts.clone() {
            if !m.host.is_dir() || ENTRYPOINT_DIRS.iter().any(|d| under(&m.container, d)) {
                continue;
            }
            let frame = Frame { cwd: m.container.clone(), ..base.hop(m.origin.clone()) };
            if m.host.join("package.json").is_file() {
                w.npm_script("start", &frame);
            }
            for file in sorted_files(&m.host) {
                if file.extension() == Some("sh") {
                    w.file(&file, &frame);
                }
            }
        }
    }
    // Entrypoint folders the image's entrypoint runs at start: a mount inside
    // one (`COPY init/ /docker-entrypoint.d/`), or around one (`COPY . /`).
    for m in w.mounts.clone() {
        for dir in ENTRYPOINT_DIRS {
            let host = if under(&m.container, dir) {
                m.host.clone()
            } else if under(dir, &m.container) && m.container != *dir {
                let rest = dir.strip_prefix(m.container.trim_end_matches('/')).unwrap_or(dir).trim_start_matches('/');
                m.host.join(rest)
            } else {
                continue;
            };
            let files = if host.is_dir() {
                sorted_files(&host)
            } else {
                vec![host].into_iter().filter(|h| h.is_file()).collect()
            };
            for file in files {
                w.file(&file, &base.hop(m.origin.clone()));
            }
        }
    }
    w.findings
}

/// The findings for a shell text on its own (no files to follow): `place:line`.
pub(crate) fn text(place: &str, text: &str) -> Vec<Finding> {
    let mut w = Walker { findings: Vec::new(), mounts: Vec::new(), roots: Vec::new(), work: 0, gave_up: false };
    let frame = Frame { chain: Vec::new(), env: Env::new(), cwd: "/".into(), visited: Vec::new() };
    w.script(text, &|line| format!("{place}:{line}"), &frame);
    w.findings
}

/// The state of a build stage.
#[derive(Clone, Default)]
struct Stage {
    env: Env,
    args: Env,
    workdir: String,
    mounts: Vec<Mount>,
    cmd: Option<Instruction>,
    entrypoint: Option<Instruction>,
}

impl Walker {
    /// Walks a Dockerfile: every `RUN` is followed (it runs at build time);
    /// returns the final stage, whose `CMD`/`ENTRYPOINT` the container runs.
    fn dockerfile(
        &mut self,
        text: &str,
        context: &Utf8Path,
        label: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Stage {
        let mut stages: BTreeMap<String, Stage> = BTreeMap::new();
        let mut global = Env::new();
        let mut stage: Option<Stage> = None;
        let mut name: Option<String> = None;
        for ins in dockerfile::parse(text) {
            let Some(st) = stage.as_mut() else {
                match ins.keyword.as_str() {
                    "ARG" => {
                        for (k, v) in dockerfile::key_values(&ins.args, false) {
                            if let Some(v) = build_args.get(&k).cloned().or(v) {
                                global.insert(k, v);
                            }
                        }
                    }
                    "FROM" => {
                        stage = Some(from(&ins, &stages));
                        name = stage_name(&ins.args);
                    }
                    _ => {}
                }
                continue;
            };
            let mut vars = st.args.clone();
            vars.extend(st.env.clone());
            let expand = |s: &str| shell::expand_text(s, &vars);
            match ins.keyword.as_str() {
                "FROM" => {
                    let done = stage.take().unwrap_or_default();
                    if let Some(name) = name.take() {
                        stages.insert(name, done);
                    }
                    stage = Some(from(&ins, &stages));
                    name = stage_name(&ins.args);
                }
                "ENV" => {
                    for (k, v) in dockerfile::key_values(&ins.args, true) {
                        let v = expand(&v.unwrap_or_default());
                        st.env.insert(k, v);
                    }
                }
                "ARG" => {
                    for (k, v) in dockerfile::key_values(&ins.args, false) {
                        let value = build_args.get(&k).cloned().or_else(|| global.get(&k).cloned()).or(v);
                        st.args.insert(k, value.unwrap_or_default());
                    }
                }
                "WORKDIR" => {
                    let dir = expand(&ins.args);
                    st.workdir = normalize(&join(&st.workdir, &dir));
                }
                "COPY" | "ADD" => {
                    let words = dockerfile::exec_form(&ins.args).unwrap_or_else(|| dockerfile::docker_words(&ins.args));
                    if words.iter().any(|w| w.starts_with("--from")) {
                        continue;
                    }
                    let words: Vec<String> = words.iter().filter(|w| !w.starts_with("--")).map(|w| expand(w)).collect();
                    let Some((dest, sources)) = words.split_last() else { continue };
                    let dest = normalize(&join(&st.workdir, dest));
                    let into_dir = sources.len() > 1 || words.last().is_some_and(|d| d.ends_with('/'));
                    let origin = format!("{label}:{} {} {}", ins.line, ins.keyword, short(&ins.args));
                    if !ins.heredocs.is_empty() {
                        continue;
                    }
                    for src in sources {
                        for host in glob(context, src) {
                            let container = if host.is_file()
                                && (into_dir || dest == "/" || ENTRYPOINT_DIRS.contains(&dest.as_str()))
                            {
                                format!("{}/{}", dest.trim_end_matches('/'), host.file_name().unwrap_or_default())
                            } else {
                                dest.clone()
                            };
                            st.mounts.push(Mount { container: normalize(&container), host, origin: origin.clone() });
                        }
                    }
                }
                "RUN" => {
                    let frame =
                        Frame { chain: Vec::new(), env: vars.clone(), cwd: st.workdir.clone(), visited: Vec::new() };
                    self.mounts = st.mounts.clone();
                    self.instruction(&ins, label, &frame);
                }
                "CMD" => st.cmd = Some(ins.clone()),
                "ENTRYPOINT" => {
                    st.entrypoint = Some(ins.clone());
                    st.cmd = None;
                }
                _ => {}
            }
        }
        stage.unwrap_or_default()
    }

    /// A `RUN`, `CMD` or `ENTRYPOINT`: the exec form runs its words as they
    /// are (no variable expansion), the shell form runs `/bin/sh -c`.
    fn instruction(&mut self, ins: &Instruction, label: &str, frame: &Frame) {
        let hop = format!("{label}:{} {} {}", ins.line, ins.keyword, short(&ins.args));
        let frame = frame.hop(hop);
        let mut args = ins.args.as_str();
        // `RUN --mount=... --network=...`: flags of RUN, not the command.
        while ins.keyword == "RUN" && args.starts_with("--") {
            args = args.split_once(char::is_whitespace).map_or("", |(_, rest)| rest.trim_start());
        }
        if let Some(words) = dockerfile::exec_form(args) {
            self.exec(&words, &frame);
            return;
        }
        let mut script = args.to_owned();
        if script.trim_start().starts_with("<<") && ins.heredocs.len() == 1 {
            // `RUN <<EOF`: the here-document is the script.
            script = ins.heredocs[0].1.clone();
        } else {
            for (delim, body) in &ins.heredocs {
                script.push('\n');
                script.push_str(body);
                script.push_str(delim);
            }
        }
        self.script(&script, &|_| String::new(), &frame);
    }

    /// Runs a shell script; `label(line)` names each command's place ("" for
    /// none beyond the frame's last hop).
    fn script(&mut self, text: &str, label: &dyn Fn(usize) -> String, frame: &Frame) {
        let mut cwd = frame.cwd.clone();
        for c in shell::commands(text, &frame.env) {
            if matches!(c.words.first().map(String::as_str), Some("cd" | "pushd")) {
                if let Some(dir) = c.words.get(1).filter(|d| !d.starts_with('-')) {
                    cwd = normalize(&join(&cwd, dir));
                }
                continue;
            }
            let place = label(c.line);
            let mut f = if place.is_empty() { frame.clone() } else { frame.hop(place) };
            f.cwd = cwd.clone();
            self.command(&c.words, c.stdin.as_ref(), &f);
        }
    }

    fn exec(&mut self, words: &[String], frame: &Frame) {
        self.command(words, None, frame);
    }

    fn refuse(&mut self, frame: &Frame, r: Refusal) {
        self.findings.push(Finding { place: frame.chain.join(" → "), why: r.why, fix: r.fix });
    }

    /// One simple command: unwrap, follow, or judge.
    fn command(&mut self, words: &[String], stdin: Option<&Stdin>, frame: &Frame) {
        self.work += 1;
        if words.is_empty() {
            return;
        }
        if self.work > MAX_COMMANDS || frame.chain.len() > MAX_DEPTH {
            // Fail closed: what is not followed is not admitted.
            if !self.gave_up {
                self.gave_up = true;
                self.refuse(
                    frame,
                    Refusal {
                        why: format!(
                            "the start-up goes deeper than {MAX_DEPTH} hops or runs more than {MAX_COMMANDS} commands, \
                             so the preflight stopped following it"
                        ),
                        fix: "simplify what the service runs at start-up".to_owned(),
                    },
                );
            }
            return;
        }
        let name = words[0].rsplit('/').next().unwrap_or(&words[0]).to_owned();
        let args = &words[1..];
        let options_then = |skip_valued: &[&str]| -> Vec<String> {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if args[i] == "--" {
                    i += 1;
                    break;
                }
                i += if skip_valued.contains(&args[i].as_str()) { 2 } else { 1 };
            }
            args[i.min(args.len())..].to_vec()
        };
        match name.as_str() {
            "exec" | "command" | "builtin" | "nohup" | "nice" | "setsid" | "stdbuf" | "ionice" | "time" | "xargs" => {
                self.command(&options_then(&["-n", "-c"]), stdin, frame)
            }
            "timeout" => {
                let rest = options_then(&["-s", "-k", "--signal", "--kill-after"]);
                self.command(rest.get(1..).unwrap_or_default(), stdin, frame)
            }
            "env" | "cross-env" => {
                let mut f = frame.clone();
                let mut rest = options_then(&["-u", "-C", "--unset", "--chdir"]);
                while let Some((k, v)) = rest.first().and_then(|w| w.split_once('=')) {
                    f.env.insert(k.to_owned(), v.to_owned());
                    rest.remove(0);
                }
                self.command(&rest, stdin, &f)
            }
            "sudo" | "doas" => self.command(&options_then(&["-u", "-g", "-C"]), stdin, frame),
            "gosu" | "su-exec" | "chroot" => self.command(args.get(1..).unwrap_or_default(), stdin, frame),
            "tini" | "dumb-init" | "catatonit" => {
                self.command(&options_then(&["-s", "-p", "-e", "--rewrite"]), stdin, frame)
            }
            "dotenv" => match args.iter().position(|a| a == "--") {
                Some(at) => self.command(&args[at + 1..], stdin, frame),
                None => self.command(&options_then(&["-e", "-c", "-v"]), stdin, frame),
            },
            "npx" | "bunx" | "pnpx" => {
                if let Some(at) = args.iter().position(|a| a == "-c" || a == "--call") {
                    if let Some(code) = args.get(at + 1) {
                        self.script(code, &|_| String::new(), frame);
                    }
                    return;
                }
                self.command(&options_then(&["-p", "--package"]), stdin, frame)
            }
            "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh" | "busybox"
                if name != "busybox" || args.first().is_some_and(|a| a == "sh") =>
            {
                let args = if name == "busybox" { &args[1..] } else { args };
                let mut i = 0;
                while i < args.len() && args[i].starts_with(['-', '+']) {
                    if args[i].trim_start_matches(['-', '+']).contains('c')
                        && args[i].starts_with('-')
                        && !args[i].starts_with("--")
                    {
                        if let Some(code) = args.get(i + 1) {
                            self.script(code, &|_| String::new(), &frame.hop(format!("{name} -c")));
                        }
                        return;
                    }
                    i += if args[i] == "-o" || args[i] == "+o" { 2 } else { 1 };
                }
                match args.get(i) {
                    Some(file) => self.path(file, frame, true),
                    None => match stdin {
                        Some(Stdin::Text(t)) => self.script(t, &|_| String::new(), &frame.hop(format!("{name} <<"))),
                        Some(Stdin::File(p)) => self.path(p, frame, true),
                        Some(Stdin::Piped(prev))
                            if matches!(prev.words.first().map(String::as_str), Some("echo" | "printf")) =>
                        {
                            let text = prev.words[1..]
                                .iter()
                                .filter(|w| !w.starts_with('-'))
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(" ");
                            self.script(&text.replace("\\n", "\n"), &|_| String::new(), &frame.hop(format!("| {name}")))
                        }
                        Some(Stdin::Piped(prev)) if prev.words.first().is_some_and(|w| w == "cat") => {
                            for p in prev.words[1..].iter().filter(|w| !w.starts_with('-')) {
                                self.path(p, frame, true);
                            }
                        }
                        _ => {}
                    },
                }
            }
            "." | "source" => {
                if let Some(file) = args.first() {
                    self.path(file, frame, true);
                }
            }
            "eval" => self.script(&args.join(" "), &|_| String::new(), &frame.hop("eval".to_owned())),
            "npm" => self.npm(args, frame),
            "yarn" | "pnpm" | "bun" => self.yarn_like(&name, args, stdin, frame),
            "npm-run-all" | "run-s" | "run-p" => {
                for script in args.iter().filter(|a| !a.starts_with('-')) {
                    self.npm_script(script, frame);
                }
            }
            "concurrently" => {
                for code in args.iter().filter(|a| !a.starts_with('-')) {
                    self.script(code, &|_| String::new(), frame);
                }
            }
            "make" | "gmake" => self.make(args, frame),
            "node" | "nodejs" | "python" | "python3" | "ruby" | "perl" | "deno" | "ts-node" | "tsx" => {
                if let Verdict::Refuse(r) = rules::classify(words) {
                    return self.refuse(frame, r);
                }
                let mut rest = options_then(&["-r", "--require", "--import", "--loader", "-m", "-W", "-X"]);
                if let Some(at) = args.iter().position(|a| a == "-e" || a == "-c" || a == "--eval") {
                    if let Some(code) = args.get(at + 1) {
                        self.text(code, "inline code", frame);
                    }
                    return;
                }
                if name == "deno" && rest.first().is_some_and(|a| a == "run") {
                    rest.remove(0);
                }
                if let Some(at) = args.iter().position(|a| a == "-m") {
                    // `python -m prisma db push ...`: the module's command.
                    return self.command(&args[at + 1..], stdin, frame);
                }
                if let Some(file) = rest.first().filter(|f| f.contains("node_modules/")) {
                    // A package's own entry point (`node node_modules/prisma/build/index.js`):
                    // judged as that package's command, not read as text.
                    let package = file.split("node_modules/").last().unwrap_or_default();
                    let package = package.split('/').find(|p| *p != ".bin" && !p.starts_with('@')).unwrap_or_default();
                    let mut argv = vec![package.to_owned()];
                    argv.extend(rest[1..].iter().cloned());
                    return self.command(&argv, stdin, frame);
                }
                if let Some(file) = rest.first() {
                    self.path(file, frame, false);
                }
            }
            _ => {
                match rules::classify(words) {
                    Verdict::Refuse(r) => self.refuse(frame, r),
                    Verdict::Sql { tool, sources, must_read } => self.sql(tool, &sources, must_read, stdin, frame),
                    Verdict::Safe => {
                        // A script or program of the image, by path or on PATH.
                        if let Some(host) = self.resolve_program(&words[0], &frame.cwd, &frame.env) {
                            self.file(&host, frame);
                        }
                    }
                }
            }
        }
    }

    fn npm(&mut self, args: &[String], frame: &Frame) {
        let mut f = frame.clone();
        let mut workspaces = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            if let Some(w) = a.strip_prefix("--workspace=") {
                workspaces.push(w.to_owned());
            } else if matches!(a, "--prefix" | "-C") {
                if let Some(dir) = args.get(i + 1) {
                    f.cwd = normalize(&join(&f.cwd, dir));
                }
                i += 1;
            } else if matches!(a, "--workspace" | "-w") {
                workspaces.extend(args.get(i + 1).cloned());
                i += 1;
            } else if !a.starts_with('-') {
                break;
            }
            i += 1;
        }
        let rest = &args[i.min(args.len())..];
        // `npm -w api start` also after the script name: `npm run start -w api`.
        for (j, a) in rest.iter().enumerate() {
            if matches!(a.as_str(), "-w" | "--workspace") {
                workspaces.extend(rest.get(j + 1).cloned());
            } else if let Some(w) = a.strip_prefix("--workspace=") {
                workspaces.push(w.to_owned());
            }
        }
        if !workspaces.is_empty() {
            let mut args_without: Vec<String> = Vec::new();
            let mut skip = false;
            for a in args {
                if std::mem::take(&mut skip) {
                    continue;
                }
                skip = matches!(a.as_str(), "-w" | "--workspace");
                if !skip && !a.starts_with("--workspace=") {
                    args_without.push(a.clone());
                }
            }
            for w in workspaces {
                if let Some(dir) = self.workspace_dir(&f.cwd, &w) {
                    self.npm(&args_without, &Frame { cwd: dir, ..f.clone() });
                }
            }
            return;
        }
        match rest.first().map(String::as_str) {
            Some("start" | "stop" | "test" | "restart" | "t" | "tst") => {
                let name = match rest[0].as_str() {
                    "t" | "tst" => "test",
                    n => n,
                };
                self.npm_script(name, &f);
            }
            Some("run" | "run-script" | "rum" | "urn") => {
                if let Some(script) = rest[1..].iter().find(|a| !a.starts_with('-')) {
                    self.npm_script(script, &f);
                }
            }
            Some("exec" | "x") => {
                let words: Vec<String> = rest[1..].iter().skip_while(|a| a.starts_with('-')).cloned().collect();
                self.command(&words, None, &f);
            }
            _ => {}
        }
    }

    /// `yarn X`, `pnpm X`, `bun X`: a script if package.json has one, else the binary X.
    fn yarn_like(&mut self, name: &str, args: &[String], stdin: Option<&Stdin>, frame: &Frame) {
        let mut f = frame.clone();
        let mut i = 0;
        while i < args.len() && args[i].starts_with('-') {
            if matches!(args[i].as_str(), "--cwd" | "-C" | "--dir") {
                if let Some(dir) = args.get(i + 1) {
                    f.cwd = normalize(&join(&f.cwd, dir));
                }
                i += 1;
            } else if matches!(args[i].as_str(), "--filter" | "-F") {
                if let Some(dir) = args.get(i + 1).and_then(|w| self.workspace_dir(&frame.cwd, w)) {
                    f.cwd = dir;
                }
                i += 1;
            } else if let Some(dir) = args[i].strip_prefix("--filter=").and_then(|w| self.workspace_dir(&frame.cwd, w))
            {
                f.cwd = dir;
            }
            i += 1;
        }
        let mut rest: Vec<String> = args[i.min(args.len())..].to_vec();
        if name == "yarn" && rest.first().is_some_and(|a| a == "workspace") && rest.len() > 2 {
            // `yarn workspace api start`
            if let Some(dir) = self.workspace_dir(&frame.cwd, &rest[1]) {
                f.cwd = dir;
            }
            rest.drain(..2);
        }
        match rest.first().map(String::as_str) {
            Some("exec" | "dlx" | "x") => {
                rest.remove(0);
                let words: Vec<String> = rest.into_iter().skip_while(|a| a.starts_with('-')).collect();
                return self.command(&words, stdin, &f);
            }
            Some("run") => {
                rest.remove(0);
            }
            Some("start" | "test") if name == "pnpm" || name == "yarn" => {}
            None => return,
            _ => {}
        }
        let Some(target) = rest.first().cloned() else { return };
        if !self.npm_script(&target, &f) {
            self.command(&rest, stdin, &f);
        }
    }

    /// The container folder of workspace `name` (its package name or its
    /// path) of the monorepo whose root package.json (`workspaces`) or
    /// pnpm-workspace.yaml (`packages`) is in `cwd`.
    fn workspace_dir(&self, cwd: &str, name: &str) -> Option<String> {
        let root = self.resolve("package.json", cwd)?;
        let host_root = root.parent()?.to_owned();
        let mut patterns: Vec<String> = read(&root)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("workspaces").cloned())
            .map(|w| w.get("packages").cloned().unwrap_or(w))
            .and_then(|w| serde_json::from_value(w).ok())
            .unwrap_or_default();
        if let Some(yaml) = read(&host_root.join("pnpm-workspace.yaml")) {
            patterns.extend(yaml.lines().filter_map(|l| {
                let item = l.trim().strip_prefix('-')?.trim().trim_matches(['"', '\'']);
                (!item.is_empty() && !item.starts_with('!')).then(|| item.to_owned())
            }));
        }
        let wanted = name.trim_start_matches("./").trim_end_matches('/');
        for pattern in patterns {
            let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
            let dirs = match pattern.strip_suffix("/*").or_else(|| pattern.strip_suffix("/**")) {
                Some(parent) => sorted_entries(&host_root.join(parent)).into_iter().filter(|p| p.is_dir()).collect(),
                None => vec![host_root.join(pattern)],
            };
            for dir in dirs {
                let Ok(rel) = dir.strip_prefix(&host_root) else { continue };
                let package_name = read(&dir.join("package.json"))
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned));
                if rel.as_str() == wanted || package_name.as_deref() == Some(name) {
                    return Some(normalize(&join(cwd, rel.as_str())));
                }
            }
        }
        None
    }

    /// Runs `pre<name>`, `<name>`, `post<name>` of the package.json in the
    /// working directory; false if there is no such script.
    fn npm_script(&mut self, name: &str, frame: &Frame) -> bool {
        let Some(pkg) =
            self.resolve("package.json", &frame.cwd).or_else(|| self.roots.first().map(|r| r.join("package.json")))
        else {
            return false;
        };
        let Some(text) = read(&pkg) else { return false };
        let scripts: BTreeMap<String, String> = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("scripts").cloned())
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default();
        if !scripts.contains_key(name) {
            return false;
        }
        let shown = self.show(&pkg);
        for script in [format!("pre{name}"), name.to_owned(), format!("post{name}")] {
            let Some(body) = scripts.get(&script) else { continue };
            let key = format!("{pkg}#{script}");
            if frame.visited.contains(&key) {
                continue;
            }
            let line = text
                .lines()
                .position(|l| l.contains(&format!("\"{script}\"")))
                .map(|i| format!(":{}", i + 1))
                .unwrap_or_default();
            let mut f = frame.hop(format!("{shown}{line} \"{script}\""));
            f.visited.push(key);
            // npm puts node_modules/.bin first on PATH: binaries, not scripts.
            self.script(body, &|_| String::new(), &f);
        }
        true
    }

    fn make(&mut self, args: &[String], frame: &Frame) {
        let mut f = frame.clone();
        let mut file = None;
        let mut targets = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            match a.as_str() {
                "-C" | "--directory" => {
                    if let Some(d) = args.get(i) {
                        f.cwd = normalize(&join(&f.cwd, d));
                    }
                    i += 1;
                }
                "-f" | "--file" | "--makefile" => {
                    file = args.get(i).cloned();
                    i += 1;
                }
                "-j" | "-l" | "-o" | "-W" | "-I" => {
                    if args.get(i).is_some_and(|n| !n.starts_with('-')) && a != "-j"
                        || args.get(i).is_some_and(|n| n.parse::<u32>().is_ok())
                    {
                        i += 1;
                    }
                }
                a if a.starts_with('-') => {}
                a if a.contains('=') => {
                    let (k, v) = a.split_once('=').unwrap_or_default();
                    f.env.insert(k.to_owned(), v.to_owned());
                }
                a => targets.push(a.to_owned()),
            }
        }
        let candidates = match &file {
            Some(file) => vec![file.clone()],
            None => vec!["GNUmakefile".into(), "makefile".into(), "Makefile".into()],
        };
        let Some(host) = candidates.iter().find_map(|c| self.resolve(c, &f.cwd)) else { return };
        let Some(text) = read(&host) else { return };
        let mut vars = f.env.clone();
        vars.entry("MAKE".to_owned()).or_insert_with(|| "make".to_owned());
        let parsed = crate::makefile::parse(&text, &vars);
        if targets.is_empty() {
            targets.extend(parsed.default.clone());
        }
        let shown = self.show(&host);
        for target in targets {
            self.make_target(&parsed, &target, &shown, &f);
        }
    }

    fn make_target(&mut self, make: &crate::makefile::Makefile, target: &str, shown: &str, frame: &Frame) {
        let Some(rule) = make.rules.get(target) else { return };
        let key = format!("{shown}#{target}");
        if frame.visited.contains(&key) {
            return;
        }
        let mut f = frame.hop(format!("{shown}:{} {target}", rule.line));
        f.visited.push(key);
        for pre in &rule.prerequisites {
            self.make_target(make, pre, shown, &f);
        }
        for (line, recipe) in &rule.recipe {
            let shown = shown.to_owned();
            let line = *line;
            self.script(recipe, &move |_| format!("{shown}:{line}"), &f);
        }
    }

    /// A program named in a command: a path, or a name on PATH.
    fn resolve_program(&self, program: &str, cwd: &str, env: &Env) -> Option<Utf8PathBuf> {
        if program.contains('/') {
            return self.resolve(program, cwd);
        }
        let dirs: Vec<String> = match env.get("PATH") {
            Some(p) => p.split(':').map(str::to_owned).collect(),
            None => PATH.iter().map(|s| s.to_string()).collect(),
        };
        dirs.iter().find_map(|d| self.resolve_exact(&format!("{d}/{program}")))
    }

    /// A file named by a command (`sh x`, `. x`, `node x`): shell or program text.
    fn path(&mut self, path: &str, frame: &Frame, shell: bool) {
        let Some(host) = self.resolve(path, &frame.cwd) else { return };
        if shell {
            self.shell_file(&host, frame);
        } else {
            self.file(&host, frame);
        }
    }

    /// Follows a file by what it is: SQL, shell, or another program's text.
    fn file(&mut self, host: &Utf8Path, frame: &Frame) {
        let Some(text) = read(host) else { return };
        let first = text.lines().next().unwrap_or_default();
        let ext = host.extension().unwrap_or_default();
        if ext == "sql" {
            let shown = self.show(host);
            self.sql_text(&text, "the entrypoint", &shown, false, frame);
        } else if (first.starts_with("#!") && !is_shell_shebang(first))
            || matches!(ext, "js" | "mjs" | "cjs" | "ts" | "mts" | "py" | "rb" | "pl")
        {
            let shown = self.show(host);
            self.text(&text, &shown, frame);
        } else if first.starts_with("#!") || matches!(ext, "sh" | "bash" | "") {
            self.shell_file(host, frame);
        }
    }

    fn shell_file(&mut self, host: &Utf8Path, frame: &Frame) {
        let key = host.to_string();
        if frame.visited.contains(&key) {
            return;
        }
        let Some(text) = read(host) else { return };
        let mut f = frame.clone();
        f.visited.push(key);
        let shown = self.show(host);
        self.script(&text, &move |line| format!("{shown}:{line}"), &f);
    }

    /// Program text (JavaScript, Python...): lines that spell a destructive
    /// command. A bundle larger than 1 MiB is not read (minified code).
    fn text(&mut self, text: &str, shown: &str, frame: &Frame) {
        if text.len() > 1 << 20 {
            return;
        }
        for (i, line) in text.lines().enumerate() {
            if let Some(what) = rules::text_mentions(line) {
                self.refuse(
                    &frame.hop(format!("{shown}:{}", i + 1)),
                    Refusal {
                        why: format!("{what} in program code run at start-up"),
                        fix: "remove it; apply migrations with `cargo xtask migrate` (drydock runs them after a verified backup)"
                            .to_owned(),
                    },
                );
            }
        }
    }

    fn sql(
        &mut self,
        tool: &'static str,
        sources: &[SqlSource],
        must_read: bool,
        stdin: Option<&Stdin>,
        frame: &Frame,
    ) {
        for source in sources {
            match source {
                SqlSource::Text(t) => self.sql_text(t, tool, "", must_read, frame),
                SqlSource::File(p) => self.sql_file(p, tool, must_read, frame),
                SqlSource::Stdin => match stdin {
                    Some(Stdin::Text(t)) => self.sql_text(t, tool, "", must_read, frame),
                    Some(Stdin::File(p)) => self.sql_file(p, tool, must_read, frame),
                    Some(Stdin::Piped(prev))
                        if matches!(prev.words.first().map(String::as_str), Some("echo" | "printf")) =>
                    {
                        let text = prev.words[1..]
                            .iter()
                            .filter(|w| !w.starts_with('-'))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" ");
                        self.sql_text(&text.replace("\\n", "\n"), tool, "", must_read, frame)
                    }
                    Some(Stdin::Piped(prev)) if prev.words.first().is_some_and(|w| w == "cat") => {
                        for p in prev.words[1..].iter().filter(|w| !w.starts_with('-')) {
                            self.sql_file(p, tool, must_read, frame);
                        }
                    }
                    _ if must_read => self.unchecked(tool, "its standard input", frame),
                    _ => {}
                },
            }
        }
        if sources.is_empty() && must_read {
            self.unchecked(tool, "its input", frame);
        }
    }

    fn sql_file(&mut self, path: &str, tool: &'static str, must_read: bool, frame: &Frame) {
        match self.resolve(path, &frame.cwd).and_then(|h| read(&h).map(|t| (h, t))) {
            Some((host, text)) => {
                let shown = self.show(&host);
                self.sql_text(&text, tool, &shown, must_read, frame);
            }
            None if must_read => self.unchecked(tool, &format!("`{path}`"), frame),
            None => self.unchecked(tool, &format!("`{path}`"), frame),
        }
    }

    fn sql_text(&mut self, sql: &str, tool: &str, shown: &str, _must_read: bool, frame: &Frame) {
        if let Some((line, what)) = rules::destructive_sql(sql) {
            let f = if shown.is_empty() { frame.clone() } else { frame.hop(format!("{shown}:{line}")) };
            self.refuse(
                &f,
                Refusal {
                    why: format!("{tool} runs SQL at start-up: {what}"),
                    fix: "remove it from the start-up; put schema changes in a migration, which drydock lints and applies after a verified backup"
                        .to_owned(),
                },
            );
        }
    }

    fn unchecked(&mut self, tool: &str, what: &str, frame: &Frame) {
        self.refuse(
            frame,
            Refusal {
                why: format!("{tool} runs SQL from {what}, which the preflight cannot read, so it cannot tell that it drops nothing"),
                fix: "put the SQL in a migration (drydock lints it and applies it after a verified backup), or in a file of the build context"
                    .to_owned(),
            },
        );
    }

    /// The host file behind a container path (relative to `cwd`); when
    /// nothing maps it, a relative path is tried against the build context.
    fn resolve(&self, path: &str, cwd: &str) -> Option<Utf8PathBuf> {
        let container = normalize(&join(cwd, path));
        self.resolve_exact(&container).or_else(|| {
            if path.starts_with('/') {
                return None;
            }
            self.roots.iter().map(|r| r.join(path.trim_start_matches("./"))).find(|p| p.is_file())
        })
    }

    fn resolve_exact(&self, container: &str) -> Option<Utf8PathBuf> {
        for m in self.mounts.iter().rev() {
            let host = if container == m.container {
                m.host.clone()
            } else if let Some(rest) = container.strip_prefix(&format!("{}/", m.container.trim_end_matches('/'))) {
                m.host.join(rest)
            } else {
                continue;
            };
            if host.is_file() {
                return Some(host);
            }
        }
        None
    }

    /// A host path as findings show it: relative to the build context or
    /// mounted folder, else to the current directory.
    fn show(&self, host: &Utf8Path) -> String {
        display(host, &self.roots)
    }
}

fn display(host: &Utf8Path, roots: &[Utf8PathBuf]) -> String {
    for root in roots {
        if let Ok(rel) = host.strip_prefix(root) {
            return rel.to_string();
        }
    }
    if let Some(cwd) = std::env::current_dir().ok().and_then(|d| Utf8PathBuf::from_path_buf(d).ok()) {
        if let Ok(rel) = host.strip_prefix(&cwd) {
            return rel.to_string();
        }
    }
    host.to_string()
}

/// `file:line` of `key:` in service `service` of the compose files (the last
/// file that sets it wins, as compose merges them), found textually.
fn compose_line(files: &[Utf8PathBuf], service: &str, key: &str) -> Option<String> {
    let mut found = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let indent = |l: &str| l.len() - l.trim_start().len();
        let mut within: Option<usize> = None;
        for (i, line) in text.lines().enumerate() {
            let code = line.trim();
            if code.is_empty() || code.starts_with('#') {
                continue;
            }
            if let Some(at) = within {
                if indent(line) <= at {
                    within = None;
                } else if code.starts_with(&format!("{key}:")) {
                    found = Some(format!("{}:{}", display(file, &[]), i + 1));
                    within = None;
                    continue;
                }
            }
            let name = code.trim_end_matches(':').trim_matches(['"', '\'']);
            if code.ends_with(':') && name == service && indent(line) > 0 {
                within = Some(indent(line));
            }
        }
    }
    found
}

/// A text file as sh would read it: invalid UTF-8 replaced, NUL bytes
/// dropped (sh ignores them); None for a missing file or an ELF binary.
fn read(path: &Utf8Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.starts_with(b"\x7fELF") {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).replace('\0', ""))
}

fn is_shell_shebang(line: &str) -> bool {
    ["sh", "bash", "dash", "ash", "zsh", "ksh"]
        .iter()
        .any(|s| line.split(|c: char| c.is_whitespace() || c == '/').any(|w| w == *s))
}

fn from(ins: &Instruction, stages: &BTreeMap<String, Stage>) -> Stage {
    let base = ins.args.split_whitespace().find(|w| !w.starts_with("--")).unwrap_or_default().to_ascii_lowercase();
    let mut st = stages.get(&base).cloned().unwrap_or_else(|| Stage { workdir: "/".into(), ..Default::default() });
    st.args.clear();
    st
}

fn stage_name(from_args: &str) -> Option<String> {
    let words: Vec<&str> = from_args.split_whitespace().collect();
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("as"))?;
    words.get(at + 1).map(|w| w.to_ascii_lowercase())
}

/// Files of the build context that a `COPY` source names (`*` and `?` in the last part).
fn glob(context: &Utf8Path, src: &str) -> Vec<Utf8PathBuf> {
    let src = src.trim_start_matches("./").trim_start_matches('/');
    if src.is_empty() || src == "." {
        return vec![context.to_owned()];
    }
    if !src.contains(['*', '?']) {
        let p = context.join(src);
        return if p.exists() { vec![p] } else { Vec::new() };
    }
    let (dir, pattern) = src.rsplit_once('/').unwrap_or(("", src));
    let dir = context.join(dir);
    sorted_entries(&dir).into_iter().filter(|p| matches_pattern(p.file_name().unwrap_or_default(), pattern)).collect()
}

fn matches_pattern(name: &str, pattern: &str) -> bool {
    fn go(n: &[char], p: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(n, &p[1..]) || (!n.is_empty() && go(&n[1..], p)),
            (Some('?'), Some(_)) => go(&n[1..], &p[1..]),
            (Some(a), Some(b)) if a == b => go(&n[1..], &p[1..]),
            _ => false,
        }
    }
    go(&name.chars().collect::<Vec<_>>(), &pattern.chars().collect::<Vec<_>>())
}

fn sorted_entries(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut out: Vec<Utf8PathBuf> =
        dir.read_dir_utf8().map(|r| r.flatten().map(|e| e.path().to_owned()).collect()).unwrap_or_default();
    out.sort();
    out
}

fn sorted_files(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    sorted_entries(dir).into_iter().filter(|p| p.is_file()).collect()
}

fn join(cwd: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{path}", cwd.trim_end_matches('/'))
    }
}

/// `/app/./x/../y/` → `/app/y`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn under(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{}/", dir.trim_end_matches('/')))
}

/// An instruction or command shortened for a chain, URLs' passwords redacted.
fn short(text: &str) -> String {
    let one: String = compose::redact_url(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    if one.chars().count() > 60 {
        format!("{}…", one.chars().take(59).collect::<String>())
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reader survives any text: the workspace's own files and
    /// generated strings made of the characters that steer sh, Docker and make.
    #[test]
    fn readers_never_panic() {
        let mut texts: Vec<String> = Vec::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet: Vec<char> = "ab $'\"\\`(){}|&;<>#=-\n\t:@*?%é[]".chars().collect();
        for _ in 0..3000 {
            let len = (seed % 60) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            texts.push(s);
        }
        let root = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for dir in ["demo", "crates/preflight/src", "migrations"] {
            for file in sorted_files(&root.join(dir)) {
                texts.extend(std::fs::read_to_string(file).ok());
            }
        }
        for text in &texts {
            let _ = shell::commands(text, &Env::new());
            let _ = dockerfile::parse(text);
            let _ = crate::makefile::parse(text, &BTreeMap::new());
            let _ = rules::destructive_sql(text);
            let _ = super::text("t", text);
            let _ = dockerfile::key_values(text, true);
            let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            let _ = rules::classify(&words);
        }
    }
}
