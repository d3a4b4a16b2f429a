//! The real parts of the OCI tests (`tests/it/oci.rs`): a throwaway CNCF distribution registry
//! (Debian's `docker-registry`, distribution 2.8), `skopeo`, `umoci`, and a Python with
//! `modelpack-client` (the strict ModelPack reader) and `jsonschema`.
//!
//! [`Registry::start`] serves on 127.0.0.1 and a free port with its storage in a fresh temporary
//! directory, and waits (at most 10 s) for `GET /v2/` to answer 200. Its lifetime is bounded
//! twice: `Drop` kills the server's process group (by its id) and reaps it, and the server runs
//! under `timeout -k 5 600`, so a test process that dies without running `Drop` still leaves no
//! server behind after ten minutes. Use one registry per test: skopeo skips blobs a registry
//! already has (a cross-repository mount through its blob-info cache) without reading the local
//! file, so a push to a shared registry can pass with a corrupt layout.
//!
//! skopeo always gets `--policy` with an accept-anything signature policy of its own, so nothing
//! depends on `/etc/containers/policy.json`. (skopeo 1.9 running as root still writes its blob-info
//! cache to `/var/lib/containers/cache/`; it has no flag to move it.)
//!
//! Tools: `AIRLOCK_TEST_DOCKER_REGISTRY`, `AIRLOCK_TEST_SKOPEO`, `AIRLOCK_TEST_UMOCI` override the
//! paths (default: `/usr/bin/…`, then `PATH`). The Python readers run in the shared test venv
//! (`support::pytools`: `$AIRLOCK_TEST_VENV`, else one the tests create from PyPI). A missing tool
//! fails the test with the command that installs it: CI must run these.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What installs the tools on Debian 12.
pub const INSTALL_HINT: &str = "apt-get install -y docker-registry skopeo umoci";

/// Per-command time cap for skopeo, umoci and Python runs, in seconds.
pub const TOOL_TIMEOUT_SECS: u64 = 300;

/// Finds a tool: `$ENV`, else `/usr/bin/NAME`, else on `PATH`; panics with the install hint.
pub fn tool(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} is not a file", p.display());
        return p;
    }
    let default = Path::new("/usr/bin").join(name);
    if default.is_file() {
        return default;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed; the OCI tests need it: run `{INSTALL_HINT}` (or set {env})")
        })
}

/// Runs `program args...` under `timeout -k 5 SECS`, so a hung tool cannot hang the suite.
pub fn run_tool(program: &Path, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("-k")
        .arg("5")
        .arg(TOOL_TIMEOUT_SECS.to_string())
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// Like [`run_tool`], asserting exit 0 and returning stdout.
pub fn run_ok(program: &Path, args: &[&str]) -> Vec<u8> {
    let out = run_tool(program, args);
    assert!(
        out.status.success(),
        "`{} {}` failed ({}):\n{}",
        program.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A running registry, killed (its whole process group) on drop.
pub struct Registry {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    /// Time from spawn to the first 200 on `/v2/`.
    pub startup: Duration,
}

impl Registry {
    /// Starts a registry on 127.0.0.1 and a free port. A port found free can be taken before the
    /// server binds it; that case ("address already in use") is retried with a new port.
    pub fn start() -> Registry {
        let exe = tool("docker-registry", "AIRLOCK_TEST_DOCKER_REGISTRY");
        let mut last = String::new();
        for _ in 0..5 {
            match Registry::try_start(&exe) {
                Ok(r) => return r,
                Err(log) if log.contains("address already in use") => last = log,
                Err(log) => panic!("the registry did not start:\n{log}"),
            }
        }
        panic!("the registry did not start after 5 ports:\n{last}");
    }

    fn try_start(exe: &Path) -> Result<Registry, String> {
        let dir = tempfile::Builder::new()
            .prefix("airlock-registry-")
            .tempdir()
            .unwrap();
        let port = {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        let config = dir.path().join("config.yml");
        // Warn-level log, no access log, filesystem storage, plain HTTP on loopback only.
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let start = Instant::now();
        let child = Command::new("timeout")
            .args(["-k", "5", "600"])
            .arg(exe)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: Drop kills `timeout` and the server together, by group id.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn timeout {}: {e}", exe.display()));
        let mut reg = Registry {
            child,
            addr,
            dir,
            startup: Duration::ZERO,
        };
        loop {
            if let Ok(Some(status)) = reg.child.try_wait() {
                return Err(format!(
                    "the server exited early ({status}):\n{}",
                    reg.log()
                ));
            }
            if probe_v2(addr) {
                reg.startup = start.elapsed();
                return Ok(reg);
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("no 200 from GET /v2/ within 10 s:\n{}", reg.log()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // The group id is our child's pid (process_group(0)); the child is not reaped yet, so the
        // id cannot have been reused. An error means the group is gone already.
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        let _ = self.child.wait();
    }
}

/// One `GET /v2/` over HTTP/1.0; true on a 200.
fn probe_v2(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok()
        && (&head[..9] == b"HTTP/1.1 " || &head[..9] == b"HTTP/1.0 ")
        && &head[9..12] == b"200"
}

/// skopeo with a private accept-anything signature policy.
pub struct Skopeo {
    exe: PathBuf,
    policy: PathBuf,
    _dir: tempfile::TempDir,
}

impl Skopeo {
    /// Finds skopeo and writes its policy.
    pub fn new() -> Skopeo {
        let exe = tool("skopeo", "AIRLOCK_TEST_SKOPEO");
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.json");
        std::fs::write(
            &policy,
            br#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        Skopeo {
            exe,
            policy,
            _dir: dir,
        }
    }

    /// `skopeo --policy P ARGS...`, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        let policy = self.policy.to_string_lossy().into_owned();
        let mut all = vec!["--policy", policy.as_str()];
        all.extend_from_slice(args);
        run_tool(&self.exe, &all)
    }

    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`skopeo {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Writes `DIR/skopeo`: this skopeo with its policy and a registries.conf that marks
    /// `registry` as plain HTTP, so commands written for a TLS registry (the README's) run
    /// unchanged against the test's. Put `DIR` first on `PATH`.
    pub fn wrapper(&self, dir: &Path, registry: &Registry) {
        let conf = dir.join("registries.conf");
        std::fs::write(
            &conf,
            format!(
                "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
                registry.addr()
            ),
        )
        .unwrap();
        // The policy beside it, so the wrapper outlives this value.
        let policy = dir.join("policy.json");
        std::fs::copy(&self.policy, &policy).unwrap();
        let script = dir.join("skopeo");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec {} --policy {} --registries-conf {} \"$@\"\n",
                self.exe.display(),
                policy.display(),
                conf.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `skopeo copy --preserve-digests oci:LAYOUT:REF docker://ADDR/REPO_TAG` (plain HTTP).
    /// `--preserve-digests` turns any manifest edit by skopeo into an error.
    pub fn push(&self, layout: &Path, layout_ref: &str, registry: &Registry, repo_tag: &str) {
        let src = oci_ref(layout, layout_ref);
        let dst = format!("docker://{}/{repo_tag}", registry.addr());
        self.ok(&[
            "copy",
            "--dest-tls-verify=false",
            "--preserve-digests",
            &src,
            &dst,
        ]);
    }

    /// `skopeo copy --preserve-digests docker://ADDR/REPO_TAG oci:LAYOUT:REF` (plain HTTP).
    pub fn pull(&self, registry: &Registry, repo_tag: &str, layout: &Path, layout_ref: &str) {
        let src = format!("docker://{}/{repo_tag}", registry.addr());
        let dst = oci_ref(layout, layout_ref);
        self.ok(&[
            "copy",
            "--src-tls-verify=false",
            "--preserve-digests",
            &src,
            &dst,
        ]);
    }

    /// `skopeo inspect --raw oci:LAYOUT:REF`: the manifest bytes (plain `inspect` fails on an
    /// artifact whose config is not an image config).
    pub fn inspect_raw(&self, layout: &Path, layout_ref: &str) -> Vec<u8> {
        self.ok(&["inspect", "--raw", &oci_ref(layout, layout_ref)])
    }

    /// `skopeo inspect --config --raw oci:LAYOUT:REF`: the config bytes.
    pub fn inspect_config_raw(&self, layout: &Path, layout_ref: &str) -> Vec<u8> {
        self.ok(&["inspect", "--config", "--raw", &oci_ref(layout, layout_ref)])
    }
}

/// `oci:PATH:REF`; skopeo splits at the first `:` after the path, so the path must not hold one.
pub fn oci_ref(layout: &Path, layout_ref: &str) -> String {
    let p = layout.to_string_lossy();
    assert!(!p.contains(':'), "layout path {p} contains ':'");
    format!("oci:{p}:{layout_ref}")
}

/// `umoci ls --layout DIR`: the tags umoci sees, sorted.
pub fn umoci_ls(layout: &Path) -> Vec<String> {
    let exe = tool("umoci", "AIRLOCK_TEST_UMOCI");
    let out = run_ok(&exe, &["ls", "--layout", &layout.to_string_lossy()]);
    let mut tags: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    tags.sort();
    tags
}

/// The Python of the shared test venv (`support::pytools`), which holds `modelpack-client` and
/// `jsonschema`.
pub fn python() -> PathBuf {
    crate::support::pytools::venv().join("bin/python")
}

/// Runs `tests/it/data/readers.py SUBCOMMAND ARGS...` with [`python`]; its one JSON line.
pub fn readers(args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/data/readers.py");
    let script = script.to_string_lossy().into_owned();
    let mut all = vec![script.as_str()];
    all.extend_from_slice(args);
    let out = run_ok(&python(), &all);
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "readers.py printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    })
}
