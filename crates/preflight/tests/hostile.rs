//! Hostile projects for the preflight: each case is a small project folder
//! (Dockerfile, package.json, scripts, Makefile, compose definition) whose
//! service would drop data at start, asserting the finding and its chain;
//! then look-alikes that must pass.
//!
//! - `refused`: the table of destructive projects.
//! - `passes`: the table of false-positive traps.
//! - `a_compose_command_is_named_by_its_line`: compose file:line in the chain.
//! - `through_real_compose`: a copy of the demo edited to hide the seed
//!   lesson, read through `compose config` (v2's JSON and v1's YAML).

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use compose::ServiceDefinition;

/// A temporary project folder, removed on drop.
struct Project {
    root: Utf8PathBuf,
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Project {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let root = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("drydock-preflight-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        Project { root }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// How the compose file defines the service (`build: .` unless `image_only`).
#[derive(Default, Clone)]
struct Svc {
    image_only: bool,
    command: Option<&'static [&'static str]>,
    entrypoint: Option<&'static [&'static str]>,
    environment: &'static [(&'static str, &'static str)],
    binds: &'static [(&'static str, &'static str)],
    working_dir: Option<&'static str>,
    build_args: &'static [(&'static str, &'static str)],
}

fn definition(root: &Utf8Path, svc: &Svc) -> ServiceDefinition {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ServiceDefinition {
        name: "api".into(),
        build_context: (!svc.image_only).then(|| root.to_owned()),
        command: svc.command.map(|c| c.join(" ")),
        entrypoint: svc.entrypoint.map(|c| c.join(" ")),
        command_args: svc.command.map(words),
        entrypoint_args: svc.entrypoint.map(words),
        working_dir: svc.working_dir.map(str::to_owned),
        build_args: svc.build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        environment: svc.environment.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        volumes: svc.binds.iter().map(|(s, t)| ("bind".to_owned(), root.join(s).to_string(), t.to_string())).collect(),
        ..Default::default()
    }
}

fn findings(files: &[(&str, &str)], svc: &Svc) -> Vec<preflight::Finding> {
    let project = Project::new(files);
    preflight::scan_services(&[definition(&project.root, svc)], &[])
}

const PKG_BOOT: &str = r#"{
  "name": "api",
  "scripts": {
    "start": "sh scripts/boot.sh",
    "build": "tsc"
  }
}"#;

const DF_NPM_START: &str = "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm run build\nCMD [\"npm\", \"start\"]\n";

/// (name, files, service, chain parts in order, words of the reason)
type Case = (&'static str, Vec<(&'static str, &'static str)>, Svc, &'static [&'static str], &'static str);

/// (name, files, service) that must pass.
type Trap = (&'static str, Vec<(&'static str, &'static str)>, Svc);

fn refused_cases() -> Vec<Case> {
    let build = Svc::default();
    vec![
        (
            "the seed lesson: CMD npm start → package.json → sh scripts/boot.sh",
            vec![
                ("Dockerfile", DF_NPM_START),
                ("package.json", PKG_BOOT),
                ("scripts/boot.sh", "#!/bin/sh\nset -e\nnpx prisma db push --accept-data-loss\nexec node dist/main.js\n"),
            ],
            build.clone(),
            &["Dockerfile:5 CMD", "package.json:4 \"start\"", "scripts/boot.sh:3"],
            "--accept-data-loss",
        ),
        (
            "npm run X with a prestart script and yarn inside",
            vec![
                ("Dockerfile", "FROM node\nWORKDIR /srv\nCOPY package.json ./\nCMD npm run serve\n"),
                ("package.json", r#"{"scripts": {"preserve": "yarn db:reset", "serve": "node x.js", "db:reset": "prisma migrate reset --force"}}"#),
            ],
            build.clone(),
            &["CMD npm run serve", "\"preserve\"", "\"db:reset\""],
            "migrate reset",
        ),
        (
            "pnpm X where X is a binary, from compose command",
            vec![("Dockerfile", "FROM node\nCOPY . /app\n"), ("package.json", "{}")],
            Svc { command: Some(&["pnpm", "prisma", "migrate", "dev"]), ..build.clone() },
            &["service `api` command: pnpm prisma migrate dev"],
            "migrate dev",
        ),
        (
            "an executable script called by path from the ENTRYPOINT, COPY to PATH",
            vec![
                ("Dockerfile", "FROM node\nCOPY docker/entry.sh /usr/local/bin/\nENTRYPOINT [\"entry.sh\"]\nCMD [\"node\", \"main.js\"]\n"),
                ("docker/entry.sh", "#!/bin/bash\n./migrate.sh\n"),
                ("migrate.sh", "psql \"$DATABASE_URL\" -c 'DROP TABLE \"User\"'\n"),
            ],
            build.clone(),
            &["Dockerfile:3 ENTRYPOINT", "docker/entry.sh:2", "migrate.sh:1"],
            "DROP TABLE",
        ),
        (
            "source and . of scripts, then exec",
            vec![
                ("Dockerfile", "FROM x\nWORKDIR /app\nCOPY scripts /app/scripts\nCMD [\"/app/scripts/start.sh\"]\n"),
                ("scripts/start.sh", "#!/bin/sh\n. /app/scripts/env.sh\nsource ./scripts/db.sh\nexec node .\n"),
                ("scripts/env.sh", "export A=1\n"),
                ("scripts/db.sh", "exec dropdb -U app app\n"),
            ],
            build.clone(),
            &["CMD [\"/app/scripts/start.sh\"]", "scripts/start.sh:3", "scripts/db.sh:1"],
            "dropdb",
        ),
        (
            "a Makefile target with its prerequisite",
            vec![
                ("Dockerfile", "FROM x\nWORKDIR /app\nCOPY . .\nCMD make migrate && node .\n"),
                ("Makefile", "FLAGS := --force-reset\n\nmigrate: generate push\n\techo ok\n\npush:\n\t@npx prisma db push $(FLAGS)\n\ngenerate:\n\tnpx prisma generate\n"),
            ],
            build.clone(),
            &["CMD make migrate", "Makefile:3 migrate", "Makefile:6 push", "Makefile:7"],
            "--force-reset",
        ),
        (
            "ENV carries the flag",
            vec![("Dockerfile", "FROM x\nENV PUSH_FLAGS=--accept-data-loss\nCMD npx prisma db push $PUSH_FLAGS\n")],
            build.clone(),
            &["Dockerfile:3 CMD npx prisma db push $PUSH_FLAGS"],
            "--accept-data-loss",
        ),
        (
            "compose environment carries the flag into sh -c",
            vec![("Dockerfile", "FROM x\n")],
            Svc {
                command: Some(&["sh", "-c", "npx prisma db push ${PUSH_FLAGS} && node ."]),
                environment: &[("PUSH_FLAGS", "--skip-generate --accept-data-loss")],
                ..build.clone()
            },
            &["service `api` command", "sh -c"],
            "--accept-data-loss",
        ),
        (
            "ARG default substituted into RUN",
            vec![("Dockerfile", "FROM x\nARG RESET=--force-reset\nRUN npx prisma db push ${RESET}\n")],
            build.clone(),
            &["Dockerfile:3 RUN"],
            "--force-reset",
        ),
        (
            "a `# comment \\` line does not swallow the next RUN",
            vec![("Dockerfile", "FROM x\n# disabled: \\\nRUN npx prisma migrate reset --force\n")],
            build.clone(),
            &["Dockerfile:3 RUN"],
            "migrate reset",
        ),
        (
            "comments inside a continued RUN are stripped by Docker",
            vec![("Dockerfile", "FROM x\nRUN npm ci && \\\n# push the schema\n    npx prisma db push \\\n    --accept-data-loss\n")],
            build.clone(),
            &["Dockerfile:2 RUN"],
            "--accept-data-loss",
        ),
        (
            "entrypoint folder copied from the build context",
            vec![
                ("Dockerfile", "FROM nginx\nCOPY init/ /docker-entrypoint.d/\n"),
                ("init/10-db.sh", "#!/bin/sh\npg_restore --clean -d \"$DB\" /seed.dump\n"),
            ],
            build.clone(),
            &["Dockerfile:2 COPY init/ /docker-entrypoint.d/", "init/10-db.sh:2"],
            "pg_restore --clean",
        ),
        (
            "an entrypoint folder inside a context copied to /",
            vec![("Dockerfile", "FROM nginx\nCOPY . /\n"), ("docker-entrypoint.d/20-x.sh", "dropdb app\n")],
            build.clone(),
            &["Dockerfile:2 COPY . /", "docker-entrypoint.d/20-x.sh:1"],
            "dropdb",
        ),
        (
            "initdb SQL of an app service",
            vec![
                ("Dockerfile", "FROM postgres\nCOPY reset.sql /docker-entrypoint-initdb.d/\n"),
                ("reset.sql", "CREATE TABLE a (id int);\nTRUNCATE a;\n"),
            ],
            build.clone(),
            &["Dockerfile:2 COPY", "reset.sql:2"],
            "TRUNCATE",
        ),
        (
            "image-only service with bind-mounted code and a command",
            vec![
                ("api/package.json", r#"{"scripts": {"start": "npm run migrate && node .", "migrate": "knex migrate:rollback --all"}}"#),
            ],
            Svc { image_only: true, command: Some(&["npm", "start"]), binds: &[("api", "/usr/src/app")], working_dir: Some("/usr/src/app"), ..Default::default() },
            &["service `api` command: npm start", "\"start\"", "\"migrate\""],
            "knex migrate:rollback",
        ),
        (
            "image-only service with bind-mounted code, image's default command",
            vec![("app/package.json", r#"{"scripts": {"start": "sequelize db:drop && node ."}}"#)],
            Svc { image_only: true, binds: &[("app", "/app")], ..Default::default() },
            &["service `api` volume", "\"start\""],
            "db:drop",
        ),
        (
            "psql here-document with DELETE without WHERE",
            vec![("Dockerfile", "FROM x\nCOPY boot.sh /boot.sh\nCMD [\"bash\", \"/boot.sh\"]\n"), ("boot.sh", "psql <<-SQL\n\tDELETE FROM sessions;\n\tSQL\nnode .\n")],
            build.clone(),
            &["CMD [\"bash\", \"/boot.sh\"]", "boot.sh:1"],
            "DELETE",
        ),
        (
            "echo piped into psql",
            vec![("Dockerfile", "FROM x\nCMD echo 'DROP SCHEMA public CASCADE;' | psql && node .\n")],
            build.clone(),
            &["Dockerfile:2 CMD"],
            "DROP SCHEMA",
        ),
        (
            "prisma db execute of a file with DROP",
            vec![("Dockerfile", "FROM x\nWORKDIR /app\nCOPY . .\nCMD npx prisma db execute --file ./sql/cleanup.sql && node .\n"), ("sql/cleanup.sql", "DROP TABLE old_users;\n")],
            build.clone(),
            &["Dockerfile:4 CMD", "sql/cleanup.sql:1"],
            "DROP TABLE",
        ),
        (
            "prisma db execute from an unreadable stdin",
            vec![("Dockerfile", "FROM x\nCMD curl -s https://x/y.sql | npx prisma db execute --stdin\n")],
            build.clone(),
            &["Dockerfile:2 CMD"],
            "cannot read",
        ),
        (
            "a RUN here-document (BuildKit)",
            vec![("Dockerfile", "# syntax=docker/dockerfile:1\nFROM x\nRUN <<EOF\nset -e\nbin/rails db:schema:load\nEOF\n")],
            build.clone(),
            &["Dockerfile:3 RUN <<EOF"],
            "db:schema:load",
        ),
        (
            "command substitution runs too; env wrappers; typeorm",
            vec![("Dockerfile", "FROM x\nCMD echo \"$(env NODE_ENV=prod npx typeorm schema:drop)\"\n")],
            build.clone(),
            &["Dockerfile:2 CMD"],
            "typeorm schema:drop",
        ),
        (
            "node script that shells out",
            vec![
                ("Dockerfile", "FROM node\nWORKDIR /app\nCOPY . .\nCMD [\"node\", \"scripts/start.js\"]\n"),
                ("scripts/start.js", "const { execSync } = require('child_process');\nexecSync('npx prisma migrate reset --force');\n"),
            ],
            build.clone(),
            &["CMD [\"node\", \"scripts/start.js\"]", "scripts/start.js:2"],
            "migrate reset",
        ),
        (
            "multi-stage: the final stage inherits ENV from its base stage",
            vec![("Dockerfile", "FROM node AS base\nENV F=--accept-data-loss\nFROM base\nCMD prisma db push $F\n")],
            build.clone(),
            &["Dockerfile:4 CMD"],
            "--accept-data-loss",
        ),
        (
            "a script cycle stops; the command in it is still found",
            vec![
                ("Dockerfile", "FROM x\nWORKDIR /app\nCOPY . .\nCMD sh a.sh\n"),
                ("a.sh", "sh b.sh\n"),
                ("b.sh", "sh a.sh\ndocker compose down -v\n"),
            ],
            build.clone(),
            &["CMD sh a.sh", "a.sh:1", "b.sh:2"],
            "down -v",
        ),
        (
            "ENTRYPOINT [\"sh\", \"-c\"] runs CMD's string",
            vec![("Dockerfile", "FROM x\nENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"prisma db push --accept-data-loss && node .\"]\n")],
            build.clone(),
            &["service `api` runs /bin/sh -c prisma db push"],
            "--accept-data-loss",
        ),
        (
            "RUN flags are not the command",
            vec![("Dockerfile", "FROM x\nRUN --mount=type=cache,target=/root/.npm --network=host npx prisma@5.2 migrate reset -f\n")],
            build.clone(),
            &["Dockerfile:2 RUN --mount"],
            "migrate reset",
        ),
        (
            "cd before a relative script",
            vec![
                ("Dockerfile", "FROM x\nCOPY ops /opt/ops\nCMD cd /opt/ops && sh ./boot.sh\n"),
                ("ops/boot.sh", "python -m alembic downgrade base\n"),
            ],
            build.clone(),
            &["Dockerfile:3 CMD cd /opt/ops", "ops/boot.sh:1"],
            "alembic downgrade",
        ),
        (
            "echo piped into sh, a variable holding the program, bash's $'...'",
            vec![("Dockerfile", "FROM x\nCMD P=prisma; echo \"$P migrate reset --force\" | sh; $'dropdb' app\n")],
            build.clone(),
            &["Dockerfile:2 CMD", "| sh"],
            "migrate reset",
        ),
        (
            "psql -c with a meta-command",
            vec![("Dockerfile", "FROM x\nCMD psql -c '\\i /app/reset.sql' && node .\n")],
            build.clone(),
            &["Dockerfile:2 CMD"],
            "meta-command",
        ),
        (
            "$(MAKE) recursion and a for loop",
            vec![
                ("Dockerfile", "FROM x\nWORKDIR /app\nCOPY . .\nRUN make\n"),
                ("Makefile", "all:\n\t$(MAKE) clean\nclean:\n\tfor db in a b; do dropdb $$db; done\n"),
            ],
            build.clone(),
            &["Dockerfile:4 RUN make", "Makefile:1 all", "Makefile:3 clean", "Makefile:4"],
            "dropdb",
        ),
        (
            "a package's entry point run by node",
            vec![("Dockerfile", "FROM x\nCMD [\"node\", \"node_modules/prisma/build/index.js\", \"db\", \"push\", \"--accept-data-loss\"]\n")],
            build.clone(),
            &["Dockerfile:2 CMD"],
            "--accept-data-loss",
        ),
        (
            "a script with bytes that are not UTF-8",
            vec![("Dockerfile", "FROM x\nCOPY boot.sh /boot.sh\nCMD [\"sh\", \"/boot.sh\"]\n"), ("boot.sh", "# caf\u{e9}\u{0}\ndropdb app\n")],
            build.clone(),
            &["CMD [\"sh\", \"/boot.sh\"]", "boot.sh:2"],
            "dropdb",
        ),
        (
            "an entrypoint folder bind-mounted into an image-only service",
            vec![("init/01.sh", "#!/bin/sh\nnpx prisma migrate reset --force\n")],
            Svc { image_only: true, binds: &[("init", "/docker-entrypoint.d")], ..Default::default() },
            &["service `api` volume", "init:/docker-entrypoint.d → 01.sh:2"],
            "migrate reset",
        ),
        (
            "npm workspaces: npm -w, yarn workspace, pnpm --filter",
            vec![
                ("Dockerfile", "FROM node\nWORKDIR /repo\nCOPY . .\nCMD npm run start -w @acme/api && yarn workspace web start && pnpm --filter ./apps/worker start\n"),
                ("package.json", r#"{"private": true, "workspaces": ["apps/*"]}"#),
                ("apps/api/package.json", r#"{"name": "@acme/api", "scripts": {"start": "prisma migrate reset -f"}}"#),
                ("apps/web/package.json", r#"{"name": "web", "scripts": {"start": "dropdb web"}}"#),
                ("apps/worker/package.json", r#"{"name": "worker", "scripts": {"start": "knex migrate:down"}}"#),
            ],
            build.clone(),
            &["Dockerfile:4 CMD", "apps/api/package.json:1 \"start\""],
            "migrate reset",
        ),
        (
            "yarn workspace names the web package",
            vec![
                ("Dockerfile", "FROM node\nWORKDIR /repo\nCOPY . .\nCMD yarn workspace web start\n"),
                ("package.json", r#"{"private": true, "workspaces": {"packages": ["apps/*"]}}"#),
                ("apps/web/package.json", r#"{"name": "web", "scripts": {"start": "dropdb web"}}"#),
            ],
            build.clone(),
            &["Dockerfile:4 CMD", "apps/web/package.json:1 \"start\""],
            "dropdb",
        ),
        (
            "pnpm --filter a path, pnpm-workspace.yaml",
            vec![
                ("Dockerfile", "FROM node\nWORKDIR /repo\nCOPY . .\nCMD pnpm --filter ./apps/worker start\n"),
                ("package.json", r#"{"private": true}"#),
                ("pnpm-workspace.yaml", "packages:\n  - 'apps/*'\n"),
                ("apps/worker/package.json", r#"{"name": "worker", "scripts": {"start": "knex migrate:down"}}"#),
            ],
            build.clone(),
            &["Dockerfile:4 CMD", "apps/worker/package.json:1 \"start\""],
            "knex migrate:down",
        ),
        (
            "a compose build arg fills an ARG without default",
            vec![("Dockerfile", "ARG BASE=node\nFROM $BASE\nARG FLAGS\nRUN npx prisma db push $FLAGS\n")],
            Svc { build_args: &[("FLAGS", "--force-reset")], ..build.clone() },
            &["Dockerfile:4 RUN npx prisma db push $FLAGS"],
            "--force-reset",
        ),
        (
            "compose environment overrides the image's ENV",
            vec![("Dockerfile", "FROM x\nENV FLAGS=--skip-generate\nCMD npx prisma db push $FLAGS\n")],
            Svc { environment: &[("FLAGS", "--accept-data-loss")], ..build.clone() },
            &["Dockerfile:3 CMD"],
            "--accept-data-loss",
        ),
        (
            "a chain too deep to follow is refused, not admitted",
            deep_chain(),
            build.clone(),
            &["Dockerfile:2 CMD"],
            "stopped following",
        ),
    ]
}

/// s0.sh runs s1.sh ... runs s29.sh.
fn deep_chain() -> Vec<(&'static str, &'static str)> {
    let mut files = vec![("Dockerfile", "FROM x\nCMD sh s0.sh\n")];
    for i in 0..30 {
        let name: &'static str = Box::leak(format!("s{i}.sh").into_boxed_str());
        let body: &'static str = Box::leak(format!("sh s{}.sh\n", i + 1).into_boxed_str());
        files.push((name, body));
    }
    files
}

#[test]
fn refused() {
    let cases = refused_cases();
    assert!(cases.len() >= 15);
    for (name, files, svc, chain, why) in cases {
        let found = findings(&files, &svc);
        let hit = found.iter().find(|f| {
            let mut rest = f.place.as_str();
            chain.iter().all(|part| match rest.find(part) {
                Some(at) => {
                    rest = &rest[at + part.len()..];
                    true
                }
                None => false,
            }) && f.why.contains(why)
        });
        assert!(hit.is_some(), "{name}: expected chain {chain:?} and {why:?}, found {found:#?}");
        let hit = hit.unwrap();
        if std::env::var_os("PREFLIGHT_SHOW").is_some() {
            eprintln!("{name}\n  {hit}");
        }
        assert!(!hit.fix.is_empty(), "{name}: a finding says what to do");
    }
}

#[test]
fn passes() {
    let build = Svc::default();
    let cases: Vec<Trap> = vec![
        (
            "echo of the words",
            vec![("Dockerfile", "FROM x\nCMD echo \"never run prisma db push --accept-data-loss\" && node .\n")],
            build.clone(),
        ),
        (
            "a trailing comment",
            vec![("Dockerfile", "FROM x\nCMD node . # prisma db push --accept-data-loss\n")],
            build.clone(),
        ),
        (
            "printf of the words",
            vec![("Dockerfile", "FROM x\nRUN printf '%s\\n' 'dropdb app' 'prisma migrate reset'\n")],
            build.clone(),
        ),
        (
            "a heredoc that only prints",
            vec![
                ("Dockerfile", "FROM x\nCOPY s.sh /s.sh\nCMD [\"sh\", \"/s.sh\"]\n"),
                ("s.sh", "cat <<EOF\nnever: prisma db push --accept-data-loss\nDROP TABLE x;\nEOF\nnode .\n"),
            ],
            build.clone(),
        ),
        (
            "a comment inside a continued RUN (sh comment swallows the rest)",
            vec![("Dockerfile", "FROM x\nRUN npm ci # then maybe \\\n  npx prisma db push --accept-data-loss\n")],
            build.clone(),
        ),
        (
            "a Dockerfile comment line",
            vec![("Dockerfile", "FROM x\n# RUN npx prisma migrate reset\nCMD npx prisma migrate deploy && node .\n")],
            build.clone(),
        ),
        (
            "exec form does not expand variables",
            vec![("Dockerfile", "FROM x\nENV F=--accept-data-loss\nCMD [\"prisma\", \"db\", \"push\", \"$F\"]\n")],
            build.clone(),
        ),
        (
            "safe scripts all the way down",
            vec![
                ("Dockerfile", DF_NPM_START),
                ("package.json", PKG_BOOT),
                (
                    "scripts/boot.sh",
                    "#!/bin/sh\nnpx prisma migrate deploy\npsql -c 'SELECT 1'\ndelete_me=1\nexec node dist/main.js\n",
                ),
            ],
            build.clone(),
        ),
        (
            "psql with a bounded DELETE and pg_restore without --clean",
            vec![(
                "Dockerfile",
                "FROM x\nCMD psql -c \"DELETE FROM sessions WHERE expires < now()\" && pg_restore -d app seed.dump\n",
            )],
            build.clone(),
        ),
        (
            "a variable named like a flag, unset",
            vec![("Dockerfile", "FROM x\nCMD npx prisma db push $MAYBE_FLAGS\n")],
            build.clone(),
        ),
        (
            "a Makefile target that is not run",
            vec![
                ("Dockerfile", "FROM x\nWORKDIR /app\nCOPY . .\nCMD make serve\n"),
                ("Makefile", "serve:\n\tnode .\nreset:\n\tnpx prisma migrate reset\n"),
            ],
            build.clone(),
        ),
        (
            "a package's entry point that generates",
            vec![("Dockerfile", "FROM x\nCMD node node_modules/prisma/build/index.js generate && node .\n")],
            build.clone(),
        ),
        (
            "cd into a folder whose script is safe",
            vec![
                (
                    "Dockerfile",
                    "FROM x\nCOPY ops /opt/ops\nCOPY bad.sh /opt/boot.sh\nCMD cd /opt/ops && sh ./boot.sh\n",
                ),
                ("ops/boot.sh", "node .\n"),
                ("bad.sh", "dropdb app\n"),
            ],
            build.clone(),
        ),
        (
            "program code that only looks alike",
            vec![
                ("Dockerfile", "FROM node\nWORKDIR /app\nCOPY . .\nCMD [\"node\", \"main.js\"]\n"),
                ("main.js", "const s = _.truncate(title, { length: 10 });\n// prisma migrate reset is for dev\nrequire('./x');\n"),
            ],
            build.clone(),
        ),
        ("an ARG is not in the container's environment", vec![("Dockerfile", "FROM x\nARG F=--accept-data-loss\nCMD npx prisma db push $F\n")], build.clone()),
        ("prisma help screens", vec![("Dockerfile", "FROM x\nRUN npx prisma migrate --help && npx prisma db -h && npx prisma --version\n")], build.clone()),
        (
            "a script not run by anything",
            vec![
                ("Dockerfile", "FROM x\nCOPY . /app\nCMD node /app/main.js\n"),
                ("dev-reset.sh", "npx prisma migrate reset --force\n"),
            ],
            build.clone(),
        ),
    ];
    for (name, files, svc) in cases {
        let found = findings(&files, &svc);
        assert!(found.is_empty(), "{name}: expected no finding, found {found:#?}");
    }
}

#[test]
fn through_real_compose() {
    use compose::Flavor;
    for flavor in [Flavor::V2, Flavor::V1] {
        if !flavor.available() {
            continue;
        }
        let stack = testbench::Stack::with_demo_copy("preflight", flavor, |root| {
            let api = root.join("demo/api");
            let dockerfile = std::fs::read_to_string(api.join("Dockerfile")).unwrap();
            std::fs::write(
                api.join("Dockerfile"),
                format!("{dockerfile}WORKDIR /app\nCOPY . .\n# old: \\\nCMD [\"npm\", \"start\"]\n"),
            )
            .unwrap();
            std::fs::write(api.join("package.json"), PKG_BOOT).unwrap();
            std::fs::create_dir_all(api.join("scripts")).unwrap();
            std::fs::write(api.join("scripts/boot.sh"), "#!/bin/sh\nset -e\nnpx prisma db push $PUSH_FLAGS\n").unwrap();
            let file = root.join("demo/docker-compose.prod.yml");
            let compose = std::fs::read_to_string(&file).unwrap();
            let edited = compose.replacen(
                "      DATABASE_HOST: postgres\n",
                "      DATABASE_HOST: postgres\n      PUSH_FLAGS: \"--skip-generate --accept-data-loss\"\n",
                1,
            );
            assert_ne!(compose, edited, "the demo's api service has an environment block");
            std::fs::write(&file, edited).unwrap();
        });
        let definitions = stack.compose.definitions().expect("compose config");
        let api: Vec<_> = definitions.into_iter().filter(|d| d.name == "api").collect();
        assert_eq!(api.len(), 1);
        assert_eq!(
            api[0].environment.get("PUSH_FLAGS").map(String::as_str),
            Some("--skip-generate --accept-data-loss")
        );
        let found = preflight::scan_services(&api, &stack.env.compose_files());
        assert!(
            found
                .iter()
                .any(|f| f.place.contains("CMD [\"npm\", \"start\"] → package.json:4 \"start\" → scripts/boot.sh:3")
                    && f.why.contains("--accept-data-loss")),
            "{flavor:?}: {found:#?}"
        );
    }
}

#[test]
fn a_compose_command_is_named_by_its_line() {
    let compose = "services:\n  web:\n    command: node .\n  api:\n    image: x\n    # comment\n    command: [\"npx\", \"prisma\", \"migrate\", \"reset\"]\n";
    let project = Project::new(&[("Dockerfile", "FROM x\n"), ("docker-compose.yml", compose)]);
    let svc = Svc { command: Some(&["npx", "prisma", "migrate", "reset"]), ..Default::default() };
    let found =
        preflight::scan_services(&[definition(&project.root, &svc)], &[project.root.join("docker-compose.yml")]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].place.contains("docker-compose.yml:7 service `api` command: npx prisma migrate reset"),
        "{found:#?}"
    );
}
