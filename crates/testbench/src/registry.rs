//! `Registry`: a throwaway image registry on loopback (Debian's
//! `docker-registry`), for tests of pulled app services. The engine trusts
//! 127.0.0.0/8 without TLS, so no certificate is needed.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

/// A registry serving `127.0.0.1:<port>` from a temporary folder; on drop the
/// process is stopped, its storage and every local image of its address removed.
pub struct Registry {
    /// `127.0.0.1:<port>`, the prefix of image references it serves.
    pub address: String,
    dir: Utf8PathBuf,
    process: duct::Handle,
}

impl Registry {
    /// Starts `docker-registry serve` on a free loopback port and waits until it answers.
    pub fn start() -> Registry {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = format!("127.0.0.1:{port}");
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("drydock-registry-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
                dir.join("data")
            ),
        )
        .unwrap();
        let process = duct::cmd!("docker-registry", "serve", config.as_str())
            .stdout_null()
            .stderr_path(dir.join("registry.log"))
            .unchecked()
            .start()
            .expect(
                "start docker-registry: run the suite with `cargo xtask test`, which installs Debian's docker-registry",
            );
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&address).is_err() {
            if Instant::now() > deadline || process.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
                panic!("docker-registry did not answer on {address}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry { address, dir, process }
    }

    /// Builds `context` (with `BASE_IMAGE` from the test bench) as
    /// `<address>/<repo>:<tag>`, pushes it, removes the local tag, and returns
    /// the image reference and its id.
    pub fn push_built(&self, context: &camino::Utf8Path, repo: &str, tag: &str) -> (String, String) {
        let reference = format!("{}/{repo}:{tag}", self.address);
        let base = format!("BASE_IMAGE={}", std::env::var("BASE_IMAGE").unwrap_or_default());
        duct::cmd!("docker", "build", "-q", "--build-arg", base, "-t", &reference, context.as_str())
            .stdout_null()
            .stderr_capture()
            .run()
            .expect("docker build");
        let id = duct::cmd!("docker", "image", "inspect", "--format", "{{.Id}}", &reference).read().unwrap();
        duct::cmd!("docker", "push", "-q", &reference).stdout_null().stderr_capture().run().expect("docker push");
        duct::cmd!("docker", "rmi", &reference).stdout_null().stderr_null().run().expect("docker rmi");
        (reference, id.trim().to_owned())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let prefix = format!("{}/", self.address);
        let images: Vec<String> = duct::cmd!("docker", "images", "--format", "{{.Repository}}:{{.Tag}}")
            .stderr_null()
            .read()
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        if !images.is_empty() {
            let mut args = vec!["rmi".to_owned(), "-f".to_owned()];
            args.extend(images);
            let _ = duct::cmd("docker", args).stdout_null().stderr_null().run();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
