//! The Python tools the interoperability tests run against, in one virtual environment:
//! pyca/cryptography (an independent ML-DSA-87 implementation) with `cryptography-vectors` (the
//! FIPS 204 known-answer tests it ships), the real `model_signing` CLI (PyPI `model-signing`, with
//! `pyopenssl`), the CycloneDX reference validator (`cyclonedx-python-lib[json-validation]`) and
//! the strict ModelPack reader `modelpack-client` (with `jsonschema`) of the OCI tests.
//!
//! The venv is `$AIRLOCK_TEST_VENV` when set, else `target/test-venv`; the tests create it
//! there themselves, once, with `python3 -m venv` and `pip install` from PyPI. A marker file in it
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

/// Written into the venv once pip has finished, holding the package list it was built from: a
/// venv cannot be moved (its scripts name its path), so it is built in place, and one without the
/// marker, or with another list, is rebuilt.
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

/// The marker's text: the venv's own path (a venv moved or copied from elsewhere has scripts
/// naming another path, so it is rebuilt) and the package list.
fn wanted(venv: &Path) -> String {
    format!("{}\n{}\n", venv.display(), PACKAGES.join("\n"))
}

fn has_tools(venv: &Path) -> bool {
    venv.join("bin/model_signing").is_file() && venv.join("bin/python").is_file()
}

/// The venv with every package of [`PACKAGES`], created on first use.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        // $AIRLOCK_TEST_VENV only chooses where the venv lives; what it holds is checked (and
        // rebuilt) the same way wherever it is.
        let venv = match std::env::var_os("AIRLOCK_TEST_VENV") {
            Some(v) => PathBuf::from(v),
            None => Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("the target tmp dir has a parent")
                .join("test-venv"),
        };
        if has_tools(&venv)
            && std::fs::read_to_string(venv.join(MARKER)).is_ok_and(|t| t == wanted(&venv))
        {
            return venv;
        }
        let _ = std::fs::remove_dir_all(&venv);
        run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run_ok(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(PACKAGES),
        );
        std::fs::write(venv.join(MARKER), wanted(&venv)).expect("mark the venv complete");
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

/// `model_signing ARGS...` from the venv.
pub fn model_signing() -> Command {
    Command::new(venv().join("bin/model_signing"))
}

/// `model_signing sign key MODEL --private_key KEY --signature SIG EXTRA...`. The CLI prints a
/// failure but exits 0, so the signature file's appearance is the success criterion.
pub fn oms_sign(model: &Path, key: &Path, sig: &Path, extra: &[&str]) {
    let _ = std::fs::remove_file(sig);
    let out = model_signing()
        .args(["sign", "key"])
        .arg(model)
        .arg("--private_key")
        .arg(key)
        .arg("--signature")
        .arg(sig)
        .args(extra)
        .output()
        .expect("run model_signing");
    assert!(
        sig.is_file(),
        "model_signing sign key wrote no signature: {}",
        text(&out)
    );
}

/// `model_signing verify key MODEL --signature SIG --public_key PUB`: (accepted, output).
pub fn oms_verify(model: &Path, sig: &Path, public: &Path) -> (bool, String) {
    let out = model_signing()
        .args(["verify", "key"])
        .arg(model)
        .arg("--signature")
        .arg(sig)
        .arg("--public_key")
        .arg(public)
        .output()
        .expect("run model_signing");
    (out.status.success(), text(&out))
}

/// A provider key pair made as `model-signing` users make them: `DIR/NAME.pem` (private) and
/// `DIR/NAME.pub` (SubjectPublicKeyInfo PEM), for `curve` `prime256v1` or `secp384r1`.
pub struct ProviderKey {
    /// The private key.
    pub pem: PathBuf,
    /// The public key file.
    pub public: PathBuf,
}

impl ProviderKey {
    /// Generates the pair with the `openssl` CLI.
    pub fn generate(dir: &Path, name: &str, curve: &str) -> ProviderKey {
        let pem = dir.join(format!("{name}.pem"));
        let public = dir.join(format!("{name}.pub"));
        run_ok(
            Command::new("openssl")
                .args(["ecparam", "-genkey", "-name", curve, "-noout", "-out"])
                .arg(&pem),
        );
        run_ok(
            Command::new("openssl")
                .args(["ec", "-pubout", "-in"])
                .arg(&pem)
                .arg("-out")
                .arg(&public),
        );
        ProviderKey { pem, public }
    }

    /// The base64 body of the `.pub` file: what `oms_keys` lists.
    pub fn base64(&self) -> String {
        std::fs::read_to_string(&self.public)
            .expect("read the public key")
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }
}

/// Runs the reference validator once over `good` and `bad` BOM files and asserts that every good
/// one is valid CycloneDX 1.6 and every bad one is reported invalid (one Python start for all:
/// importing the validator takes seconds).
pub fn validate_boms(good: &[PathBuf], bad: &[PathBuf]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/cdx_validate.py");
    let out = Command::new(venv().join("bin/python"))
        .arg(&script)
        .args(good)
        .args(bad)
        .output()
        .expect("run the CycloneDX validator");
    let t = text(&out);
    for p in good {
        assert!(
            t.contains(&format!("{}: valid CycloneDX 1.6", p.display())),
            "{} is not a valid CycloneDX 1.6 BOM:\n{t}",
            p.display()
        );
    }
    for p in bad {
        assert!(
            t.contains(&format!("{}: INVALID", p.display())),
            "the validator did not refuse {}:\n{t}",
            p.display()
        );
    }
    assert_eq!(
        out.status.code(),
        Some(if bad.is_empty() { 0 } else { 1 }),
        "validator exit status:\n{t}"
    );
}
