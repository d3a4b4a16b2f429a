//! The bundle spec (`SPEC.toml`) a release engineer keeps under version control: bundle identity,
//! freshness and the artifacts to pack (and, for a model, the provider's OpenSSF model signature).
//! Paths are relative to the spec file.
use crate::error::{Error, Result};
use crate::format::manifest::{Kind, Suite};
use crate::format::path::check_label;
use crate::format::time::Timestamp;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Default validity when the spec names neither `expires` nor `valid_days`.
pub const DEFAULT_VALID_DAYS: u64 = 90;

/// A parsed, validated spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The spec file.
    pub path: PathBuf,
    /// `[bundle]`.
    pub bundle: BundleSpec,
    /// `[[artifact]]`, in spec order.
    pub artifacts: Vec<ArtifactSpec>,
}

/// `[bundle]` of a spec.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Monotonic sequence.
    pub sequence: u64,
    /// Receiving site.
    pub target: String,
    /// Fixed creation time (else SOURCE_DATE_EPOCH, else the clock).
    pub created: Option<Timestamp>,
    /// Fixed expiry.
    pub expires: Option<Timestamp>,
    /// Validity in days from `created` when `expires` is absent.
    pub valid_days: u64,
    /// When advance notice of this deployment was given (sensitive targets).
    pub notice_given: Option<Timestamp>,
    /// Earliest activation time on the receiving side.
    pub not_before: Option<Timestamp>,
    /// The cryptographic suite (`suite = "classic"` or `"cnsa2"`), if the spec names one.
    pub suite: Option<Suite>,
}

/// One `[[artifact]]`.
#[derive(Debug, Clone)]
pub struct ArtifactSpec {
    /// Kind.
    pub kind: Kind,
    /// Name, unique per kind.
    pub name: String,
    /// Source file or directory, resolved against the spec's directory.
    pub source: PathBuf,
    /// The model provider's OpenSSF model signature of this (model) artifact, resolved against the
    /// spec's directory: packed as `model/NAME/model.sig` (`docs/format.md` 8.8).
    pub oms_signature: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    bundle: RawBundle,
    #[serde(default)]
    artifact: Vec<RawArtifact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    name: String,
    version: String,
    sequence: u64,
    target: String,
    created: Option<String>,
    expires: Option<String>,
    valid_days: Option<u64>,
    notice_given: Option<String>,
    not_before: Option<String>,
    suite: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    kind: String,
    name: String,
    path: String,
    oms_signature: Option<String>,
}

const SPEC_HINT: &str = "see `airlock pack --help` and README.md for the spec schema";

impl Spec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = crate::util::fs::read_input_text(path, "spec", crate::util::fs::CONFIG_CAP)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Spec::parse(&text, &dir)
            .map(|(bundle, artifacts)| Spec {
                path: path.to_path_buf(),
                bundle,
                artifacts,
            })
            .map_err(|detail| Error::config(path, detail, SPEC_HINT))
    }

    fn parse(
        text: &str,
        dir: &Path,
    ) -> std::result::Result<(BundleSpec, Vec<ArtifactSpec>), String> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| format!("invalid spec: {e}"))?;
        let b = raw.bundle;
        for (what, value) in [
            ("name", &b.name),
            ("version", &b.version),
            ("target", &b.target),
        ] {
            check_label(value).map_err(|e| format!("[bundle] {what}: {e}"))?;
        }
        let time = |what: &str,
                    text: Option<String>|
         -> std::result::Result<Option<Timestamp>, String> {
            text.map(|t| {
                Timestamp::parse(&t).ok_or_else(|| {
                    format!("[bundle] {what} = \"{t}\" is not an RFC 3339 UTC time from 1970 to 9999-12-31T23:59:59Z, like 2027-01-31T00:00:00Z")
                })
            })
            .transpose()
        };
        if b.expires.is_some() && b.valid_days.is_some() {
            return Err("[bundle] sets both `expires` and `valid_days`; keep one".into());
        }
        let suite = b
            .suite
            .as_deref()
            .map(|s| {
                Suite::parse(s).ok_or_else(|| {
                    format!("[bundle] suite = \"{s}\" is not \"classic\" or \"cnsa2\"")
                })
            })
            .transpose()?;
        let bundle = BundleSpec {
            suite,
            created: time("created", b.created)?,
            expires: time("expires", b.expires)?,
            valid_days: b.valid_days.unwrap_or(DEFAULT_VALID_DAYS),
            notice_given: time("notice_given", b.notice_given)?,
            not_before: time("not_before", b.not_before)?,
            name: b.name,
            version: b.version,
            sequence: b.sequence,
            target: b.target,
        };
        if bundle.valid_days == 0 {
            return Err("[bundle] valid_days must be at least 1".into());
        }
        if raw.artifact.is_empty() {
            return Err("the spec lists no [[artifact]]".into());
        }
        let mut seen = std::collections::BTreeMap::new();
        let mut artifacts = Vec::new();
        for a in raw.artifact {
            let kind = Kind::parse(&a.kind).ok_or_else(|| {
                format!(
                    "artifact `{}`: kind `{}` is not one of model, safeguard, policy, data, trust",
                    a.name, a.kind
                )
            })?;
            check_label(&a.name).map_err(|e| format!("artifact name: {e}"))?;
            if let Some(other) = seen.get(&(kind, a.name.to_ascii_lowercase())) {
                return Err(if *other == a.name {
                    format!("artifact `{}/{}` is listed twice", kind.as_str(), a.name)
                } else {
                    format!(
                        "artifacts `{}/{other}` and `{}/{}` differ only in case and would collide on a case-insensitive file system",
                        kind.as_str(),
                        kind.as_str(),
                        a.name
                    )
                });
            }
            seen.insert((kind, a.name.to_ascii_lowercase()), a.name.clone());
            if a.path.is_empty() {
                return Err(format!("artifact `{}`: path is empty", a.name));
            }
            let oms_signature = match a.oms_signature {
                None => None,
                Some(_) if kind != Kind::Model => {
                    return Err(format!(
                        "artifact `{}`: oms_signature belongs to model artifacts only (this one is of kind {})",
                        a.name,
                        kind.as_str()
                    ));
                }
                Some(p) if p.is_empty() => {
                    return Err(format!("artifact `{}`: oms_signature is empty", a.name));
                }
                Some(p) => Some(dir.join(p)),
            };
            artifacts.push(ArtifactSpec {
                kind,
                name: a.name,
                source: dir.join(&a.path),
                oms_signature,
            });
        }
        Ok((bundle, artifacts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[bundle]\nname = \"acme-7b\"\nversion = \"1.0.0\"\nsequence = 1\ntarget = \"aws-secret\"\n[[artifact]]\nkind = \"model\"\nname = \"acme-7b\"\npath = \"models/acme-7b\"\n";

    #[test]
    fn minimal_spec_parses_with_paths_relative_to_the_spec() {
        let (b, a) = Spec::parse(MINIMAL, Path::new("/specs")).unwrap();
        assert_eq!(b.valid_days, DEFAULT_VALID_DAYS);
        assert_eq!(a[0].source, Path::new("/specs/models/acme-7b"));
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let err = Spec::parse(
            &MINIMAL.replace("sequence = 1", "sequence = 1\nsequense = 2"),
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("sequense") && err.contains("line"), "{err}");
    }

    #[test]
    fn oms_signature_is_for_models_and_relative_to_the_spec() {
        let with = MINIMAL.replace(
            "path = \"models/acme-7b\"\n",
            "path = \"models/acme-7b\"\noms_signature = \"acme-7b.sig\"\n",
        );
        let (_, a) = Spec::parse(&with, Path::new("/specs")).unwrap();
        assert_eq!(
            a[0].oms_signature.as_deref(),
            Some(Path::new("/specs/acme-7b.sig"))
        );
        let data = with.replace("kind = \"model\"", "kind = \"data\"");
        let err = Spec::parse(&data, Path::new(".")).unwrap_err();
        assert!(err.contains("model artifacts only"), "{err}");
    }

    #[test]
    fn duplicate_artifacts_and_bad_kinds_are_refused() {
        let dup =
            format!("{MINIMAL}[[artifact]]\nkind = \"model\"\nname = \"acme-7b\"\npath = \"x\"\n");
        assert!(
            Spec::parse(&dup, Path::new("."))
                .unwrap_err()
                .contains("twice")
        );
        let bad = MINIMAL.replace("kind = \"model\"", "kind = \"weights\"");
        assert!(
            Spec::parse(&bad, Path::new("."))
                .unwrap_err()
                .contains("not one of")
        );
    }
}
