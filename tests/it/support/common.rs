//! Shared helpers for the end-to-end tests (`cli`, `interop`, `logistics`, `policy`, ...): run the
//! real `airlock` binary, make keys with it, write specs and trust files, build small example trees,
//! snapshot unpacked trees, corrupt bundles, and read bundles back through the library.
#![allow(dead_code)]

use airlock::container::bundle::OpenedBundle;
use airlock::format::Footer;
use airlock::format::manifest_frame::ManifestFrame;
use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

/// SOURCE_DATE_EPOCH for every pack: 2025-11-22T00:00:00Z.
pub const EPOCH: u64 = 1_763_769_600;
/// Expiry written into every test spec, far enough ahead that the tests keep working.
pub const EXPIRES: &str = "2098-01-01T00:00:00Z";
/// The receiving site of the test bundles.
pub const SITE: &str = "aws-secret";
/// What to run when a stock tool is missing.
pub const INSTALL_HINT: &str = "apt-get install -y zstd minisign";

/// The rollback state directory every command gets unless the test passes its own (with
/// `--state DIR` or `.env("AIRLOCK_STATE_DIR", DIR)`, as `Fixture` does): a path nothing can be
/// created in, so reads find no state and no test ever touches the machine's `/var/lib/airlock`
/// or leaves state behind; an unpack without its own state directory fails loudly (exit 3).
pub const NO_STATE: &str = "/proc/airlock-tests-pass-their-own-state-dir";

/// The `airlock` binary under test, with `AIRLOCK_STATE_DIR` set to `NO_STATE`.
pub fn airlock() -> Command {
    let mut cmd = Command::cargo_bin("airlock").expect("the airlock binary is built by cargo test");
    cmd.env("AIRLOCK_STATE_DIR", NO_STATE);
    cmd
}

/// The `airlock` binary with its own rollback state directory `state` and `SOURCE_DATE_EPOCH` set
/// to [`EPOCH`] (so every pack it runs is reproducible).
pub fn airlock_in(state: &Path) -> Command {
    let mut cmd = airlock();
    cmd.env("AIRLOCK_STATE_DIR", state)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string());
    cmd
}

/// Path of the `airlock` binary (for running it through `sh -c` or `bash -c`).
pub fn airlock_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock"))
}

/// Runs `cmd` and returns its output, whatever the exit status. A run with `--json` has its
/// stdout checked as one envelope against `docs/schema/v1/` ([`json`]), whatever the test then
/// looks at.
pub fn run(cmd: &mut Command) -> Output {
    let with_json = cmd.get_args().any(|a| a == "--json");
    let out = cmd.output().expect("the command can be started");
    if with_json {
        json(&out);
    }
    out
}

/// Describes an output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the exit code.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}, got {}",
        describe(out)
    );
}

/// Runs `cmd` and asserts its exit code; returns the output.
pub fn expect_exit(cmd: &mut Command, code: i32) -> Output {
    let out = run(cmd);
    assert_exit(&out, code);
    out
}

/// Runs `cmd` and asserts it succeeded; returns the output.
pub fn ok(cmd: &mut Command) -> Output {
    expect_exit(cmd, 0)
}

/// Runs `cmd`, asserts exit `code` and that stderr contains every one of `needles`; returns
/// stderr.
pub fn fails_with(cmd: &mut Command, code: i32, needles: &[&str]) -> String {
    let out = expect_exit(cmd, code);
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`:\n{}", describe(&out));
    }
    err
}

/// The process's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `--json` envelope on stdout: exactly one document, whose `ok` and `exit_code` agree with
/// the process's exit status, valid against the envelope schema and, on success, its command's
/// result schema (`support::schema`).
pub fn json(out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", describe(out)));
    super::schema::check_document(&doc);
    assert_eq!(doc["airlock"], 1, "envelope version: {doc}");
    assert!(doc["command"].is_string(), "envelope command: {doc}");
    let code = out.status.code().expect("exited");
    assert_eq!(doc["exit_code"], code, "envelope exit code: {doc}");
    assert_eq!(doc["ok"], code == 0, "envelope ok: {doc}");
    if code == 0 {
        assert!(doc["result"].is_object(), "envelope result: {doc}");
    } else {
        for field in ["check", "message", "hint"] {
            assert!(
                doc["error"][field].is_string(),
                "envelope error.{field}: {doc}"
            );
        }
    }
    doc
}

/// The `result` of a successful `--json` run.
pub fn result(out: &Output) -> Value {
    assert_exit(out, 0);
    json(out)["result"].clone()
}

/// The `error` of a failed `--json` run.
pub fn error(out: &Output) -> Value {
    let doc = json(out);
    assert_eq!(doc["ok"], false, "{doc}");
    doc["error"].clone()
}

/// Asserts a rejection (exit 1) by one of `checks`, both in the human message on stderr and, when
/// `--json` was given, in the JSON error document; returns the check name.
pub fn assert_rejected(out: &Output, checks: &[&str]) -> String {
    assert_exit(out, 1);
    let err = stderr(out);
    let named: Vec<&&str> = checks
        .iter()
        .filter(|c| err.contains(&format!("bundle rejected by the {c} check")))
        .collect();
    assert_eq!(
        named.len(),
        1,
        "stderr must name exactly one of the checks {checks:?}: {}",
        describe(out)
    );
    let check = named[0].to_string();
    if !out.stdout.is_empty() {
        let doc = json(out);
        assert_eq!(doc["ok"], Value::Bool(false), "{doc}");
        assert_eq!(doc["exit_code"], 1, "{doc}");
        assert_eq!(doc["error"]["check"], check.as_str(), "{doc}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|e| e.contains(check.as_str())),
            "{doc}"
        );
    }
    check
}

/// Writes `bytes` to `path` with permission bits `mode`, creating parent directories.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Deterministic pseudo-random bytes (xorshift64*), so large files do not compress away. The
/// first byte is `=`, so no file starts with a magic number the content gate refuses (ELF, PE,
/// pickle, archives: `docs/format.md` 8.4).
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    if let Some(first) = out.first_mut() {
        *first = b'=';
    }
    out
}

/// A well-formed safetensors file of exactly `total` bytes: one `U8` tensor of pseudo-random
/// data behind a JSON header padded to a multiple of 8, as the content gate requires.
pub fn safetensors(seed: u64, total: usize) -> Vec<u8> {
    let mut data_len = total - 8 - 64;
    loop {
        let mut header = format!(
            "{{\"weight\":{{\"dtype\":\"U8\",\"shape\":[{data_len}],\"data_offsets\":[0,{data_len}]}}}}"
        );
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let used = 8 + header.len() + data_len;
        if used == total {
            let mut out = (header.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(&pseudo_random(seed, data_len));
            return out;
        }
        data_len = data_len + total - used;
    }
}

/// A key pair made by `airlock keygen`.
#[derive(Debug, Clone)]
pub struct Key {
    /// `PREFIX.pub`.
    pub public: PathBuf,
    /// `PREFIX.key`.
    pub secret: PathBuf,
    /// The public key's base64 line (what trust.toml pins).
    pub base64: String,
    /// The key id, 16 upper-case hex digits.
    pub id: String,
}

/// Generates an unencrypted key pair `DIR/NAME.{pub,key}` with the binary.
pub fn keygen(dir: &Path, name: &str) -> Key {
    let prefix = dir.join(name);
    let out = run(airlock()
        .args(["keygen", "--unencrypted", "--json", "--out"])
        .arg(&prefix));
    assert_exit(&out, 0);
    let doc = json(&out);
    let key = Key {
        public: dir.join(format!("{name}.pub")),
        secret: dir.join(format!("{name}.key")),
        base64: doc["result"]["public_key"].as_str().unwrap().to_string(),
        id: doc["result"]["key_id"].as_str().unwrap().to_string(),
    };
    assert!(key.public.is_file() && key.secret.is_file());
    key
}

/// Generates an unencrypted ML-DSA-87 key pair `DIR/NAME.{pub,key}` with the binary; `base64`
/// is its trust-file line (`ml-dsa-87:...`).
pub fn keygen_ml_dsa(dir: &Path, name: &str) -> Key {
    let prefix = dir.join(name);
    let out = run(airlock()
        .args([
            "keygen",
            "--alg",
            "ml-dsa-87",
            "--unencrypted",
            "--json",
            "--out",
        ])
        .arg(&prefix));
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["result"]["algorithm"], "ml-dsa-87");
    Key {
        public: dir.join(format!("{name}.pub")),
        secret: dir.join(format!("{name}.key")),
        base64: doc["result"]["public_key"].as_str().unwrap().to_string(),
        id: doc["result"]["key_id"].as_str().unwrap().to_string(),
    }
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Writes a spec: `[bundle]` with the fixed expiry and `SITE`, and one `[[artifact]]` per
/// `(kind, name, path)` (paths relative to the spec).
pub fn write_spec(
    path: &Path,
    name: &str,
    version: &str,
    sequence: u64,
    artifacts: &[(&str, &str, &str)],
) {
    let mut text = format!(
        "[bundle]\nname = \"{name}\"\nversion = \"{version}\"\nsequence = {sequence}\ntarget = \"{SITE}\"\nexpires = \"{EXPIRES}\"\n"
    );
    for (kind, name, rel) in artifacts {
        text.push_str(&format!(
            "\n[[artifact]]\nkind = \"{kind}\"\nname = \"{name}\"\npath = \"{rel}\"\n"
        ));
    }
    write_file(path, text.as_bytes(), 0o644);
}

/// Writes a trust file for `site` with `(role, threshold, keys)` entries.
pub fn write_trust(path: &Path, site: &str, roles: &[(&str, usize, &[&Key])]) {
    let mut text = format!("site = \"{site}\"\n");
    for (role, threshold, keys) in roles {
        let keys: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.base64)).collect();
        text.push_str(&format!(
            "\n[roles.{role}]\nthreshold = {threshold}\nkeys = [{}]\n",
            keys.join(", ")
        ));
    }
    write_file(path, text.as_bytes(), 0o644);
}

/// `airlock pack SPEC --key KEY -o OUT` with SOURCE_DATE_EPOCH set, not yet run.
pub fn pack_cmd(spec: &Path, key: &Key, out: &Path) -> Command {
    let mut cmd = airlock();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .arg("pack")
        .arg(spec)
        .arg("--key")
        .arg(&key.secret)
        .arg("-o")
        .arg(out)
        .arg("--quiet");
    cmd
}

/// Packs and asserts success.
pub fn pack(spec: &Path, key: &Key, out: &Path) {
    assert_exit(&run(&mut pack_cmd(spec, key, out)), 0);
}

/// Builds the small example release below `root`: a model directory (config, tokenizer, a
/// 1.25 MiB safetensors file that gets its own frame, an executable 0755 launcher), a safeguard
/// config and a data file, plus the spec `root/acme-7b.toml`, which it returns. Three payload
/// frames. Every file passes the content gate (no `#!` scripts, valid safetensors header).
pub fn example_release(root: &Path, version: &str, sequence: u64) -> PathBuf {
    let m = root.join("models/acme-7b");
    write_file(
        &m.join("config.json"),
        format!("{{\"model_type\": \"llama\", \"version\": \"{version}\"}}\n").as_bytes(),
        0o644,
    );
    let tokenizer: String = (0..300).map(|i| format!("tok{i} ")).collect();
    write_file(&m.join("tokenizer.json"), tokenizer.as_bytes(), 0o644);
    write_file(
        &m.join("model.safetensors"),
        &safetensors(7, (1 << 20) + (1 << 18)),
        0o644,
    );
    write_file(&m.join("bin/serve"), b"serve --model .\n", 0o755);
    write_file(
        &root.join("safeguards/content-filter.toml"),
        b"[content_filter]\ncategories = [\"violence\", \"cbrn\"]\nstrength = \"high\"\n",
        0o644,
    );
    write_file(
        &root.join("notes/NOTES.md"),
        format!("# acme-7b {version}\n").as_bytes(),
        0o644,
    );
    let spec = root.join("acme-7b.toml");
    write_spec(
        &spec,
        "acme-7b",
        version,
        sequence,
        &[
            ("model", "acme-7b", "models/acme-7b"),
            (
                "safeguard",
                "content-filter",
                "safeguards/content-filter.toml",
            ),
            ("data", "release-notes", "notes/NOTES.md"),
        ],
    );
    spec
}

/// A temporary directory with the example release, a release key, a trust file pinning it for
/// `SITE`, and the packed bundle.
pub struct Fixture {
    /// Keeps the directory alive.
    pub tmp: tempfile::TempDir,
    /// The release key.
    pub key: Key,
    /// The spec.
    pub spec: PathBuf,
    /// The trust file.
    pub trust: PathBuf,
    /// The packed bundle.
    pub bundle: PathBuf,
    /// The receiving side's state directory (rollback protection) for verify and unpack.
    pub state: PathBuf,
}

impl Fixture {
    /// Builds and packs the example release.
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let key = keygen(dir, "release");
        let spec = example_release(&dir.join("src"), "1.0.0", 1);
        let trust = dir.join("trust.toml");
        write_trust(&trust, SITE, &[("release", 1, &[&key])]);
        let bundle = dir.join("acme-7b-1.0.0.airlock.tar.zst");
        pack(&spec, &key, &bundle);
        let state = dir.join("state");
        Fixture {
            tmp,
            key,
            spec,
            trust,
            bundle,
            state,
        }
    }

    /// A path in the fixture's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `airlock verify BUNDLE --trust TRUST --json EXTRA...`.
    pub fn verify(&self, bundle: &Path, trust: &Path, extra: &[&str]) -> Output {
        run(airlock()
            .env("AIRLOCK_STATE_DIR", &self.state)
            .arg("verify")
            .arg(bundle)
            .arg("--trust")
            .arg(trust)
            .arg("--json")
            .args(extra))
    }

    /// `airlock unpack BUNDLE --trust TRUST --dest DEST --json EXTRA...`.
    pub fn unpack(&self, bundle: &Path, trust: &Path, dest: &Path, extra: &[&str]) -> Output {
        run(airlock()
            .env("AIRLOCK_STATE_DIR", &self.state)
            .arg("unpack")
            .arg(bundle)
            .arg("--trust")
            .arg(trust)
            .arg("--dest")
            .arg(dest)
            .arg("--json")
            .args(extra))
    }

    /// Asserts that verify, verify --deep and unpack all refuse `bundle` with exit 1 by one of
    /// `checks` (the same one each time), that unpack leaves no destination and no staging
    /// directory behind, and returns the check.
    pub fn assert_refused(
        &self,
        bundle: &Path,
        trust: &Path,
        extra: &[&str],
        checks: &[&str],
    ) -> String {
        let check = assert_rejected(&self.verify(bundle, trust, extra), checks);
        let mut deep = vec!["--deep"];
        deep.extend_from_slice(extra);
        assert_eq!(
            assert_rejected(&self.verify(bundle, trust, &deep), checks),
            check
        );
        let parent = tempfile::tempdir_in(self.tmp.path()).unwrap();
        let dest = parent.path().join("installed");
        let out = self.unpack(bundle, trust, &dest, extra);
        assert_eq!(assert_rejected(&out, checks), check);
        assert!(
            !dest.exists(),
            "unpack left {} behind after a rejection",
            dest.display()
        );
        assert_no_staging(parent.path());
        check
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// Asserts that no staging directory (`.NAME.airlock-staging-*`) is left in `parent`.
pub fn assert_no_staging(parent: &Path) {
    let left: Vec<String> = fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("airlock-staging"))
        .collect();
    assert!(
        left.is_empty(),
        "staging directories left in {}: {left:?}",
        parent.display()
    );
}

/// Opens a bundle through the library (footer, manifest frame, manifest, signature forms).
pub fn open(bundle: &Path) -> OpenedBundle {
    airlock::container::bundle::open(bundle).unwrap_or_else(|e| panic!("{}: {e}", bundle.display()))
}

/// The payload bytes of a bundle: `[0, manifest_offset)`.
pub fn payload(bundle: &Path) -> Vec<u8> {
    let offset = open(bundle).footer.manifest_offset as usize;
    let mut bytes = fs::read(bundle).unwrap();
    bytes.truncate(offset);
    bytes
}

/// Flips every bit of the byte at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0xFF;
    fs::write(path, bytes).unwrap();
}

/// Copies `bundle` to `dst` with the manifest frame replaced by `edit`ed copy of its own (the
/// payload bytes stay as they are): a new manifest frame and footer, as an attacker would write.
pub fn rewrite_manifest_frame(bundle: &Path, dst: &Path, edit: impl FnOnce(&mut ManifestFrame)) {
    let opened = open(bundle);
    let mut frame = opened.frame.clone();
    edit(&mut frame);
    let compressed = frame
        .encode(opened.manifest.layout.zstd_level)
        .expect("the manifest frame compresses");
    let footer = Footer {
        manifest_offset: opened.footer.manifest_offset,
        manifest_len: compressed.len() as u64,
    };
    let mut out = payload(bundle);
    out.extend_from_slice(&compressed);
    out.extend_from_slice(&footer.encode());
    fs::File::create(dst).unwrap().write_all(&out).unwrap();
}

/// One entry of an unpacked tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `d` directory, `f` regular file, `l` symlink, `?` anything else.
    pub kind: char,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// mtime, seconds.
    pub mtime: i64,
    /// Size and sha256 (hex) of regular files.
    pub content: Option<(u64, String)>,
}

/// Every entry below `root` (the root itself as `""`), with type, mode, mtime and, for files,
/// size and sha256.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = entry.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_file() {
            'f'
        } else if ft.is_symlink() {
            'l'
        } else {
            '?'
        };
        out.insert(
            rel,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                mtime: meta.mtime(),
                content: ft.is_file().then(|| {
                    let bytes = fs::read(entry.path()).unwrap();
                    (
                        bytes.len() as u64,
                        airlock::format::digest::hex(&airlock::format::digest::sha256(&bytes)),
                    )
                }),
            },
        );
    }
    out
}

/// Regular files below `root` as relative path → (content, mode); panics on anything but
/// directories and regular files.
pub fn files_of(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    snapshot(root)
        .into_iter()
        .filter_map(|(rel, node)| match node.kind {
            'd' => None,
            'f' => Some((rel.clone(), (fs::read(root.join(&rel)).unwrap(), node.mode))),
            other => panic!("{rel} in {} has type {other}", root.display()),
        })
        .collect()
}

/// Finds `tool` on PATH, or fails the test saying how to install it.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` is not installed; the stock-tool tests need it: run `{INSTALL_HINT}`")
        })
}
