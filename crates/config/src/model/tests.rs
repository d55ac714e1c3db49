//! Unit tests: every configuration error, and the happy path.

use camino::Utf8PathBuf;

use crate::{Config, ConfigError, PgDumpLocation};

/// A temporary workspace root holding `compose.yml`, removed on drop.
struct Root(Utf8PathBuf);

impl Root {
    fn new(tag: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("drydock-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yml"), "services: {}\n").unwrap();
        Root(Utf8PathBuf::from_path_buf(dir).unwrap())
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const GOOD: &str = r#"
[workspace]
members = []
[workspace.metadata.deploy]
migrations = "db/migrations"
backups = "backups"

[workspace.metadata.deploy.environments.prod]
compose-files = ["compose.yml"]
project-name = "demo"
database-service = "postgres"
app-services = ["api", "web"]
"#;

#[test]
fn good_config_resolves_paths_and_defaults() {
    let root = Root::new("good");
    let config = Config::parse(&root.0, GOOD).unwrap();
    assert_eq!(config.migrations, root.0.join("db/migrations"));
    let env = config.environment("prod").unwrap();
    assert_eq!(env.compose_files, vec![root.0.join("compose.yml")]);
    assert_eq!(env.project_name.as_deref(), Some("demo"));
    assert_eq!(env.app_services.names(), ["api", "web"]);
    assert_eq!(env.pg_dump, PgDumpLocation::Container);
    assert_eq!(env.health_timeout_secs, 120);
    assert_eq!(env.configured_services(), ["postgres", "api", "web"]);
}

#[test]
fn unknown_environment_names_the_table_to_add() {
    let root = Root::new("unknown");
    let err = Config::parse(&root.0, GOOD).unwrap().environment("staging").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownEnvironment { .. }));
    let msg = err.to_string();
    assert!(msg.contains("[workspace.metadata.deploy.environments.staging]"), "{msg}");
    assert!(msg.contains("prod"), "{msg}");
}

#[test]
fn missing_compose_file_names_the_key() {
    let root = Root::new("missing");
    let text = GOOD.replace("compose.yml", "nope.yml");
    let err = Config::parse(&root.0, &text).unwrap().environment("prod").unwrap_err();
    assert_eq!(err, ConfigError::MissingComposeFile { env: "prod".into(), path: "nope.yml".into() });
    assert!(err.to_string().contains("compose-files"));
}

#[test]
fn database_among_app_services_is_refused() {
    let root = Root::new("dbapp");
    let text = GOOD.replace(r#"["api", "web"]"#, r#"["api", "postgres"]"#);
    let err = Config::parse(&root.0, &text).unwrap().environment("prod").unwrap_err();
    assert!(matches!(err, ConfigError::DatabaseIsAppService { .. }));
    assert!(err.to_string().contains("app-services"));
}

#[test]
fn service_absent_from_compose_is_named_with_its_key() {
    let root = Root::new("absent");
    let env = Config::parse(&root.0, GOOD).unwrap().environment("prod").unwrap();
    let defined = vec!["postgres".to_owned(), "api".to_owned()];
    let err = env.check_services_defined(&defined).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`web`") && msg.contains("app-services"), "{msg}");
    let err = env.check_services_defined(&["api".to_owned(), "web".to_owned()]).unwrap_err();
    assert!(err.to_string().contains("database-service"));
    env.check_services_defined(&["postgres".into(), "api".into(), "web".into()]).unwrap();
}

#[test]
fn missing_table_and_unknown_keys_are_refused() {
    let root = Root::new("table");
    let err = Config::parse(&root.0, "[workspace]\nmembers = []\n").unwrap_err();
    assert!(err.to_string().contains("workspace.metadata.deploy"));
    let err = Config::parse(&root.0, &GOOD.replace("app-services", "apps")).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
}

#[test]
fn empty_lists_are_refused() {
    let root = Root::new("empty");
    let text = GOOD.replace(r#"["api", "web"]"#, "[]");
    let err = Config::parse(&root.0, &text).unwrap().environment("prod").unwrap_err();
    assert!(err.to_string().contains("app-services"));
    let text = GOOD.replace(r#"["compose.yml"]"#, "[]");
    let err = Config::parse(&root.0, &text).unwrap().environment("prod").unwrap_err();
    assert!(err.to_string().contains("compose-files"));
}

#[test]
fn a_service_named_twice_is_refused() {
    let root = Root::new("twice");
    for list in [r#"["api", "api"]"#, r#"["api", "web", "api"]"#, r#"["web", "api", "web"]"#] {
        let text = GOOD.replace(r#"["api", "web"]"#, list);
        let err = Config::parse(&root.0, &text).unwrap().environment("prod").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("app-services") && msg.contains("named twice"), "{list}: {msg}");
    }
}

#[test]
fn app_services_never_name_the_database() {
    let root = Root::new("subset");
    let env = Config::parse(&root.0, GOOD).unwrap().environment("prod").unwrap();
    assert_eq!(env.app_services().names(), ["api", "web"]);
    assert_eq!(env.database_service(), "postgres");
}

#[test]
fn a_health_timeout_too_short_to_start_anything_is_refused() {
    let root = Root::new("health");
    let text =
        GOOD.replace("app-services = [\"api\", \"web\"]", "app-services = [\"api\", \"web\"]\nhealth-timeout = 1");
    let err = Config::parse(&root.0, &text).unwrap().environment("prod").unwrap_err();
    assert!(err.to_string().contains("health-timeout"), "{err}");
}
