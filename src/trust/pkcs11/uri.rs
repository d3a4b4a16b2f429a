//! RFC 7512 `pkcs11:` URIs: the subset airlock needs to name a token, a key on it, the module
//! that drives it, and where the PIN comes from.
//!
//! The parser fails closed. A PKCS#11 URI is a *filter*: an attribute that the code silently
//! ignored could select a different token or key than the operator meant, so every attribute is
//! either honoured or refused with a message that names it. In particular:
//!
//! * `pin-value` is refused. A PIN inside a URI ends up in argv (readable by every local user via
//!   `ps` and `/proc/PID/cmdline`), in shell history and in logs. Use `pin-source`, a PIN file
//!   option, or the terminal prompt instead. The refusal never echoes the value.
//! * `module-path` must be absolute: a relative path would be resolved against the current
//!   directory by `dlopen`, and loading a module runs its code.
//! * `module-name` is resolved through p11-kit's module registrations (`NAME.module` files in
//!   `/etc/pkcs11/modules` and `/usr/share/p11-kit/modules`, their `module:` line).
//! * Unknown and vendor-specific attributes, and attributes given twice, are refused. The RFC's
//!   `library-*`, `slot-description` and `slot-manufacturer` attributes are valid RFC 7512 but are
//!   not used for selection here, so they are refused too (by name, with that explanation).
//!
//! Grammar (RFC 7512 section 2.3, abridged):
//!
//! ```text
//! pk11-URI   = "pkcs11:" pk11-path [ "?" pk11-query ]
//! pk11-path  = [ pk11-pattr *(";" pk11-pattr) ]
//! pk11-query = [ pk11-qattr *("&" pk11-qattr) ]
//! pk11-res-avail       = ":" / "[" / "]" / "@" / "!" / "$" / "'" / "(" / ")" / "*" / "+" / "," / "="
//! pk11-path-res-avail  = pk11-res-avail / "&"
//! pk11-query-res-avail = pk11-res-avail / "/" / "?" / "|"
//! pk11-pchar = unreserved / pk11-path-res-avail / pct-encoded
//! pk11-qchar = unreserved / pk11-query-res-avail / pct-encoded
//! ```
//!
//! Security note for callers: `module-path` (and `module-name`) choose code that is loaded into
//! the process. A URI must come from the operator (command line, local configuration), never
//! from a bundle, a manifest or anything else that was transferred.
use std::fmt;
use std::path::PathBuf;

/// The object class a URI's `type=` attribute asks for (CKA_CLASS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=public`: CKO_PUBLIC_KEY.
    Public,
    /// `type=private`: CKO_PRIVATE_KEY.
    Private,
    /// `type=cert`: CKO_CERTIFICATE.
    Cert,
    /// `type=secret-key`: CKO_SECRET_KEY.
    SecretKey,
    /// `type=data`: CKO_DATA.
    Data,
}

impl ObjectType {
    /// The RFC 7512 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Public => "public",
            ObjectType::Private => "private",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }
}

/// A parsed `pkcs11:` URI. Every text value is percent-decoded; `id` is raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUri {
    /// The PKCS#11 module (shared library) to load: `module-path`, or `module-name` resolved
    /// through p11-kit's registrations. Always absolute.
    pub module_path: PathBuf,
    /// `token=`: the token label (CK_TOKEN_INFO.label).
    pub token: Option<String>,
    /// `manufacturer=`: CK_TOKEN_INFO.manufacturerID.
    pub manufacturer: Option<String>,
    /// `model=`: CK_TOKEN_INFO.model.
    pub model: Option<String>,
    /// `serial=`: CK_TOKEN_INFO.serialNumber.
    pub serial: Option<String>,
    /// `slot-id=`: the decimal CK_SLOT_ID. SoftHSM renumbers slots when a token is initialised,
    /// so prefer `token=`/`serial=`.
    pub slot_id: Option<u64>,
    /// `object=`: the object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id=`: the object id (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type=`: the object class.
    pub object_type: Option<ObjectType>,
    /// `pin-source=`: an absolute path to a file holding the PIN.
    pub pin_source: Option<PathBuf>,
}

/// Where `module-name` is looked up, and what to use when a URI names no module.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Directories searched, in order, for `NAME.module` files (p11-kit's format). The first
    /// file found wins, as with p11-kit, where `/etc` overrides the packaged registrations.
    pub module_dirs: Vec<PathBuf>,
    /// Directories searched for a registration's *relative* `module:` value (p11-kit resolves
    /// those against its compiled-in module directory, e.g. `/usr/lib/x86_64-linux-gnu/pkcs11`).
    pub relative_module_dirs: Vec<PathBuf>,
    /// The module used when the URI has neither `module-path` nor `module-name` (for example a
    /// module configured once in airlock's settings). `None`: such a URI is refused.
    pub default_module: Option<PathBuf>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        // Debian/Ubuntu multiarch first, then the Fedora/RHEL and plain layouts.
        let multiarch = format!("/usr/lib/{}-linux-gnu/pkcs11", std::env::consts::ARCH);
        ParseOptions {
            module_dirs: vec![
                PathBuf::from("/etc/pkcs11/modules"),
                PathBuf::from("/usr/share/p11-kit/modules"),
            ],
            relative_module_dirs: vec![
                PathBuf::from(multiarch),
                PathBuf::from("/usr/lib64/pkcs11"),
                PathBuf::from("/usr/lib/pkcs11"),
            ],
            default_module: None,
        }
    }
}

/// Why a URI was refused. Messages name the attribute involved but never echo a PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The text does not start with `pkcs11:`.
    #[error("not a PKCS#11 URI: it must start with `pkcs11:`")]
    NotPkcs11,
    /// A `#` fragment was present.
    #[error("PKCS#11 URIs have no fragment: write a `#` inside a value as %23")]
    Fragment,
    /// `;;`, a trailing `;`, `&&`, and so on.
    #[error("empty attribute in the URI {component} (a stray `{separator}`)")]
    EmptyAttribute {
        /// "path" or "query".
        component: &'static str,
        /// `;` or `&`.
        separator: char,
    },
    /// An attribute without `=`.
    #[error("attribute `{name}` in the URI {component} has no `=value`")]
    MissingValue {
        /// "path" or "query".
        component: &'static str,
        /// The attribute as written.
        name: String,
    },
    /// `pin-value=` was given.
    #[error(
        "pin-value is refused: a PIN inside a URI leaks through the process list (argv), shell \
         history and logs; put the PIN in a file only you can read and use \
         pin-source=file:/ABSOLUTE/PATH, a PIN-file option, or the terminal prompt"
    )]
    PinValueRefused,
    /// A name RFC 7512 does not define (or a vendor-specific one).
    #[error("unknown attribute `{name}` in the URI {component}{vendor_note}")]
    UnknownAttribute {
        /// "path" or "query".
        component: &'static str,
        /// The attribute name.
        name: String,
        /// Extra explanation for vendor-specific (`x-`) names.
        vendor_note: &'static str,
    },
    /// A valid RFC 7512 attribute that this crate does not use for selection.
    #[error(
        "attribute `{name}` is valid RFC 7512 but is not supported here: a filter that is not \
         applied could select a different token or key, so remove it (select the token with \
         token=, serial=, manufacturer=, model= or slot-id=, and the module with module-path=)"
    )]
    UnsupportedAttribute {
        /// The attribute name.
        name: String,
    },
    /// The same attribute twice.
    #[error("attribute `{name}` is given twice")]
    DuplicateAttribute {
        /// The attribute name.
        name: String,
    },
    /// `%` not followed by two hex digits.
    #[error("attribute `{name}`: bad percent-escape at byte {offset} of its value")]
    BadPercentEscape {
        /// The attribute name.
        name: String,
        /// Byte offset inside the raw value.
        offset: usize,
    },
    /// A character that must be percent-encoded appeared raw.
    #[error("attribute `{name}`: character {ch:?} must be percent-encoded here")]
    MustBeEncoded {
        /// The attribute name.
        name: String,
        /// The offending character.
        ch: char,
    },
    /// A text attribute that is not UTF-8 after decoding.
    #[error("attribute `{name}` is not UTF-8 text after percent-decoding")]
    NotUtf8 {
        /// The attribute name.
        name: String,
    },
    /// A value with the wrong shape (slot-id not decimal, unknown type, ...).
    #[error("attribute `{name}`: {reason}")]
    BadValue {
        /// The attribute name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `module-path` relative.
    #[error(
        "module-path `{path}` must be an absolute path (a relative one would be searched by the dynamic loader)"
    )]
    ModulePathNotAbsolute {
        /// The path as given.
        path: String,
    },
    /// Both `module-path` and `module-name`.
    #[error("give module-path or module-name, not both")]
    ModulePathAndName,
    /// Neither `module-path` nor `module-name`, and no default.
    #[error(
        "the URI names no PKCS#11 module: add ?module-path=/ABSOLUTE/PATH/TO/MODULE.so (for \
         SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so) or ?module-name=NAME"
    )]
    NoModule,
    /// `module-name` could not be resolved.
    #[error("module-name `{name}`: {reason}")]
    ModuleName {
        /// The name as given.
        name: String,
        /// What went wrong, including where it looked.
        reason: String,
    },
    /// A `pin-source` this crate cannot use.
    #[error(
        "pin-source: {reason}; use pin-source=file:/ABSOLUTE/PATH (or a bare absolute path) naming a file that holds the PIN"
    )]
    PinSource {
        /// What is wrong with it.
        reason: String,
    },
}

const PATH: &str = "path";
const QUERY: &str = "query";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_res_avail(b: u8) -> bool {
    matches!(
        b,
        b':' | b'[' | b']' | b'@' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
    )
}

fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_res_avail(b) || b == b'&'
}

fn is_qchar(b: u8) -> bool {
    is_unreserved(b) || is_res_avail(b) || matches!(b, b'/' | b'?' | b'|')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `raw`, refusing characters that the component does not allow unencoded.
fn pct_decode(raw: &str, allowed: fn(u8) -> bool, name: &str) -> Result<Vec<u8>, UriError> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => {
                    return Err(UriError::BadPercentEscape {
                        name: name.to_owned(),
                        offset: i,
                    });
                }
            }
            i += 3;
        } else if allowed(c) {
            out.push(c);
            i += 1;
        } else {
            // Report the whole character, not a UTF-8 fragment of it.
            let ch = raw[i..].chars().next().unwrap_or('\u{FFFD}');
            return Err(UriError::MustBeEncoded {
                name: name.to_owned(),
                ch,
            });
        }
    }
    Ok(out)
}

fn utf8(bytes: Vec<u8>, name: &str) -> Result<String, UriError> {
    String::from_utf8(bytes).map_err(|_| UriError::NotUtf8 {
        name: name.to_owned(),
    })
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::DuplicateAttribute {
            name: name.to_owned(),
        });
    }
    *slot = Some(value);
    Ok(())
}

/// Splits `text` on `sep`, refusing empty pieces (but an empty `text` has no pieces).
fn attributes<'a>(
    text: &'a str,
    sep: char,
    component: &'static str,
) -> Result<Vec<(&'a str, &'a str)>, UriError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(sep)
        .map(|attr| {
            if attr.is_empty() {
                return Err(UriError::EmptyAttribute {
                    component,
                    separator: sep,
                });
            }
            attr.split_once('=').ok_or_else(|| UriError::MissingValue {
                component,
                // Attributes without `=` carry no value to leak, so naming them is safe.
                name: attr.to_owned(),
            })
        })
        .collect()
}

fn unknown(component: &'static str, name: &str) -> UriError {
    UriError::UnknownAttribute {
        component,
        name: name.to_owned(),
        vendor_note: if name.starts_with("x-") {
            " (vendor-specific attributes are not supported)"
        } else {
            ""
        },
    }
}

/// The `pin-source` forms p11-kit and OpenSSL's pkcs11 provider accept that name a file:
/// `file:/abs`, `file:///abs` and a bare `/abs`.
fn pin_source_path(value: &str) -> Result<PathBuf, UriError> {
    let path = match value.strip_prefix("file:") {
        Some(rest) => match rest.strip_prefix("//") {
            // file:///abs has an empty authority; file://host/abs names another machine.
            Some(after) if after.starts_with('/') => after,
            Some(_) => {
                return Err(UriError::PinSource {
                    reason: "file://HOST/... names a remote host".into(),
                });
            }
            None => rest,
        },
        None if value.starts_with('|') => {
            return Err(UriError::PinSource {
                reason: "running a program (`|command`) to obtain the PIN is not supported".into(),
            });
        }
        None => value,
    };
    if !path.starts_with('/') {
        return Err(UriError::PinSource {
            reason: "only an absolute file path is supported".into(),
        });
    }
    if path.contains('\0') {
        return Err(UriError::PinSource {
            reason: "the path contains a NUL byte".into(),
        });
    }
    Ok(PathBuf::from(path))
}

/// Looks `name` up in p11-kit's module registrations and returns its absolute module path.
fn resolve_module_name(name: &str, opts: &ParseOptions) -> Result<PathBuf, UriError> {
    let fail = |reason: String| UriError::ModuleName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || name.starts_with('.')
    {
        return Err(fail(
            "a module name is a bare p11-kit registration name such as `softhsm2`; use \
             module-path for a file path"
                .into(),
        ));
    }
    for dir in &opts.module_dirs {
        let file = dir.join(format!("{name}.module"));
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fail(format!("cannot read {}: {e}", file.display()))),
        };
        // p11-kit's format: `key: value` lines, `#` comments.
        let module = text.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == "module").then(|| v.trim().to_owned())
        });
        let Some(module) = module.filter(|m| !m.is_empty()) else {
            return Err(fail(format!("{} has no `module:` line", file.display())));
        };
        let module = PathBuf::from(module);
        if module.is_absolute() {
            return Ok(module);
        }
        for base in &opts.relative_module_dirs {
            let candidate = base.join(&module);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        return Err(fail(format!(
            "{} names the relative module `{}`, which is in none of {}; use module-path",
            file.display(),
            module.display(),
            list_paths(&opts.relative_module_dirs)
        )));
    }
    let known = known_module_names(&opts.module_dirs);
    Err(fail(format!(
        "no {name}.module registration in {}{}",
        list_paths(&opts.module_dirs),
        if known.is_empty() {
            String::new()
        } else {
            format!(" (registered: {})", known.join(", "))
        }
    )))
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_module_names(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".module").map(str::to_owned)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

impl TokenUri {
    /// Parses a `pkcs11:` URI with the default [`ParseOptions`] (p11-kit's registration
    /// directories, no default module).
    pub fn parse(uri: &str) -> Result<TokenUri, UriError> {
        TokenUri::parse_with(uri, &ParseOptions::default())
    }

    /// Parses a `pkcs11:` URI, resolving `module-name` and a missing module through `opts`.
    pub fn parse_with(uri: &str, opts: &ParseOptions) -> Result<TokenUri, UriError> {
        // The scheme is case-insensitive (RFC 3986 section 3.1); `get` avoids slicing inside a
        // multi-byte character.
        let rest = match uri.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("pkcs11:") => &uri[7..],
            _ => return Err(UriError::NotPkcs11),
        };
        if rest.contains('#') {
            return Err(UriError::Fragment);
        }
        // `?` may not appear raw in the path, so the first one ends it.
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));

        let mut token = None;
        let mut manufacturer = None;
        let mut model = None;
        let mut serial = None;
        let mut slot_id = None;
        let mut object = None;
        let mut id = None;
        let mut object_type = None;
        for (name, raw) in attributes(path, ';', PATH)? {
            let decode = || pct_decode(raw, is_pchar, name);
            let text = || decode().and_then(|b| utf8(b, name));
            match name {
                "token" => set_once(&mut token, text()?, name)?,
                "manufacturer" => set_once(&mut manufacturer, text()?, name)?,
                "model" => set_once(&mut model, text()?, name)?,
                "serial" => set_once(&mut serial, text()?, name)?,
                "object" => set_once(&mut object, text()?, name)?,
                "id" => set_once(&mut id, decode()?, name)?,
                "slot-id" => {
                    let v = text()?;
                    // u64::from_str accepts a leading `+`; the RFC says DIGIT only.
                    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(UriError::BadValue {
                            name: name.into(),
                            reason: format!("`{v}` is not a decimal number"),
                        });
                    }
                    let n = v.parse::<u64>().map_err(|_| UriError::BadValue {
                        name: name.into(),
                        reason: format!("`{v}` is out of range"),
                    })?;
                    set_once(&mut slot_id, n, name)?
                }
                "type" => {
                    let t = match text()?.as_str() {
                        "public" => ObjectType::Public,
                        "private" => ObjectType::Private,
                        "cert" => ObjectType::Cert,
                        "secret-key" => ObjectType::SecretKey,
                        "data" => ObjectType::Data,
                        other => {
                            return Err(UriError::BadValue {
                                name: name.into(),
                                reason: format!(
                                    "`{other}` is not one of public, private, cert, secret-key, data"
                                ),
                            });
                        }
                    };
                    set_once(&mut object_type, t, name)?
                }
                "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {
                    return Err(UriError::UnsupportedAttribute { name: name.into() });
                }
                other => return Err(unknown(PATH, other)),
            }
        }

        let mut module_path: Option<PathBuf> = None;
        let mut module_name: Option<String> = None;
        let mut pin_source = None;
        for (name, raw) in attributes(query, '&', QUERY)? {
            // Checked before anything looks at the value, so no message can contain the PIN.
            if name == "pin-value" {
                return Err(UriError::PinValueRefused);
            }
            let text = || pct_decode(raw, is_qchar, name).and_then(|b| utf8(b, name));
            match name {
                "module-path" => {
                    let v = text()?;
                    let p = PathBuf::from(&v);
                    if !p.is_absolute() || v.contains('\0') {
                        return Err(UriError::ModulePathNotAbsolute { path: v });
                    }
                    set_once(&mut module_path, p, name)?
                }
                "module-name" => set_once(&mut module_name, text()?, name)?,
                "pin-source" => set_once(&mut pin_source, pin_source_path(&text()?)?, name)?,
                other => return Err(unknown(QUERY, other)),
            }
        }

        let module_path = match (module_path, module_name) {
            (Some(_), Some(_)) => return Err(UriError::ModulePathAndName),
            (Some(p), None) => p,
            (None, Some(n)) => resolve_module_name(&n, opts)?,
            (None, None) => opts.default_module.clone().ok_or(UriError::NoModule)?,
        };
        Ok(TokenUri {
            module_path,
            token,
            manufacturer,
            model,
            serial,
            slot_id,
            object,
            id,
            object_type,
            pin_source,
        })
    }

    /// True when the URI has any token-selecting attribute.
    pub fn selects_token(&self) -> bool {
        self.token.is_some()
            || self.manufacturer.is_some()
            || self.model.is_some()
            || self.serial.is_some()
            || self.slot_id.is_some()
    }

    /// The same URI without `pin-source` (what [`Display`](fmt::Display) renders).
    pub fn without_pin(&self) -> TokenUri {
        TokenUri {
            pin_source: None,
            ..self.clone()
        }
    }

    /// The token-selecting part only (no object attributes, no PIN), for messages about tokens.
    pub fn token_part(&self) -> TokenUri {
        TokenUri {
            object: None,
            id: None,
            object_type: None,
            pin_source: None,
            ..self.clone()
        }
    }
}

/// Percent-encodes `bytes`, leaving raw only characters that are both legal in the component and
/// harmless in a shell (`!`, `$`, `'`, `(`, `)`, `*`, `&`, `;` and `|` are always encoded, so a
/// URI copied from a message survives being pasted into a command line inside quotes).
fn encode(bytes: &[u8], extra_raw: &[u8], out: &mut String) {
    for &b in bytes {
        if is_unreserved(b) || extra_raw.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

const PATH_RAW: &[u8] = b":@+,=";
const QUERY_RAW: &[u8] = b":@+,=/";

/// Renders the URI in a canonical order, **without** `pin-source` (and there is never a
/// `pin-value`): this is the form to put in messages and logs. `id` is always fully
/// percent-encoded, as p11tool and pkcs11-tool print it.
impl fmt::Display for TokenUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::from("pkcs11:");
        let mut first = true;
        let mut attr = |s: &mut String, name: &str, value: &[u8], all_hex: bool| {
            if !first {
                s.push(';');
            }
            first = false;
            s.push_str(name);
            s.push('=');
            if all_hex {
                for b in value {
                    s.push_str(&format!("%{b:02X}"));
                }
            } else {
                encode(value, PATH_RAW, s);
            }
        };
        let texts = [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
        ];
        for (name, value) in texts {
            if let Some(v) = value {
                attr(&mut s, name, v.as_bytes(), false);
            }
        }
        if let Some(n) = self.slot_id {
            attr(&mut s, "slot-id", n.to_string().as_bytes(), false);
        }
        if let Some(v) = &self.object {
            attr(&mut s, "object", v.as_bytes(), false);
        }
        if let Some(t) = self.object_type {
            attr(&mut s, "type", t.as_str().as_bytes(), false);
        }
        if let Some(v) = &self.id {
            attr(&mut s, "id", v, true);
        }
        s.push_str("?module-path=");
        encode(
            self.module_path.as_os_str().as_encoded_bytes(),
            QUERY_RAW,
            &mut s,
        );
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

    /// Options with a default module, so grammar tests need no `module-path`.
    fn opts() -> ParseOptions {
        ParseOptions {
            default_module: Some(PathBuf::from("/opt/default/libp11.so")),
            ..ParseOptions::default()
        }
    }

    fn parse(s: &str) -> Result<TokenUri, UriError> {
        TokenUri::parse_with(s, &opts())
    }

    fn ok(s: &str) -> TokenUri {
        match parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn err(s: &str) -> UriError {
        match parse(s) {
            Ok(u) => panic!("{s} parsed as {u:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn airlock_form() {
        let u = TokenUri::parse(&format!(
            "pkcs11:token=airlock;object=release?module-path={MODULE}&pin-source=file:/run/airlock/pin"
        ))
        .unwrap();
        assert_eq!(u.module_path, PathBuf::from(MODULE));
        assert_eq!(u.token.as_deref(), Some("airlock"));
        assert_eq!(u.object.as_deref(), Some("release"));
        assert_eq!(u.pin_source, Some(PathBuf::from("/run/airlock/pin")));
        assert_eq!(u.id, None);
        assert!(u.selects_token());
    }

    // RFC 7512 section 3 examples (the RFC wraps them over lines; the whitespace is not part of
    // the URI). Those with attributes this crate refuses are in `rfc_examples_refused`.

    #[test]
    fn rfc_empty_uri() {
        let u = ok("pkcs11:");
        assert_eq!(u.module_path, PathBuf::from("/opt/default/libp11.so"));
        assert!(!u.selects_token());
        assert_eq!(u.object, None);
    }

    #[test]
    fn rfc_public_key_by_label() {
        let u = ok("pkcs11:object=my-pubkey;type=public");
        assert_eq!(u.object.as_deref(), Some("my-pubkey"));
        assert_eq!(u.object_type, Some(ObjectType::Public));
    }

    #[test]
    fn rfc_private_key_with_pin_source() {
        let u = ok("pkcs11:object=my-key;type=private?pin-source=file:/etc/token");
        assert_eq!(u.object_type, Some(ObjectType::Private));
        assert_eq!(u.pin_source, Some(PathBuf::from("/etc/token")));
    }

    #[test]
    fn rfc_full_certificate_example() {
        let u = ok(
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
        );
        assert_eq!(u.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(u.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(u.model.as_deref(), Some("1.0"));
        assert_eq!(u.object.as_deref(), Some("my-certificate"));
        assert_eq!(u.object_type, Some(ObjectType::Cert));
        assert_eq!(
            u.id,
            Some(vec![0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91])
        );
        // An empty value is a value: it matches an empty serial number.
        assert_eq!(u.serial.as_deref(), Some(""));
        assert_eq!(u.pin_source, Some(PathBuf::from("/etc/token_pin")));
    }

    #[test]
    fn rfc_module_path() {
        let u = ok("pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1");
        assert_eq!(u.module_path, PathBuf::from("/mnt/libmypkcs11.so.1"));
    }

    #[test]
    fn rfc_percent_sign_and_semicolon_in_label() {
        let u = ok(
            "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
        );
        assert_eq!(u.token.as_deref(), Some("A name with a substring %;"));
    }

    #[test]
    fn rfc_utf8_label() {
        let u = ok(
            "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
        );
        assert_eq!(
            u.token.as_deref(),
            Some("Name with a small A with acute: \u{e1}")
        );
    }

    #[test]
    fn rfc_mixed_case_hex_in_id() {
        // From the RFC's `token=My%20token%25%20created%20by%20Joe;library-version=3;id=...`
        // example, without the library-version attribute this crate refuses.
        let u =
            ok("pkcs11:token=My%20token%25%20created%20by%20Joe;id=%01%02%03%Ba%dd%Ca%fe%04%05%06");
        assert_eq!(u.token.as_deref(), Some("My token% created by Joe"));
        assert_eq!(u.id, Some(vec![1, 2, 3, 0xba, 0xdd, 0xca, 0xfe, 4, 5, 6]));
    }

    #[test]
    fn rfc_examples_refused() {
        // pin-value: refused, and the PIN never appears in the message.
        let e = err(
            "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
        );
        assert_eq!(e, UriError::PinValueRefused);
        assert!(!e.to_string().contains("the-pin"));
        assert!(e.to_string().contains("pin-source=file:"), "{e}");
        // Valid RFC 7512 attributes that are not used for selection here.
        for s in [
            "pkcs11:slot-description=Sun%20Metaslot",
            "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
            "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
            "pkcs11:slot-manufacturer=Acme",
        ] {
            let e = err(s);
            assert!(
                matches!(e, UriError::UnsupportedAttribute { .. }),
                "{s}: {e}"
            );
            assert!(e.to_string().contains("not supported"), "{e}");
        }
        // Vendor attributes in the path and the query.
        let e = err(
            "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
        );
        assert_eq!(
            e.to_string(),
            "unknown attribute `vendor-aaa` in the URI path"
        );
        let e = err("pkcs11:token=t?x-vendor=secret");
        assert!(e.to_string().contains("`x-vendor`"), "{e}");
        assert!(e.to_string().contains("vendor-specific"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn module_name_is_resolved_through_p11_kit_registrations() {
        let dir = std::env::temp_dir().join(format!("p11mod-uri-test-{}", std::process::id()));
        let mods = dir.join("modules");
        let libs = dir.join("lib");
        std::fs::create_dir_all(&mods).unwrap();
        std::fs::create_dir_all(&libs).unwrap();
        std::fs::write(
            mods.join("abs.module"),
            "# comment\nmodule: /opt/abs/libabs.so\ncritical: no\n",
        )
        .unwrap();
        std::fs::write(mods.join("rel.module"), "module:librel.so\n").unwrap();
        std::fs::write(libs.join("librel.so"), b"").unwrap();
        std::fs::write(mods.join("relmissing.module"), "module: nowhere.so\n").unwrap();
        std::fs::write(mods.join("empty.module"), "# nothing\n").unwrap();
        let o = ParseOptions {
            module_dirs: vec![dir.join("nonexistent"), mods.clone()],
            relative_module_dirs: vec![libs.clone()],
            default_module: None,
        };
        let p = |s: &str| TokenUri::parse_with(s, &o);
        assert_eq!(
            p("pkcs11:token=t?module-name=abs").unwrap().module_path,
            PathBuf::from("/opt/abs/libabs.so")
        );
        assert_eq!(
            p("pkcs11:token=t?module-name=rel").unwrap().module_path,
            libs.join("librel.so")
        );
        let e = p("pkcs11:token=t?module-name=relmissing").unwrap_err();
        assert!(
            e.to_string().contains("relative module `nowhere.so`"),
            "{e}"
        );
        let e = p("pkcs11:token=t?module-name=empty").unwrap_err();
        assert!(e.to_string().contains("no `module:` line"), "{e}");
        let e = p("pkcs11:token=t?module-name=absent").unwrap_err();
        assert!(
            e.to_string().contains("no absent.module registration"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("registered: abs, empty, rel, relmissing"),
            "{e}"
        );
        for bad in ["../abs", "a/b", ".hidden", ""] {
            let e = p(&format!("pkcs11:token=t?module-name={bad}")).unwrap_err();
            assert!(
                e.to_string().contains("bare p11-kit registration name"),
                "{bad}: {e}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn module_name_softhsm2_on_this_machine() {
        // Debian registers SoftHSM2 with p11-kit; skip quietly where it does not.
        let reg = Path::new("/usr/share/p11-kit/modules/softhsm2.module");
        if reg.exists() {
            let u = TokenUri::parse("pkcs11:token=t?module-name=softhsm2").unwrap();
            assert!(u.module_path.is_absolute());
            assert!(u.module_path.ends_with("libsofthsm2.so"), "{u:?}");
        }
    }

    #[test]
    fn module_requirements() {
        assert_eq!(
            TokenUri::parse("pkcs11:token=a").unwrap_err(),
            UriError::NoModule
        );
        assert!(
            TokenUri::parse("pkcs11:token=a")
                .unwrap_err()
                .to_string()
                .contains("module-path=/")
        );
        assert!(matches!(
            err("pkcs11:token=a?module-path=relative.so"),
            UriError::ModulePathNotAbsolute { .. }
        ));
        assert!(matches!(
            err("pkcs11:token=a?module-path=./lib.so"),
            UriError::ModulePathNotAbsolute { .. }
        ));
        assert_eq!(
            err("pkcs11:?module-name=softhsm2&module-path=/x.so"),
            UriError::ModulePathAndName
        );
        assert!(matches!(
            err("pkcs11:?module-path=/a.so&module-path=/b.so"),
            UriError::DuplicateAttribute { .. }
        ));
        // Percent-encoded path, `/` is raw-legal in the query.
        assert_eq!(
            ok("pkcs11:?module-path=/opt/my%20hsm/lib.so").module_path,
            PathBuf::from("/opt/my hsm/lib.so")
        );
        assert!(matches!(
            err("pkcs11:?module-path=/opt/%00/lib.so"),
            UriError::ModulePathNotAbsolute { .. }
        ));
    }

    #[test]
    fn pin_source_forms() {
        let pin = |s: &str| ok(&format!("pkcs11:token=a?pin-source={s}")).pin_source;
        assert_eq!(pin("file:/run/pin"), Some(PathBuf::from("/run/pin")));
        assert_eq!(pin("file:///run/pin"), Some(PathBuf::from("/run/pin")));
        assert_eq!(pin("/run/pin"), Some(PathBuf::from("/run/pin")));
        assert_eq!(
            pin("file:/run/my%20pin"),
            Some(PathBuf::from("/run/my pin"))
        );
        for bad in [
            "relative",
            "file:relative",
            "file://host/run/pin",
            "|/usr/bin/get-pin",
            "env:PIN",
            "file:/a%00b",
            "",
        ] {
            let e = err(&format!("pkcs11:token=a?pin-source={bad}"));
            assert!(matches!(e, UriError::PinSource { .. }), "{bad}: {e}");
            assert!(
                e.to_string().contains("pin-source=file:/ABSOLUTE/PATH"),
                "{e}"
            );
        }
        assert!(matches!(
            err("pkcs11:token=a?pin-source=/a&pin-source=/b"),
            UriError::DuplicateAttribute { .. }
        ));
    }

    #[test]
    fn pin_value_is_refused_wherever_it_is() {
        for s in [
            "pkcs11:?pin-value=1234",
            "pkcs11:token=a?module-path=/x.so&pin-value=1234",
            "pkcs11:token=a?pin-value=12%zz34",
            "pkcs11:token=a?pin-value=",
        ] {
            let e = err(s);
            assert_eq!(e, UriError::PinValueRefused, "{s}");
            assert!(!e.to_string().contains("1234"));
        }
        // In the path it is simply not a path attribute, and its value is not echoed either.
        let e = err("pkcs11:pin-value=1234");
        assert_eq!(
            e.to_string(),
            "unknown attribute `pin-value` in the URI path"
        );
    }

    #[test]
    fn reserved_characters_per_component() {
        // `&` and the res-avail set are raw-legal in the path.
        let u = ok("pkcs11:object=a&b:[]@!$'()*+,=");
        assert_eq!(u.object.as_deref(), Some("a&b:[]@!$'()*+,="));
        // `/`, `?`, `|` only in the query.
        assert!(matches!(
            err("pkcs11:object=a/b"),
            UriError::MustBeEncoded { ch: '/', .. }
        ));
        assert_eq!(ok("pkcs11:object=a%2Fb").object.as_deref(), Some("a/b"));
        assert!(matches!(
            err("pkcs11:object=a|b"),
            UriError::MustBeEncoded { ch: '|', .. }
        ));
        // A second `?` belongs to the query, where it is legal.
        assert_eq!(
            ok("pkcs11:object=a?module-path=/x.so?y").module_path,
            PathBuf::from("/x.so?y")
        );
        assert!(matches!(
            err("pkcs11:token=my token"),
            UriError::MustBeEncoded { ch: ' ', .. }
        ));
        // Non-ASCII must be encoded, and is reported as a whole character.
        assert!(matches!(
            err("pkcs11:token=\u{e1}"),
            UriError::MustBeEncoded { ch: '\u{e1}', .. }
        ));
        assert!(matches!(
            err("pkcs11:token=a\"b"),
            UriError::MustBeEncoded { ch: '"', .. }
        ));
    }

    #[test]
    fn percent_encoding_errors() {
        for s in [
            "pkcs11:token=%4",
            "pkcs11:token=%",
            "pkcs11:token=%g0",
            "pkcs11:token=a%0",
        ] {
            assert!(matches!(err(s), UriError::BadPercentEscape { .. }), "{s}");
        }
        assert_eq!(
            err("pkcs11:token=ab%zz").to_string(),
            "attribute `token`: bad percent-escape at byte 2 of its value"
        );
        // Text attributes must be UTF-8; `id` is binary and may be anything.
        assert!(matches!(err("pkcs11:token=%ff"), UriError::NotUtf8 { .. }));
        assert!(matches!(
            err("pkcs11:object=%c3%28"),
            UriError::NotUtf8 { .. }
        ));
        assert_eq!(ok("pkcs11:id=%ff%00").id, Some(vec![0xff, 0]));
        // `id` may also be written with raw characters.
        assert_eq!(ok("pkcs11:id=ab").id, Some(b"ab".to_vec()));
        // Encoded unreserved characters decode to themselves.
        assert_eq!(ok("pkcs11:object=%61%62c").object.as_deref(), Some("abc"));
    }

    #[test]
    fn structure_errors() {
        assert_eq!(err("file:/x"), UriError::NotPkcs11);
        assert_eq!(err("pkcs1"), UriError::NotPkcs11);
        assert_eq!(err(""), UriError::NotPkcs11);
        // A multi-byte character where the scheme would end must not panic.
        assert_eq!(err("pkcs1\u{e1}:x"), UriError::NotPkcs11);
        assert_eq!(err("pkcs11:token=a#frag"), UriError::Fragment);
        assert!(matches!(
            err("pkcs11:token=a;;object=b"),
            UriError::EmptyAttribute { separator: ';', .. }
        ));
        assert!(matches!(
            err("pkcs11:token=a;"),
            UriError::EmptyAttribute { .. }
        ));
        assert!(matches!(
            err("pkcs11:token=a?pin-source=/p&"),
            UriError::EmptyAttribute { separator: '&', .. }
        ));
        assert_eq!(
            err("pkcs11:token").to_string(),
            "attribute `token` in the URI path has no `=value`"
        );
        assert!(matches!(
            err("pkcs11:=x"),
            UriError::UnknownAttribute { .. }
        ));
        // Attribute names are case-sensitive.
        assert!(matches!(
            err("pkcs11:Token=a"),
            UriError::UnknownAttribute { .. }
        ));
        // Scheme is not.
        assert_eq!(ok("PKCS11:token=a").token.as_deref(), Some("a"));
        assert_eq!(ok("Pkcs11:token=a").token.as_deref(), Some("a"));
    }

    #[test]
    fn duplicates_are_refused_by_name() {
        for (s, name) in [
            ("pkcs11:token=a;token=b", "token"),
            ("pkcs11:token=a;object=k;object=k", "object"),
            ("pkcs11:id=%01;id=%01", "id"),
            ("pkcs11:type=private;type=public", "type"),
            ("pkcs11:slot-id=1;slot-id=2", "slot-id"),
            ("pkcs11:serial=1;serial=1", "serial"),
        ] {
            let e = err(s);
            assert_eq!(e, UriError::DuplicateAttribute { name: name.into() }, "{s}");
            assert_eq!(e.to_string(), format!("attribute `{name}` is given twice"));
        }
    }

    #[test]
    fn slot_id_and_type_values() {
        assert_eq!(ok("pkcs11:slot-id=1610845906").slot_id, Some(1_610_845_906));
        assert_eq!(ok("pkcs11:slot-id=0").slot_id, Some(0));
        assert_eq!(
            ok(&format!("pkcs11:slot-id={}", u64::MAX)).slot_id,
            Some(u64::MAX)
        );
        for bad in ["0x1", "+1", "-1", "", "1.0", "18446744073709551616"] {
            assert!(
                matches!(
                    err(&format!("pkcs11:slot-id={bad}")),
                    UriError::BadValue { .. }
                ),
                "{bad}"
            );
        }
        for (t, want) in [
            ("public", ObjectType::Public),
            ("private", ObjectType::Private),
            ("cert", ObjectType::Cert),
            ("secret-key", ObjectType::SecretKey),
            ("data", ObjectType::Data),
        ] {
            assert_eq!(ok(&format!("pkcs11:type={t}")).object_type, Some(want));
            assert_eq!(want.as_str(), t);
        }
        let e = err("pkcs11:type=key");
        assert!(e.to_string().contains("`key` is not one of"), "{e}");
    }

    #[test]
    fn display_omits_pin_source_and_round_trips() {
        let s = "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my key/1;type=private;id=%69%95%3E;serial=42;slot-id=7?module-path=/opt/my%20hsm/lib.so&pin-source=file:/etc/token_pin";
        // `/` in a path value must be encoded, so fix the input first.
        let s = s.replace("my key/1", "my%20key%2F1");
        let u = ok(&s);
        let shown = u.to_string();
        assert_eq!(
            shown,
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;serial=42;slot-id=7;object=my%20key%2F1;type=private;id=%69%95%3E?module-path=/opt/my%20hsm/lib.so"
        );
        assert!(!shown.contains("pin"));
        let again = TokenUri::parse(&shown).unwrap();
        assert_eq!(again, u.without_pin());
        assert_eq!(again.to_string(), shown);
    }

    #[test]
    fn display_encodes_shell_characters() {
        let u = ok("pkcs11:object=a&b!c$d'e(f)g*h;token=x%3By%7Cz");
        let shown = u.to_string();
        assert_eq!(
            shown,
            "pkcs11:token=x%3By%7Cz;object=a%26b%21c%24d%27e%28f%29g%2Ah?module-path=/opt/default/libp11.so"
        );
        assert_eq!(TokenUri::parse(&shown).unwrap(), u);
    }

    #[test]
    fn token_part_and_without_pin() {
        let u = ok("pkcs11:token=t;object=o;id=%01;type=private?pin-source=/p");
        let t = u.token_part();
        assert_eq!(t.token.as_deref(), Some("t"));
        assert_eq!(
            (t.object, t.id, t.object_type, t.pin_source),
            (None, None, None, None)
        );
        assert_eq!(u.without_pin().pin_source, None);
        assert_eq!(u.without_pin().object.as_deref(), Some("o"));
    }

    #[test]
    fn p11tool_style_uri() {
        // What GnuTLS p11tool prints for a SoftHSM key, plus the module.
        let u = TokenUri::parse(&format!(
            "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=9b9bd5a3a0f0a1e2;token=airlock;id=%01%02;object=tool-ed;type=private?module-path={MODULE}"
        ))
        .unwrap();
        assert_eq!(u.model.as_deref(), Some("SoftHSM v2"));
        assert_eq!(u.manufacturer.as_deref(), Some("SoftHSM project"));
        assert_eq!(u.serial.as_deref(), Some("9b9bd5a3a0f0a1e2"));
        assert_eq!(u.id, Some(vec![1, 2]));
    }
}
