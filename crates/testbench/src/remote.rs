//! A second, real Docker engine reached through a real sshd: a container of
//! the local `remote-engine` image (Debian's `docker.io` and `openssh-server`)
//! running its own dockerd, for the `docker-host = "ssh://…"` tests.
//!
//! `--privileged` is refused on these machines (no CAP_SYS_RESOURCE), so the
//! container gets every other capability, no seccomp/apparmor profile, the
//! host's cgroup tree, and a host folder as its `/var/lib/docker` (overlay on
//! overlay fails). Its dockerd runs under a cgroup parent of its own.
//!
//! The ssh client is the system one, pointed at the engine by an `ssh` wrapper
//! in a folder of its own that adds `-F <config>` (a stand-in for the
//! operator's `~/.ssh/config`: host alias, key, no known-hosts prompt,
//! connection sharing); [`RemoteEngine::path_env`] puts it first on the drydock
//! process's `PATH`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

/// The image provisioning builds from `demo/images/remote-engine`.
pub const IMAGE: &str = "drydock-local/remote-engine:1";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A remote engine; removed with everything it holds on drop.
pub struct RemoteEngine {
    /// The container's name, also the ssh host alias: `ssh://<alias>`.
    pub alias: String,
    dir: Utf8PathBuf,
}

impl RemoteEngine {
    /// Starts the engine and its sshd, waits until `docker version` answers
    /// over ssh, and loads `images` from the local engine into it.
    pub fn start(images: &[&str]) -> RemoteEngine {
        crate::require_bench();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let alias = format!("ddt-remote-{}-{n}", std::process::id());
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(&alias);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docker")).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        duct::cmd!("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.join("id")).run().expect("ssh-keygen");
        let engine = RemoteEngine { alias: alias.clone(), dir: dir.clone() };
        let script = format!(
            "dockerd --cgroup-parent=/{alias} >/var/log/dockerd.log 2>&1 & exec /usr/sbin/sshd -D -e 2>/var/log/sshd.log"
        );
        duct::cmd(
            "docker",
            [
                "run",
                "-d",
                "--name",
                &alias,
                "--cap-add",
                "ALL",
                "--cap-drop",
                "SYS_RESOURCE",
                "--security-opt",
                "seccomp=unconfined",
                "--security-opt",
                "apparmor=unconfined",
                "-v",
                "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "-v",
                &format!("{dir}/docker:/var/lib/docker"),
                "-v",
                &format!("{dir}/id.pub:/root/.ssh/authorized_keys:ro"),
                IMAGE,
                "sh",
                "-c",
                &script,
            ],
        )
        .stdout_null()
        .run()
        .expect("docker run of the remote engine (provisioned by `cargo xtask test`)");
        let ip =
            duct::cmd!("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", &alias)
                .read()
                .unwrap();
        let ip = ip.split_whitespace().next().expect("the remote engine has an address").to_owned();
        std::fs::write(
            dir.join("config"),
            format!(
                "Host {alias}\n  HostName {ip}\n  User root\n  IdentityFile {dir}/id\n  IdentitiesOnly yes\n  \
                 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  \
                 ControlMaster auto\n  ControlPath {dir}/cm-%C\n  ControlPersist 30\n"
            ),
        )
        .unwrap();
        let wrapper = dir.join("bin/ssh");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec /usr/bin/ssh -F {dir}/config \"$@\"\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = engine
                .ssh(&["docker", "version", "--format", "{{.Server.Version}}"])
                .unchecked()
                .stderr_to_stdout()
                .stdout_capture()
                .run()
                .unwrap();
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the remote engine did not answer over ssh: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        if !images.is_empty() {
            let mut save = vec!["save"];
            save.extend_from_slice(images);
            duct::cmd("docker", save)
                .pipe(engine.ssh(&["docker", "load", "-q"]))
                .stdout_null()
                .run()
                .expect("docker save | ssh docker load");
        }
        engine
    }

    /// `ssh <alias> ARGS` through the wrapper.
    pub fn ssh(&self, args: &[&str]) -> duct::Expression {
        let mut argv = vec![self.alias.as_str()];
        argv.extend_from_slice(args);
        duct::cmd(self.dir.join("bin/ssh").into_std_path_buf(), argv)
    }

    /// `PATH` with [`RemoteEngine::bin_dir`] first.
    pub fn path_env(&self) -> String {
        format!("{}/bin:{}", self.dir, std::env::var("PATH").unwrap_or_default())
    }

    /// The `docker-host` value for this engine.
    pub fn docker_host(&self) -> String {
        format!("ssh://{}", self.alias)
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let _ = duct::cmd!(self.dir.join("bin/ssh").into_std_path_buf(), "-O", "exit", &self.alias)
            .stdout_null()
            .stderr_null()
            .unchecked()
            .run();
        let _ = duct::cmd!("docker", "rm", "-f", "-v", &self.alias).stdout_null().stderr_null().unchecked().run();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
