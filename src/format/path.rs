//! `BundlePath`: a path inside a bundle, parsed once into a type that cannot hold `..`, `.`, empty
//! components, absolute paths, backslashes, NUL, control bytes or anything outside the portable set,
//! and that always fits a ustar header. Also `Label`, the restricted text of names, versions, targets.
use std::fmt;
use std::path::{Path, PathBuf};

/// Longest path a ustar header holds (prefix 155 + `/` + name 100 would be 256; the split drops the `/`).
pub const MAX_PATH_BYTES: usize = 255;
const MAX_COMPONENT_BYTES: usize = 100;

/// Why a candidate path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// Leading `/`.
    #[error("absolute paths are not allowed")]
    Absolute,
    /// An empty component (`a//b`, trailing `/`).
    #[error("empty path component")]
    EmptyComponent,
    /// `.` or `..`.
    #[error("component `{0}` is not allowed")]
    DotComponent(String),
    /// A byte outside the portable set.
    #[error("byte 0x{0:02x} is not allowed (allowed: A-Z a-z 0-9 . _ - + @ = , ~ %)")]
    Byte(u8),
    /// Too long overall.
    #[error("path is {0} bytes long; at most {MAX_PATH_BYTES} are allowed")]
    TooLong(usize),
    /// One component too long.
    #[error("a component is {0} bytes long; at most {MAX_COMPONENT_BYTES} are allowed")]
    ComponentTooLong(usize),
    /// No `/` split fits the ustar prefix and name fields.
    #[error("the path cannot be split into a ustar prefix (155 bytes) and name (100 bytes)")]
    NoUstarSplit,
}

fn portable_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-+@=,~%".contains(&b)
}

/// A validated bundle path (see `docs/format.md` section 2.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundlePath(String);

impl BundlePath {
    /// Parses `text`, refusing anything that could escape a destination or be read two ways.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.starts_with('/') {
            return Err(PathError::Absolute);
        }
        for component in text.split('/') {
            if component.is_empty() {
                return Err(PathError::EmptyComponent);
            }
            if component == "." || component == ".." {
                return Err(PathError::DotComponent(component.to_string()));
            }
            if let Some(&b) = component.as_bytes().iter().find(|&&b| !portable_byte(b)) {
                return Err(PathError::Byte(b));
            }
            if component.len() > MAX_COMPONENT_BYTES {
                return Err(PathError::ComponentTooLong(component.len()));
            }
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong(text.len()));
        }
        if ustar_split(text).is_none() {
            return Err(PathError::NoUstarSplit);
        }
        Ok(BundlePath(text.to_string()))
    }

    /// Joins validated components.
    pub fn join(&self, rest: &str) -> Result<Self, PathError> {
        BundlePath::parse(&format!("{}/{}", self.0, rest))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path below `root` on the local file system. Safe by construction: no component can
    /// be `..`, empty or absolute.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut out = root.to_path_buf();
        for component in self.0.split('/') {
            out.push(component);
        }
        out
    }

    /// Every proper ancestor directory, shortest first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(move |(i, _)| &self.0[..i])
    }

    /// True if `self` lies strictly below the directory `dir`.
    pub fn is_below(&self, dir: &str) -> bool {
        self.0.len() > dir.len() && self.0.starts_with(dir) && self.0.as_bytes()[dir.len()] == b'/'
    }
}

/// Splits `path` into ustar (prefix, name): name ≤ 100 bytes, prefix ≤ 155 bytes, split at the `/`
/// that leaves the longest name that fits. `None` if no split fits.
pub(crate) fn ustar_split(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    path.match_indices('/')
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .find(|(prefix, name)| name.len() <= 100 && prefix.len() <= 155 && !name.is_empty())
}

impl fmt::Display for BundlePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a name, version or target: 1..=128 bytes of `[A-Za-z0-9._+-]`, starting alphanumeric.
pub(crate) fn check_label(text: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > 128 {
        return Err(format!("`{text}` must be 1 to 128 characters long"));
    }
    if !text.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(format!("`{text}` must start with a letter or digit"));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._+-".contains(*c)))
    {
        return Err(format!(
            "`{text}` contains `{c}`; only A-Z a-z 0-9 . _ + - are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_model_paths() {
        let p = BundlePath::parse("model/acme-7b/model-00001-of-00002.safetensors").unwrap();
        assert_eq!(
            p.ancestors().collect::<Vec<_>>(),
            ["model", "model/acme-7b"]
        );
        assert!(p.is_below("model/acme-7b"));
        assert!(!p.is_below("model/acme"));
    }

    #[test]
    fn refuses_every_escape_and_odd_byte() {
        for bad in [
            "",
            "/etc/x",
            "../x",
            "a/../../x",
            "./x",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a b",
            "a\nb",
            "é",
        ] {
            assert!(BundlePath::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn long_paths_must_fit_ustar() {
        let long_name = "x".repeat(101);
        assert_eq!(
            BundlePath::parse(&long_name),
            Err(PathError::ComponentTooLong(101))
        );
        let fits = format!("{}/{}", "d".repeat(100), "f".repeat(100));
        let parsed = BundlePath::parse(&fits).unwrap();
        assert_eq!(ustar_split(parsed.as_str()).unwrap().1.len(), 100);
        let too_long = format!("{}/{}/{}", "a".repeat(100), "b".repeat(100), "c".repeat(60));
        assert_eq!(BundlePath::parse(&too_long), Err(PathError::TooLong(262)));
    }

    #[test]
    fn a_132_byte_path_splits_at_the_first_slash_that_fits() {
        // docs/format.md 2.2: the first `/` from the left whose remainder fits in `name`.
        let path = format!(
            "model/{}/{}/{}",
            "a".repeat(60),
            "b".repeat(40),
            "c".repeat(24)
        );
        assert_eq!(path.len(), 132);
        let (prefix, name) = ustar_split(&path).unwrap();
        assert_eq!(prefix, format!("model/{}", "a".repeat(60)));
        assert_eq!(name, format!("{}/{}", "b".repeat(40), "c".repeat(24)));
        let header = crate::format::canonical_header(
            &BundlePath::parse(&path).unwrap(),
            0,
            crate::format::Mode::Regular,
            0,
        );
        assert_eq!(&header[345..345 + prefix.len()], prefix.as_bytes());
        assert_eq!(&header[0..name.len()], name.as_bytes());
        let sum: u32 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(
            &header[148..156],
            format!("{sum:07o}\0").as_bytes(),
            "checksum text form"
        );
    }

    #[test]
    fn labels_are_restricted() {
        assert!(check_label("acme-7b").is_ok());
        assert!(check_label("1.0.0+build.5").is_ok());
        assert!(check_label("-x").is_err());
        assert!(check_label("a b").is_err());
        assert!(check_label("").is_err());
    }
}
