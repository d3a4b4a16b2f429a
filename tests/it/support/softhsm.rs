//! A private SoftHSM2 for the token tests: a temporary directory with its own `softhsm2.conf`,
//! token directory and PIN file, one initialised token, and a way to "pull the token out"
//! (delete the token directory). The airlock binary runs as a subprocess with `SOFTHSM2_CONF`
//! pointing at the private config ([`SoftHsm::airlock`]), so the test process's own environment
//! is never changed (that would need `unsafe` `set_var` and would leak into parallel tests).
//!
//! OpenSC's PKCS#11 spy module, used as the URI's `module-path`, forwards every call to SoftHSM2
//! and logs it ([`SoftHsm::spy_uri`], [`SoftHsm::spy_log`]): an outside count of `C_Login`
//! calls, and a way to see when airlock has logged in.
//!
//! Missing tools fail the test with the install command: CI installs them, so a skipped test
//! would only hide a broken setup. The test PINs go on `softhsm2-util`'s command line; that is
//! acceptable for throw-away test tokens only.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to install when a tool is missing.
pub const INSTALL: &str = "apt-get install -y softhsm2 opensc minisign";

const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
];

const SPY_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11-spy.so",
    "/usr/lib64/pkcs11-spy.so",
];

/// The fixture's user PIN.
pub const PIN: &str = "123456";
/// The fixture's security officer PIN.
pub const SO_PIN: &str = "12345678";
/// The token label.
pub const LABEL: &str = "airlock";

/// A private SoftHSM2 installation in a temporary directory, deleted on drop.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    module: PathBuf,
}

fn find(candidates: &[&str], what: &str) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{what} not found in {candidates:?}: run `{INSTALL}`"))
}

impl SoftHsm {
    /// A fixture with one token labelled `airlock`, user PIN [`PIN`].
    pub fn new() -> SoftHsm {
        let module = find(
            MODULE_CANDIDATES,
            "libsofthsm2.so (Debian package softhsm2)",
        );
        let dir = tempfile::Builder::new()
            .prefix("airlock-softhsm-")
            .tempdir()
            .unwrap();
        let hsm = SoftHsm { dir, module };
        std::fs::create_dir(hsm.token_dir()).unwrap();
        let conf = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            hsm.token_dir().display()
        );
        std::fs::write(hsm.conf_path(), conf).unwrap();
        super::common::write_file(&hsm.pin_file(), format!("{PIN}\n").as_bytes(), 0o600);
        let out = hsm.tool(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                LABEL,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ],
        );
        assert!(out.contains("has been initialized"), "softhsm2-util: {out}");
        hsm
    }

    /// The fixture's directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The private `softhsm2.conf`.
    pub fn conf_path(&self) -> PathBuf {
        self.root().join("softhsm2.conf")
    }

    /// `directories.tokendir`.
    pub fn token_dir(&self) -> PathBuf {
        self.root().join("tokens")
    }

    /// The SoftHSM2 module.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// A 0600 file holding the user PIN.
    pub fn pin_file(&self) -> PathBuf {
        self.root().join("pin")
    }

    /// `pkcs11:token=airlock;object=OBJECT?module-path=MODULE` (no PIN source).
    pub fn uri_bare(&self, object: &str) -> String {
        format!(
            "pkcs11:token={LABEL};object={object}?module-path={}",
            self.module.display()
        )
    }

    /// The URI with `pin-source=file:PINFILE`.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "{}&pin-source=file:{}",
            self.uri_bare(object),
            self.pin_file().display()
        )
    }

    /// The spy module (OpenSC's pkcs11-spy.so), which logs every call to [`SoftHsm::spy_log`].
    pub fn spy_module(&self) -> PathBuf {
        find(SPY_CANDIDATES, "pkcs11-spy.so (Debian package opensc)")
    }

    /// A URI that goes through the spy module (no PIN source).
    pub fn spy_uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={LABEL};object={object}?module-path={}",
            self.spy_module().display()
        )
    }

    /// Where the spy writes its log.
    pub fn spy_log(&self) -> PathBuf {
        self.root().join("pkcs11-spy.log")
    }

    /// How many `C_Login` calls the spy logged.
    pub fn spy_logins(&self) -> usize {
        std::fs::read_to_string(self.spy_log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("C_Login") && !l.contains("C_Logout"))
            .count()
    }

    /// The airlock binary with the fixture's environment (and the spy's, harmless otherwise);
    /// no stdin, so airlock can never prompt.
    pub fn airlock(&self) -> assert_cmd::Command {
        let mut c = super::common::airlock();
        c.env("SOFTHSM2_CONF", self.conf_path())
            .env("PKCS11SPY", &self.module)
            .env("PKCS11SPY_OUTPUT", self.spy_log());
        c
    }

    /// [`SoftHsm::airlock`] as a `std::process::Command`, for tests that spawn it and act while
    /// it runs.
    pub fn airlock_spawnable(&self) -> Command {
        let mut c = Command::new(super::common::airlock_path());
        c.env("SOFTHSM2_CONF", self.conf_path())
            .env("PKCS11SPY", &self.module)
            .env("PKCS11SPY_OUTPUT", self.spy_log())
            .stdin(Stdio::null());
        c
    }

    /// Runs a tool with the fixture's environment and returns its output; fails the test, saying
    /// what to install, if the tool is missing, and with its output if it fails.
    pub fn tool(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .env("SOFTHSM2_CONF", self.conf_path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {program} ({e}); is it installed? run `{INSTALL}`")
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{program} {args:?} failed: {text}");
        text
    }

    /// Lists the token's objects with OpenSC's pkcs11-tool (logged in).
    pub fn list_objects(&self) -> String {
        let module = self.module.display().to_string();
        self.tool(
            "pkcs11-tool",
            &[
                "--module",
                &module,
                "--token-label",
                LABEL,
                "--login",
                "--pin",
                PIN,
                "--list-objects",
            ],
        )
    }

    /// Deletes the whole token directory, as if the token had been pulled out.
    pub fn remove_token_dir(&self) {
        std::fs::remove_dir_all(self.token_dir()).unwrap();
    }
}
