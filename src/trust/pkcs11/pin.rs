//! Token PINs: where they may come from, and how they are held in memory.
//!
//! A PIN never comes from the command line. The sources, in the order [`resolve_pin`] applies
//! them, are:
//!
//! 1. a PIN file named by the caller (airlock's `--pin-file`),
//! 2. the URI's `pin-source=file:/ABSOLUTE/PATH`,
//! 3. a no-echo prompt on the controlling terminal (`/dev/tty`, not stdin, so a pipeline's
//!    input is never mistaken for a PIN), if the caller allows prompting.
//!
//! Giving both 1 and 2 is refused rather than silently preferring one: the two could name
//! different PINs, and every wrong PIN costs one of a smart card's few tries.
//!
//! PIN bytes are read into a pre-sized [`Zeroizing`] buffer (so no reallocation leaves a copy
//! behind), checked, and copied once into cryptoki's [`AuthPin`] (a `secrecy::SecretString`,
//! wiped on drop). The PIN is never formatted: [`Pin`]'s `Debug` prints `Pin(<redacted>)`.
use super::uri::TokenUri;
use cryptoki::types::AuthPin;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The largest PIN file accepted. PKCS#11 tokens take PINs of at most a few hundred bytes; a
/// larger file is almost certainly the wrong file.
pub const MAX_PIN_FILE_BYTES: u64 = 4096;

/// How the user authenticates to the token.
pub enum Pin {
    /// A PIN (or passphrase) sent with C_Login.
    Secret(AuthPin),
    /// The token has its own PIN pad or biometric reader (CKF_PROTECTED_AUTHENTICATION_PATH):
    /// C_Login is called with no PIN and the device asks the user itself.
    ProtectedAuthenticationPath,
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pin::Secret(_) => f.write_str("Pin(<redacted>)"),
            Pin::ProtectedAuthenticationPath => f.write_str("Pin(ProtectedAuthenticationPath)"),
        }
    }
}

/// Why no PIN could be obtained. Messages never contain PIN bytes.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The PIN file could not be opened or read.
    #[error("cannot read the PIN file {path}: {detail}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        detail: String,
    },
    /// The PIN file is not a regular file.
    #[error("the PIN file {path} is not a regular file")]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// Other users may read or write the PIN file.
    #[error("the PIN file {path} is accessible to other users (mode {mode:04o})")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The PIN file is larger than [`MAX_PIN_FILE_BYTES`].
    #[error(
        "the PIN file {path} is larger than {MAX_PIN_FILE_BYTES} bytes, so it is not a PIN file"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The PIN is empty.
    #[error("the PIN from {source_name} is empty")]
    Empty {
        /// "the PIN file /x" or "the terminal".
        source_name: String,
    },
    /// The PIN file holds more than one line, or a NUL byte.
    #[error(
        "the PIN file {path} holds more than one line (or a NUL byte); it must hold only the PIN, optionally followed by one newline"
    )]
    NotOneLine {
        /// The file.
        path: PathBuf,
    },
    /// The PIN is not UTF-8 (PKCS#11 PINs are CK_UTF8CHAR strings).
    #[error("the PIN from {source_name} is not UTF-8 text")]
    NotUtf8 {
        /// Where it came from.
        source_name: String,
    },
    /// Both a PIN file and the URI's pin-source were given.
    #[error("a PIN file ({pin_file}) and the URI's pin-source ({pin_source}) were both given")]
    Conflict {
        /// The caller's PIN file.
        pin_file: PathBuf,
        /// The URI's pin-source.
        pin_source: PathBuf,
    },
    /// No source was given and prompting is not allowed.
    #[error(
        "no PIN source: the URI has no pin-source, no PIN file was given, and prompting is off"
    )]
    NoSource,
    /// The terminal prompt failed (no controlling terminal, or reading failed).
    #[error("cannot prompt for the PIN on the terminal: {detail}")]
    Prompt {
        /// The I/O error.
        detail: String,
    },
}

impl PinError {
    /// What the user should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            PinError::Read { .. } => "check the path and that this user may read the file",
            PinError::NotAFile { .. } => {
                "point the PIN source at a regular file holding only the PIN"
            }
            PinError::Permissions { .. } => {
                "restrict the file to its owner (chmod 600 FILE): a PIN file others can read is a leaked PIN"
            }
            PinError::TooLarge { .. } | PinError::NotOneLine { .. } => {
                "check that the PIN source names the PIN file; it must hold the PIN and at most one trailing newline"
            }
            PinError::Empty { .. } => {
                "write the PIN into the file (printf '%s\\n' PIN > FILE), or type it at the prompt; \
                 an empty PIN is refused because sending it would use up one of the token's tries"
            }
            PinError::NotUtf8 { .. } => "PKCS#11 PINs are UTF-8 text; save the file as UTF-8",
            PinError::Conflict { .. } => {
                "give the PIN file either in the URI (pin-source=) or with the PIN-file option, not both"
            }
            PinError::NoSource => {
                "add ?pin-source=file:/ABSOLUTE/PATH to the URI, pass a PIN file, or run on a terminal so the PIN can be typed"
            }
            PinError::Prompt { .. } => {
                "run on a terminal, or give the PIN in a file (pin-source=file:/PATH or the PIN-file option)"
            }
        }
    }
}

impl Pin {
    /// A PIN typed or obtained by the caller. Empty PINs are refused.
    pub fn new(pin: Zeroizing<String>) -> Result<Pin, PinError> {
        if pin.is_empty() {
            return Err(PinError::Empty {
                source_name: "the caller".into(),
            });
        }
        Ok(Pin::Secret(AuthPin::new(Box::<str>::from(pin.as_str()))))
    }

    /// Reads a PIN file: the PIN, optionally followed by one `\n` or `\r\n`. The file must be a
    /// regular file of at most [`MAX_PIN_FILE_BYTES`] that other users cannot access.
    pub fn from_file(path: &Path) -> Result<Pin, PinError> {
        use std::os::unix::fs::PermissionsExt;
        let read_err = |e: std::io::Error| PinError::Read {
            path: path.to_owned(),
            detail: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        // fstat on the opened file: what is checked is what is read.
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(PinError::NotAFile {
                path: path.to_owned(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o007 != 0 {
            return Err(PinError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        if meta.len() > MAX_PIN_FILE_BYTES {
            return Err(PinError::TooLarge {
                path: path.to_owned(),
            });
        }
        // Capacity for the limit plus one byte: the buffer never grows, so it never leaves an
        // unwiped copy behind, and a file that grew after fstat is still caught.
        let cap = usize::try_from(MAX_PIN_FILE_BYTES + 1).unwrap_or(usize::MAX);
        let mut buf = Zeroizing::new(Vec::with_capacity(cap));
        file.take(MAX_PIN_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        if buf.len() as u64 > MAX_PIN_FILE_BYTES {
            return Err(PinError::TooLarge {
                path: path.to_owned(),
            });
        }
        let mut bytes: &[u8] = &buf;
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        if bytes.iter().any(|&b| matches!(b, b'\n' | b'\r' | 0)) {
            return Err(PinError::NotOneLine {
                path: path.to_owned(),
            });
        }
        let source_name = || format!("the PIN file {}", path.display());
        if bytes.is_empty() {
            return Err(PinError::Empty {
                source_name: source_name(),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| PinError::NotUtf8 {
            source_name: source_name(),
        })?;
        // Box<str>::from copies into an exactly-sized allocation owned by the secret.
        Ok(Pin::Secret(AuthPin::new(Box::<str>::from(text))))
    }

    /// For tokens with their own PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH).
    pub fn protected_authentication_path() -> Pin {
        Pin::ProtectedAuthenticationPath
    }
}

/// Prompts for a PIN on the controlling terminal without echo, and returns what was typed
/// (without the newline). Refuses an empty answer: sending an empty PIN would use up a try.
///
/// The prompt reads `/dev/tty`, never stdin, and fails with [`PinError::Prompt`] when the
/// process has no controlling terminal (CI, cron, `setsid`).
pub fn prompt_pin(label: &str) -> Result<Zeroizing<String>, PinError> {
    // Labels come from the URI or the token; keep control characters out of the terminal.
    let clean: String = label
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let pin = rpassword::prompt_password(format!("PIN for PKCS#11 token \"{clean}\": "))
        .map(Zeroizing::new)
        .map_err(|e| PinError::Prompt {
            detail: e.to_string(),
        })?;
    if pin.is_empty() {
        return Err(PinError::Empty {
            source_name: "the terminal".into(),
        });
    }
    Ok(pin)
}

/// Picks the PIN source for `uri` as described in the module documentation: `pin_file`, else
/// the URI's `pin-source`, else (if `allow_prompt`) a terminal prompt naming the token.
pub fn resolve_pin(
    uri: &TokenUri,
    pin_file: Option<&Path>,
    allow_prompt: bool,
) -> Result<Pin, PinError> {
    match (pin_file, &uri.pin_source) {
        (Some(f), Some(s)) => Err(PinError::Conflict {
            pin_file: f.to_owned(),
            pin_source: s.clone(),
        }),
        (Some(f), None) => Pin::from_file(f),
        (None, Some(s)) => Pin::from_file(s),
        (None, None) if allow_prompt => {
            let label = uri.token.as_deref().unwrap_or("(unnamed)");
            Pin::new(prompt_pin(label)?)
        }
        (None, None) => Err(PinError::NoSource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::types::AuthPin;
    use std::os::unix::fs::PermissionsExt;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("p11mod-pin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn write(d: &Dir, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let p = d.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn pin_file_forms() {
        let d = dir("forms");
        for (content, want) in [
            (&b"123456"[..], "123456"),
            (b"123456\n", "123456"),
            (b"123456\r\n", "123456"),
            (b"pass phrase with spaces \n", "pass phrase with spaces "),
            ("p\u{e1}ss\n".as_bytes(), "p\u{e1}ss"),
        ] {
            let p = write(&d, "pin", content, 0o600);
            let pin = Pin::from_file(&p).unwrap();
            assert_eq!(exposed_str(&pin), want);
        }
    }

    /// Reads the PIN back out for assertions (tests only).
    fn exposed_str(pin: &Pin) -> String {
        use secrecy::ExposeSecret;
        match pin {
            Pin::Secret(s) => s.expose_secret().to_owned(),
            Pin::ProtectedAuthenticationPath => "<pad>".into(),
        }
    }

    #[test]
    fn pin_file_refusals() {
        let d = dir("refuse");
        let e = Pin::from_file(&write(&d, "a", b"", 0o600)).unwrap_err();
        assert!(matches!(e, PinError::Empty { .. }), "{e}");
        let e = Pin::from_file(&write(&d, "b", b"\n", 0o600)).unwrap_err();
        assert!(matches!(e, PinError::Empty { .. }), "{e}");
        let e = Pin::from_file(&write(&d, "c", b"1234\n5678\n", 0o600)).unwrap_err();
        assert!(matches!(e, PinError::NotOneLine { .. }), "{e}");
        let e = Pin::from_file(&write(&d, "d", b"1234\n\n", 0o600)).unwrap_err();
        assert!(matches!(e, PinError::NotOneLine { .. }), "{e}");
        let e = Pin::from_file(&write(&d, "e", b"12\x0034", 0o600)).unwrap_err();
        assert!(matches!(e, PinError::NotOneLine { .. }), "{e}");
        let e = Pin::from_file(&write(&d, "f", b"\xff\xfe", 0o600)).unwrap_err();
        assert!(matches!(e, PinError::NotUtf8 { .. }), "{e}");
        let e = Pin::from_file(&write(&d, "g", b"1234", 0o644)).unwrap_err();
        assert!(
            matches!(e, PinError::Permissions { mode: 0o644, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("0644"), "{e}");
        assert!(e.hint().contains("chmod 600"));
        // Group access is allowed (a signers' group), other users' is not.
        assert!(Pin::from_file(&write(&d, "h", b"1234", 0o640)).is_ok());
        let big = vec![b'1'; MAX_PIN_FILE_BYTES as usize + 1];
        let e = Pin::from_file(&write(&d, "i", &big, 0o600)).unwrap_err();
        assert!(matches!(e, PinError::TooLarge { .. }), "{e}");
        let e = Pin::from_file(&d.0.join("missing")).unwrap_err();
        assert!(matches!(e, PinError::Read { .. }), "{e}");
        let e = Pin::from_file(&d.0).unwrap_err();
        assert!(matches!(e, PinError::NotAFile { .. }), "{e}");
        // No message ever contains the PIN.
        let p = write(&d, "j", b"s3cr3t\nextra", 0o600);
        let e = Pin::from_file(&p).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
    }

    #[test]
    fn debug_is_redacted() {
        let pin = Pin::new(Zeroizing::new("123456".to_owned())).unwrap();
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
        assert!(matches!(
            Pin::new(Zeroizing::new(String::new())),
            Err(PinError::Empty { .. })
        ));
        let _: AuthPin = AuthPin::new("x".into());
    }

    #[test]
    fn resolve_order_and_conflict() {
        let d = dir("resolve");
        let f = write(&d, "pin", b"1111\n", 0o600);
        let s = write(&d, "src", b"2222\n", 0o600);
        let uri_with = TokenUri::parse(&format!(
            "pkcs11:token=t?module-path=/x.so&pin-source=file:{}",
            s.display()
        ))
        .unwrap();
        let uri_without = TokenUri::parse("pkcs11:token=t?module-path=/x.so").unwrap();
        assert_eq!(
            exposed_str(&resolve_pin(&uri_without, Some(&f), false).unwrap()),
            "1111"
        );
        assert_eq!(
            exposed_str(&resolve_pin(&uri_with, None, false).unwrap()),
            "2222"
        );
        assert!(matches!(
            resolve_pin(&uri_with, Some(&f), true),
            Err(PinError::Conflict { .. })
        ));
        assert!(matches!(
            resolve_pin(&uri_without, None, false),
            Err(PinError::NoSource)
        ));
    }
}
