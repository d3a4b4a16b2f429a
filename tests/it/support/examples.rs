//! *The example directory* (the convention `src/cli/help.rs` documents for every `--help`
//! example): a copy of `manifests/example` with three encrypted keys and their password files
//! (`provider`, `release`, `officer`), the provider's signature on the policy, a `trust.toml`
//! pinning all three, and `acme-7b-1.0.0.airlock.tar.zst` packed from `acme-7b.toml`. Built once
//! per test process and copied for each user, so every example runs in a fresh directory.
use super::common::{airlock_path, assert_exit, describe};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the tree `from` into `to` (created), files and directories only.
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

/// A shell command run in `dir` with the built `airlock` first on PATH and a state directory of
/// its own (so `unpack` never touches /var/lib/airlock).
pub fn shell(dir: &Path, script: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args(["-o", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path_with_airlock())
        .env("AIRLOCK_STATE_DIR", dir.join(".airlock-state"))
        .env("COLUMNS", "100")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("NO_COLOR");
    cmd
}

/// PATH with the directory of the binary under test first.
pub fn path_with_airlock() -> std::ffi::OsString {
    let bin = airlock_path();
    let mut paths = vec![bin.parent().unwrap().to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

fn ok(dir: &Path, script: &str) -> Output {
    let out = shell(dir, script).output().unwrap();
    assert_exit(&out, 0);
    out
}

fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("airlock-example-")
            .tempdir()
            .unwrap()
            .keep();
        copy_tree(&repo().join("manifests/example"), &dir);
        for who in ["provider", "release", "officer"] {
            fs::write(dir.join(format!("{who}.pw")), format!("password of {who}\n")).unwrap();
            ok(
                &dir,
                &format!("airlock keygen --out {who} --password-file {who}.pw -q"),
            );
        }
        ok(
            &dir,
            "airlock sign-policy policy/policy.toml --key provider.key --password-file provider.pw -q",
        );
        let line = |who: &str| {
            let text = fs::read_to_string(dir.join(format!("{who}.pub"))).unwrap();
            text.lines().last().unwrap().to_string()
        };
        fs::write(
            dir.join("trust.toml"),
            format!(
                "site = \"aws-secret\"\n\n[roles.release]\nthreshold = 1\nkeys = [\"{}\"]\n\n[roles.policy]\nthreshold = 1\nkeys = [\"{}\"]\n\n[roles.transfer]\nthreshold = 0\nkeys = [\"{}\"]\n",
                line("release"),
                line("provider"),
                line("officer")
            ),
        )
        .unwrap();
        let out = ok(
            &dir,
            "SOURCE_DATE_EPOCH=$(date +%s) airlock pack acme-7b.toml --key release.key --password-file release.pw -q",
        );
        assert!(
            dir.join("acme-7b-1.0.0.airlock.tar.zst").is_file(),
            "{}",
            describe(&out)
        );
        dir
    })
}

/// A fresh copy of the example directory (removed when the returned guard drops).
pub fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("airlock-examples-")
        .tempdir()
        .unwrap();
    copy_tree(template(), dir.path());
    dir
}
