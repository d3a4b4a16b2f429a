//! The Python tools the interoperability tests run against, in one virtual environment:
//! pyca/cryptography (an independent ML-DSA-87 implementation) with `cryptography-vectors` (the
//! FIPS 204 known-answer tests it ships), the real `model_signing` CLI (PyPI `model-signing`, with
//! `pyopenssl`), the CycloneDX reference validator (`cyclonedx-python-lib[json-validation]`) and
//! the strict ModelPack reader `modelpack-client` (with `jsonschema`) of the OCI tests.
//!
//! The venv is `$AIRLOCK_TEST_VENV` when set; else the tests create `target/test-venv`
//! themselves, once, with `python3 -m venv` and `pip install` from PyPI. A marker file in the venv
//! records the package list it was built from, so a changed list rebuilds it. Nothing is skipped:
//! a machine that cannot create the venv fails these tests, with the command that failed.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The packages the venv holds, pinned to the versions the notes were checked against.
/// `cryptography` 48.0.1 is the first PyPI release whose wheels enable ML-DSA.
/// `modelpack-client` 0.1.0 is the strict ModelPack reader of the OCI tests (it pulls `oras` and
/// `jsonschema`, which also validates exported configs against model-spec's schemas).
pub const PACKAGES: [&str; 6] = [
    "cryptography>=48.0.1",
    "cryptography-vectors==50.0.2",
    "model-signing==1.1.1",
    "pyopenssl",
    "cyclonedx-python-lib[json-validation]==11.12.0",
    "modelpack-client==0.1.0",
];

const MARKER: &str = "airlock-test-packages.txt";

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Both output streams as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn wanted() -> String {
    PACKAGES.join("\n") + "\n"
}

fn is_current(venv: &Path) -> bool {
    venv.join("bin/python").is_file()
        && std::fs::read_to_string(venv.join(MARKER)).is_ok_and(|t| t == wanted())
}

/// The venv, created on first use.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = match std::env::var_os("AIRLOCK_TEST_VENV") {
            Some(v) => PathBuf::from(v),
            None => Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("the target tmp dir has a parent")
                .join("test-venv"),
        };
        if is_current(&venv) {
            return venv;
        }
        // Built beside, then renamed, so an interrupted install is never taken for a good one.
        let partial = venv.with_file_name(format!(
            "{}.partial-{}",
            venv.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&partial);
        run_ok(Command::new("python3").args(["-m", "venv"]).arg(&partial));
        run_ok(
            Command::new(partial.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(PACKAGES),
        );
        std::fs::write(partial.join(MARKER), wanted()).expect("write the venv marker");
        let _ = std::fs::remove_dir_all(&venv);
        std::fs::rename(&partial, &venv).expect("move the new venv into place");
        venv
    })
}

/// The venv's `python`.
pub fn python() -> Command {
    Command::new(venv().join("bin/python"))
}

/// Runs `script` with the venv's python and `args`; returns (success, output text).
pub fn python_script(script: &str, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = python()
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run the venv's python");
    (out.status.success(), text(&out))
}

/// A `PATH` with the venv's `bin/` first, so a recipe's `python3` is the venv's.
pub fn path_with_venv() -> std::ffi::OsString {
    let mut dirs = vec![venv().join("bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries join")
}

/// The directory `cryptography_vectors` installed its vectors in.
pub fn vectors_dir() -> PathBuf {
    let (ok, out) = python_script(
        "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))",
        &[],
    );
    assert!(ok, "cryptography_vectors is not importable: {out}");
    PathBuf::from(out.trim())
}
