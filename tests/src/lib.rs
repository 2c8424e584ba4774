//! Test harness: start the real `cubby` binary on a free port with a fresh data dir, wait until
//! it answers, and kill it (gracefully or with SIGKILL) on demand.
//!
//! Test servers start **empty**: they are given an empty `--config`, so the embedded seed setup
//! (bucket `uploads`, a user pool, an identity pool, two roles) does not exist and tests see
//! exactly what they create. [`Server::start_seeded`] starts one with the default setup, as
//! `cubby serve` without `--config` does.
#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Root credentials every test server is started with.
pub const ROOT_KEY: &str = "AKIATESTROOT0000000";
/// Root secret.
pub const ROOT_SECRET: &str = "testrootsecretkey0000000000000000000000";

/// Path of the `cubby` binary under test: `$CUBBY_BIN`, else the workspace's debug build.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("CUBBY_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for profile in ["debug", "release"] {
        let p = root.join("target").join(profile).join("cubby");
        if p.exists() {
            return p;
        }
    }
    panic!("cubby binary not found: run `cargo build -p cubby` or set CUBBY_BIN");
}

/// Whether this system shows its TCP sockets under `/proc` (Linux does).
fn proc_sockets_readable() -> bool {
    Path::new("/proc/net/tcp").exists() && Path::new("/proc/self/fd").exists()
}

/// TCP ports the process `pid` listens on, read from `/proc` (its socket inodes matched
/// against the kernel's LISTEN table). Empty when the process is gone or has no listener.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: std::collections::HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_str()?;
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(&"0A"), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            if inodes.contains(*inode)
                && let Some(port) = local
                    .rsplit_once(':')
                    .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
            {
                ports.push(port);
            }
        }
    }
    ports
}

/// A free TCP port on 127.0.0.1 (for listeners a test runs itself; servers started through
/// [`Server`] let the kernel pick theirs).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A running server process.
pub struct Server {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    /// Port.
    pub port: u16,
    /// Data directory (kept across restarts).
    pub data_dir: PathBuf,
    extra_env: Vec<(String, String)>,
    extra_args: Vec<String>,
}

/// Extra arguments that make a server start with nothing set up.
fn empty_config_args(dir: &Path) -> Vec<String> {
    let path = dir.join("empty-cubby.toml");
    std::fs::write(&path, "# nothing: tests create what they use\n").expect("empty config");
    vec!["--config".into(), path.display().to_string()]
}

impl Server {
    /// Start on a fresh data dir.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Start with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Self::start_full(env, &[])
    }

    /// Start with extra environment variables and extra `serve` arguments.
    pub fn start_full(env: &[(&str, &str)], args: &[&str]) -> Server {
        let dir = Self::fresh_dir();
        let mut all = args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        if !args.contains(&"--config") {
            all.extend(empty_config_args(&dir));
        }
        Self::start_in(dir, env, all)
    }

    /// Start with the embedded default setup (no `--config`), and wait until it is applied.
    pub fn start_seeded() -> Server {
        Self::start_seeded_with(&[], &[])
    }

    /// [`Server::start_seeded`] with extra environment variables and `serve` arguments.
    pub fn start_seeded_with(env: &[(&str, &str)], args: &[&str]) -> Server {
        let args = args.iter().map(|a| a.to_string()).collect();
        let s = Self::start_in(Self::fresh_dir(), env, args);
        s.wait_ready();
        s
    }

    fn fresh_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cubby-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("data dir");
        dir
    }

    fn start_in(dir: PathBuf, env: &[(&str, &str)], args: Vec<String>) -> Server {
        let mut s = Server {
            child: None,
            endpoint: String::new(),
            port: 0,
            data_dir: dir,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra_args: args,
        };
        s.spawn();
        s
    }

    /// Start on a port the kernel picks (`--listen 127.0.0.1:0`): no other process or test
    /// can take the port between choosing it and binding it.
    fn spawn(&mut self) {
        // Without /proc's socket tables the kernel-picked port cannot be found: fall back to
        // choosing one first (racy between tests, but works everywhere).
        let port = if proc_sockets_readable() {
            0
        } else {
            free_port()
        };
        self.spawn_on(port);
    }

    /// Start listening on `port` (0: any free port), and wait until the spawned process
    /// itself listens and serves — not merely until something answers on the port.
    fn spawn_on(&mut self, port: u16) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("server.log"))
            .expect("log file");
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env("CUBBY_ROOT_ACCESS_KEY_ID", ROOT_KEY)
            .env("CUBBY_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("CUBBY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn cubby");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // The listener is bound before start-up work (migrations, the blob sweep) ends:
            // only an HTTP answer says the server serves.
            let bound = if port != 0 && !proc_sockets_readable() {
                Some(port)
            } else {
                listening_ports(pid)
                    .into_iter()
                    .find(|p| port == 0 || *p == port)
            };
            if let Some(bound) = bound
                && http_status(bound, "/_cubby/health") == Some(200)
            {
                self.port = bound;
                self.endpoint = format!("http://127.0.0.1:{bound}");
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("cubby exited at start-up: {status}; log: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("cubby did not start listening; log: {}", self.log());
    }

    /// Wait (up to 30 s) until `/_cubby/ready` answers 200: the start-up configuration is
    /// applied. Panics with the log otherwise.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_status(self.port, "/_cubby/ready") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cubby did not become ready; log: {}", self.log());
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9` the process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            return c.wait().map(|s| s.success()).unwrap_or(false);
        }
        true
    }

    /// Start again on the same data dir (new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Start again on the same data dir and the same port (so URLs and token issuers that
    /// name the address stay valid) with new extra `serve` arguments — for settings that
    /// name resources created through the API.
    pub fn restart_with_args(&mut self, args: &[&str]) {
        self.kill9();
        let mut new_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        // Keep the configuration the server started with (an empty one for `start*`), so a
        // restart does not bring in the embedded seed setup.
        if !args.contains(&"--config")
            && let Some(i) = self.extra_args.iter().position(|a| a == "--config")
        {
            new_args.extend(self.extra_args[i..(i + 2).min(self.extra_args.len())].to_vec());
        }
        self.extra_args = new_args;
        let port = self.port;
        self.spawn_on(port);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::env::var_os("CUBBY_KEEP_TEST_DATA").is_none() {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// Status code of a plain `GET path` (std only, so the harness needs no HTTP client).
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}
