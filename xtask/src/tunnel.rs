//! SSH tunnels to a remote engine's database: with `docker-host = "ssh://…"`,
//! drydock reaches PostgreSQL at the database container's own address on the
//! remote host through a forward opened by the system `ssh` client (so
//! `~/.ssh/config`, known hosts and the agent apply; no secret is in its argv:
//! only the destination and two addresses). No port needs to be published.
//!
//! The tunnel lives exactly as long as this process, on every exit path: ssh
//! runs a remote `cat` that reads drydock's end of a pipe, so when drydock
//! exits (success, error, panic, signal, even SIGKILL) the kernel closes the
//! pipe, the remote command ends and ssh exits. ssh runs in its own process
//! group, so a Ctrl-C meant for drydock's graceful stop does not cut the
//! connection drydock needs to finish (a rollback, an outcome check). It never
//! shares a `ControlMaster` connection: a persisting master would keep the
//! forward open after drydock exits.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eyre::{eyre, Result};

/// One open forward: its local port and what keeps it open.
struct Open {
    key: String,
    port: u16,
    child: Child,
    stdin: ChildStdin,
}

/// Forwards opened by this process (reused for the same destination and target).
static OPEN: Mutex<Vec<Open>> = Mutex::new(Vec::new());

/// The parts of an `ssh://[user@]host[:port]` docker host.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    /// `user@host` or `host`, as ssh takes it.
    pub(crate) login: String,
    pub(crate) port: Option<u16>,
}

pub(crate) fn parse(docker_host: &str) -> Result<Destination> {
    let rest = docker_host
        .strip_prefix("ssh://")
        .ok_or_else(|| eyre!("`{docker_host}` is not an ssh:// docker-host"))?
        .trim_end_matches('/');
    let (login, port) = match rest.rsplit_once(':') {
        Some((login, port)) if !login.ends_with(']') || port.chars().all(|c| c.is_ascii_digit()) => {
            let port = port.parse().map_err(|_| eyre!("`{docker_host}`: `{port}` is not a port number"))?;
            (login, Some(port))
        }
        _ => (rest, None),
    };
    if login.is_empty() || login.starts_with('-') || login.contains(char::is_whitespace) {
        return Err(eyre!("`{docker_host}` names no usable SSH destination: write it as ssh://user@host[:port]"));
    }
    Ok(Destination { login: login.to_owned(), port })
}

/// A local port on 127.0.0.1 that forwards to `target` (an address on the
/// remote host's networks) through `docker_host`, opened once per process.
pub(crate) fn forward(docker_host: &str, target_host: &str, target_port: u16) -> Result<u16> {
    let dest = parse(docker_host)?;
    let key = format!("{docker_host} {target_host}:{target_port}");
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(o) = open.iter().find(|o| o.key == key) {
        return Ok(o.port);
    }
    // A free port now; ExitOnForwardFailure turns a lost race into a clear error.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
    let mut cmd = Command::new("ssh");
    // A connection of its own (never a shared ControlMaster): a persisting
    // master would keep the forward open after drydock exits.
    cmd.args(["-T", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15"])
        .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
        .arg("-L")
        .arg(format!("127.0.0.1:{port}:{target_host}:{target_port}"));
    if let Some(p) = dest.port {
        cmd.arg("-p").arg(p.to_string());
    }
    cmd.arg("--")
        .arg(&dest.login)
        .arg("cat >/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| eyre!("cannot run ssh to open a tunnel to {}: {e}: install an OpenSSH client", dest.login))?;
    let stdin = child.stdin.take().ok_or_else(|| eyre!("ssh has no stdin"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Some(status) = child.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(eyre!(
                "cannot open an SSH tunnel to {} ({status}): {}: check that `ssh {}` logs in without a prompt (a key in the agent or ~/.ssh/config)",
                dest.login,
                err.trim().lines().last().unwrap_or("no message"),
                dest.login
            ));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(eyre!("the SSH tunnel to {} did not open within 20 s: check `ssh {}`", dest.login, dest.login));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    open.push(Open { key, port, child, stdin });
    Ok(port)
}

/// Ends every forward this process opened and waits for each ssh to exit,
/// so no tunnel outlives a drydock command that returns (main calls it on
/// every return; an abnormal exit still ends them through the pipe).
pub(crate) fn close_all() {
    let open = std::mem::take(&mut *OPEN.lock().unwrap_or_else(|e| e.into_inner()));
    for Open { mut child, stdin, .. } in open {
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(
            parse("ssh://deploy@prod.example").unwrap(),
            Destination { login: "deploy@prod.example".into(), port: None }
        );
        assert_eq!(
            parse("ssh://root@10.0.0.2:2222").unwrap(),
            Destination { login: "root@10.0.0.2".into(), port: Some(2222) }
        );
        assert_eq!(parse("ssh://prod").unwrap(), Destination { login: "prod".into(), port: None });
        assert!(parse("ssh://-oProxyCommand=x").is_err(), "an option is never a destination");
        assert!(parse("ssh://").is_err());
        assert!(parse("tcp://h:2376").is_err());
        assert!(parse("ssh://h:port").is_err());
    }
}
