//! Signed updates of the receiving side's trust file — key rotation and revocation without
//! re-provisioning the enclave by hand. This is TUF's root rotation (specification 5.3) reduced
//! to airlock's roles (`docs/format.md` 8.9, `docs/security.md` "Key rotation"):
//!
//! * a trust file has a `version` and a `[roles.root]` (keys, threshold, algorithms, revoked);
//! * `airlock trust sign NEW --key ROOT_KEY` writes one detached root signature beside NEW
//!   ([`sign`]): `NEW.root-KEYID.minisig` (minisign over NEW's exact bytes) or
//!   `NEW.root-KEYID.mldsa87` (ML-DSA-87 over a statement binding NEW's SHA-384, site and
//!   version);
//! * `airlock trust update NEW --trust CURRENT` ([`apply`]) replaces CURRENT atomically, under a
//!   lock, only if NEW is for the same site, its version is higher than CURRENT's, and it carries
//!   valid signatures from a threshold of CURRENT's root keys *and* a threshold of NEW's own root
//!   keys (so a rotation is approved by the old root and accepted by the new). Revoked keys never
//!   count; a signature by a known key that does not verify refuses the update. Otherwise
//!   [`Error::TrustRefused`] (exit 1) names the rule, and CURRENT is untouched;
//! * a trust update can travel in a bundle as an artifact of kind `trust` (copied into the
//!   manifest frame like a policy), applied by `unpack --apply-trust` under the same rules.
use crate::error::{Error, Result};
use crate::format::digest::HashAlg;
use crate::format::signature::{
    MinisignFile, MlDsaFile, Role, SigAlg, TrustStatement, parse_trust_signature_name,
    trust_signature_name,
};
use crate::format::time::Timestamp;
use crate::trust::keys::Signer;
use crate::trust::trust_file::{
    Claim, SignerReport, Trust, TrustedKey, TrustedPublic, shortfall, tally,
};
use crate::util::fs::{CONFIG_CAP, DirLock};
use std::path::{Path, PathBuf};

/// At most this many root signatures are read for one update.
pub const MAX_ROOT_SIGNATURES: usize = 64;
/// Largest root signature file read (an ML-DSA-87 file is about 6.3 KB).
pub const MAX_ROOT_SIGNATURE_BYTES: u64 = 16 << 10;

/// A candidate trust file and the detached root signatures that came with it.
#[derive(Debug, Clone)]
pub struct TrustUpdate {
    /// Where it came from, for messages: a file, or `BUNDLE:trust/ARTIFACT/NAME` for one carried
    /// in a bundle.
    pub origin: PathBuf,
    /// Its file name: what the signature files are named after.
    pub name: String,
    /// Its exact bytes: what a minisign root signature signs, and what replaces the current file.
    pub bytes: Vec<u8>,
    /// The signature files: (file name, bytes).
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// A parsed root signature file: (key id, algorithm, signature).
type ParsedSignature = (String, SigAlg, RootSignature);

/// A root signature over a trust file, parsed, not yet verified.
enum RootSignature {
    Minisign(MinisignFile),
    MlDsa87 {
        file: MlDsaFile,
        statement: TrustStatement,
    },
}

impl RootSignature {
    /// Parses the file `name` (`TRUST.root-KEYID.minisig|mldsa87`) of the trust file `trust_name`.
    fn parse(
        trust_name: &str,
        name: &str,
        bytes: &[u8],
    ) -> std::result::Result<ParsedSignature, String> {
        let (key_id, alg) = parse_trust_signature_name(trust_name, name).ok_or_else(|| {
            format!("`{name}` is not named {trust_name}.root-KEYID.minisig or .mldsa87")
        })?;
        let sig = match alg {
            SigAlg::Ed25519 => {
                let file = MinisignFile::parse(bytes).map_err(|e| format!("`{name}`: {e}"))?;
                if file.key_id != key_id {
                    return Err(format!(
                        "`{name}`: the file name names key {key_id}, the signature key {}",
                        file.key_id
                    ));
                }
                RootSignature::Minisign(file)
            }
            SigAlg::MlDsa87 => {
                if bytes.len() as u64 > MAX_ROOT_SIGNATURE_BYTES {
                    return Err(format!(
                        "`{name}` is larger than {MAX_ROOT_SIGNATURE_BYTES} bytes"
                    ));
                }
                let file = MlDsaFile::parse(bytes).map_err(|e| format!("`{name}`: {e}"))?;
                let statement =
                    TrustStatement::parse(&file.statement).map_err(|e| format!("`{name}`: {e}"))?;
                RootSignature::MlDsa87 { file, statement }
            }
        };
        Ok((key_id, alg, sig))
    }

    /// Verifies it over the trust file `bytes` (parsed as `trust`) under `key`.
    fn verify(
        &self,
        key: &TrustedKey,
        bytes: &[u8],
        trust: &Trust,
    ) -> std::result::Result<(), String> {
        match (self, &key.public) {
            (RootSignature::Minisign(f), TrustedPublic::Ed25519(pk)) => f.verify(pk, bytes),
            (RootSignature::MlDsa87 { file, statement }, TrustedPublic::MlDsa87(der)) => {
                file.verify(der)?;
                if statement.digest != HashAlg::Sha384.digest(bytes) {
                    return Err(format!(
                        "its statement binds {}, not this trust file's SHA-384",
                        statement.digest.prefixed()
                    ));
                }
                if statement.site != trust.site || statement.version != trust.version {
                    return Err(format!(
                        "its statement names site {} version {}; the file is site {} version {}",
                        statement.site, statement.version, trust.site, trust.version
                    ));
                }
                Ok(())
            }
            _ => Err(format!(
                "it names key {}, which is an {} key",
                key.id, key.alg
            )),
        }
    }
}

fn file_name_of(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::config(
                path,
                "the trust file has no UTF-8 file name",
                "pass the path of a trust file such as trust-v2.toml",
            )
        })
}

impl TrustUpdate {
    /// Reads the trust file at `path` and every `NAME.root-*.minisig` / `NAME.root-*.mldsa87`
    /// beside it.
    pub fn load(path: &Path) -> Result<TrustUpdate> {
        let name = file_name_of(path)?;
        let bytes = crate::util::fs::read_input(path, "trust file", CONFIG_CAP)?;
        let dir = crate::util::output::parent_dir(path);
        let mut signatures = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let Some(file) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if parse_trust_signature_name(&name, &file).is_none() {
                continue;
            }
            if signatures.len() == MAX_ROOT_SIGNATURES {
                return Err(Error::config(
                    path,
                    format!("more than {MAX_ROOT_SIGNATURES} root signatures beside it"),
                    "remove signatures that are not needed",
                ));
            }
            let sig = crate::util::fs::read_input(
                &entry.path(),
                "root signature",
                MAX_ROOT_SIGNATURE_BYTES,
            )?;
            signatures.push((file, sig));
        }
        signatures.sort();
        Ok(TrustUpdate {
            origin: path.to_path_buf(),
            name,
            bytes,
            signatures,
        })
    }

    /// Parses the candidate as a trust file (a configuration error if it is not one, or has no
    /// root role) and its signature files (strictly; what is refused is named).
    fn parse(&self) -> Result<(Trust, Vec<ParsedSignature>)> {
        let text = std::str::from_utf8(&self.bytes).map_err(|_| {
            Error::config(
                &self.origin,
                "the trust file is not UTF-8 text",
                "save it as UTF-8 TOML",
            )
        })?;
        let trust = Trust::parse(text).map_err(|e| {
            Error::config(
                &self.origin,
                e,
                "fix the trust update and have the root keys sign it again",
            )
        })?;
        if !trust.roles.contains_key(&Role::Root) {
            return Err(Error::config(
                &self.origin,
                "the trust update has no [roles.root]: the site could never rotate its keys again",
                "add [roles.root] with the root keys and a threshold, then sign it again",
            ));
        }
        let mut sigs = Vec::with_capacity(self.signatures.len());
        for (file, bytes) in &self.signatures {
            sigs.push(
                RootSignature::parse(&self.name, file, bytes)
                    .map_err(|d| self.refuse("signature", d))?,
            );
        }
        Ok((trust, sigs))
    }

    fn refuse(&self, rule: &'static str, detail: impl Into<String>) -> Error {
        Error::TrustRefused {
            file: self.origin.clone(),
            rule,
            detail: detail.into(),
        }
    }

    /// Checks the update's form without a current trust file (what `pack` can check of a trust
    /// artifact): it parses, has a root role, and its signature files parse.
    pub fn check_form(&self) -> Result<()> {
        self.parse().map(|_| ())
    }
}

/// How a role's threshold was met by an update's root signatures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RootCount {
    /// The threshold.
    pub threshold: usize,
    /// Distinct root signers counted.
    pub counted: usize,
    /// Every root signature and how it was judged.
    pub signers: Vec<SignerReport>,
}

/// What happened to the current trust file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOutcome {
    /// The current trust file was replaced by the update.
    Applied,
    /// The current trust file already is the update (byte for byte): nothing written.
    AlreadyCurrent,
    /// Every rule holds; nothing was written (`--dry-run`, or before an unpack installs).
    WouldApply,
}

/// The result of a trust update.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpdateReport {
    /// The trust file in place.
    pub trust: PathBuf,
    /// The update.
    pub update: PathBuf,
    /// The site.
    pub site: String,
    /// The version in place before.
    pub from_version: u64,
    /// The update's version.
    pub to_version: u64,
    /// What happened.
    pub outcome: UpdateOutcome,
    /// The update's signatures counted against the current root keys (empty when already current).
    pub current_root: Option<RootCount>,
    /// The update's signatures counted against its own root keys.
    pub new_root: Option<RootCount>,
}

fn count_root(
    update: &TrustUpdate,
    judge: &Trust,
    new: &Trust,
    sigs: &[ParsedSignature],
    rule: &'static str,
    which: &str,
) -> Result<RootCount> {
    let claims: Vec<Claim> = sigs
        .iter()
        .zip(&update.signatures)
        .map(|((key_id, alg, sig), (file, _))| Claim {
            file: file.clone(),
            key_id: key_id.clone(),
            algorithm: *alg,
            role: Role::Root,
            signed: match sig {
                RootSignature::MlDsa87 { statement, .. } => statement.signed.to_string(),
                RootSignature::Minisign(_) => String::new(),
            },
        })
        .collect();
    let (signers, counts) = tally(judge, &claims, |i, key| {
        sigs[i]
            .2
            .verify(key, &update.bytes, new)
            .map_err(|d| format!("root signature `{}`: {d}", claims[i].file))
    })
    .map_err(|d| update.refuse("signature", d))?;
    let rt = judge.roles.get(&Role::Root).ok_or_else(|| {
        Error::Internal("count_root called for a trust file without a root role".into())
    })?;
    let counted = counts.get(&Role::Root).copied().unwrap_or(0);
    if counted < rt.threshold {
        return Err(update.refuse(
            rule,
            shortfall(
                Role::Root,
                rt,
                counted,
                &signers,
                crate::format::manifest::Suite::Cnsa2,
                &format!(" of the {which} trust file"),
            ),
        ));
    }
    Ok(RootCount {
        threshold: rt.threshold,
        counted,
        signers,
    })
}

/// Judges `update` against the trust file `current` (parsed from `current_bytes`, read from
/// `current_path`): the rules of the module documentation, in the order site, version, current
/// root threshold, new root threshold.
pub fn check(
    current_path: &Path,
    current_bytes: &[u8],
    current: &Trust,
    update: &TrustUpdate,
) -> Result<UpdateReport> {
    let (new, sigs) = update.parse()?;
    let mut report = UpdateReport {
        trust: current_path.to_path_buf(),
        update: update.origin.clone(),
        site: new.site.clone(),
        from_version: current.version,
        to_version: new.version,
        outcome: UpdateOutcome::WouldApply,
        current_root: None,
        new_root: None,
    };
    if update.bytes == current_bytes {
        report.outcome = UpdateOutcome::AlreadyCurrent;
        return Ok(report);
    }
    if !current.roles.contains_key(&Role::Root) {
        return Err(Error::config(
            current_path,
            "the trust file in place has no [roles.root], so no signed update can replace it",
            "replace it by hand once with a trust file that has [roles.root] (and a version); later updates can then be signed",
        ));
    }
    if new.site != current.site {
        return Err(update.refuse(
            "site",
            format!(
                "the update is for site `{}`, this site is `{}`",
                new.site, current.site
            ),
        ));
    }
    if new.version <= current.version {
        return Err(update.refuse(
            "version",
            format!(
                "the update has version {}, which is not above the current version {} (a rollback or a replay)",
                new.version, current.version
            ),
        ));
    }
    report.current_root = Some(count_root(
        update,
        current,
        &new,
        &sigs,
        "current-root",
        "current",
    )?);
    report.new_root = Some(count_root(update, &new, &new, &sigs, "new-root", "new")?);
    Ok(report)
}

fn lock_path(current: &Path) -> Result<PathBuf> {
    let name = file_name_of(current)?;
    Ok(crate::util::output::parent_dir(current).join(format!(".{name}.airlock-lock")))
}

/// Applies `update` to the trust file at `current_path`: under a lock beside it, re-reads it,
/// [`check`]s the update, and (unless `dry_run`) replaces it atomically (temporary file, fsync,
/// rename, directory fsync). A refused update leaves the file untouched.
pub fn apply(current_path: &Path, update: &TrustUpdate, dry_run: bool) -> Result<UpdateReport> {
    let _lock = if dry_run {
        None
    } else {
        Some(DirLock::acquire(&lock_path(current_path)?)?)
    };
    let current_bytes = crate::util::fs::read_input(current_path, "trust file", CONFIG_CAP)?;
    let text = std::str::from_utf8(&current_bytes).map_err(|_| {
        Error::config(
            current_path,
            "the trust file is not UTF-8 text",
            "save it as UTF-8 TOML",
        )
    })?;
    let current = Trust::parse(text).map_err(|e| {
        Error::config(
            current_path,
            e,
            "fix the trust file in place (docs/format.md 8.5)",
        )
    })?;
    let mut report = check(current_path, &current_bytes, &current, update)?;
    if !dry_run && report.outcome == UpdateOutcome::WouldApply {
        crate::util::output::write_atomic(current_path, &update.bytes)?;
        report.outcome = UpdateOutcome::Applied;
    }
    Ok(report)
}

/// `airlock trust sign TRUST --key KEY`: one root signature over the trust file at `path`, written
/// beside it as `NAME.root-KEYID.minisig` (an Ed25519 key: minisign over the file's exact bytes,
/// trusted comment `airlock-trust/1 site=.. version=.. sha256=.. signed=..`) or
/// `NAME.root-KEYID.mldsa87` (ML-DSA-87 over the statement with `sha384=`). Refuses a file that
/// is not a trust file with a root role, and a key that already signed it.
pub fn sign(path: &Path, key: &Signer, now: Timestamp) -> Result<PathBuf> {
    let update = TrustUpdate::load_bare(path)?;
    let (trust, _) = update.parse()?;
    let alg = key.algorithm();
    let statement = |hash: HashAlg| {
        TrustStatement {
            site: trust.site.clone(),
            version: trust.version,
            digest: hash.digest(&update.bytes),
            signed: now,
        }
        .render()
    };
    let text = match alg {
        SigAlg::Ed25519 => key.sign_minisign(
            &update.bytes,
            &statement(HashAlg::Sha256),
            "airlock root signature",
        )?,
        SigAlg::MlDsa87 => key.sign_statement(&statement(HashAlg::Sha384))?,
    };
    let out = crate::util::output::parent_dir(path).join(trust_signature_name(
        &update.name,
        key.id(),
        alg,
    ));
    if std::fs::symlink_metadata(&out).is_ok() {
        return Err(Error::config(
            &out,
            format!("key {} has already signed this trust file", key.id()),
            "nothing to do for that key; remove the file first to sign again",
        ));
    }
    crate::util::output::write_atomic(&out, text.as_bytes())?;
    Ok(out)
}

impl TrustUpdate {
    /// The trust file alone, without looking for signatures.
    fn load_bare(path: &Path) -> Result<TrustUpdate> {
        Ok(TrustUpdate {
            origin: path.to_path_buf(),
            name: file_name_of(path)?,
            bytes: crate::util::fs::read_input(path, "trust file", CONFIG_CAP)?,
            signatures: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_names_round_trip() {
        let name = trust_signature_name("trust.toml", "0123456789ABCDEF", SigAlg::MlDsa87);
        assert_eq!(name, "trust.toml.root-0123456789ABCDEF.mldsa87");
        assert_eq!(
            parse_trust_signature_name("trust.toml", &name),
            Some(("0123456789ABCDEF".into(), SigAlg::MlDsa87))
        );
        for bad in [
            "trust.toml.root-0123456789abcdef.minisig",
            "trust.toml.root-0123.minisig",
            "other.toml.root-0123456789ABCDEF.minisig",
            "trust.toml.release-0123456789ABCDEF.minisig",
            "trust.toml.root-0123456789ABCDEF.sig",
        ] {
            assert_eq!(parse_trust_signature_name("trust.toml", bad), None, "{bad}");
        }
    }

    #[test]
    fn statements_round_trip() {
        let s = TrustStatement {
            site: "aws-secret".into(),
            version: 7,
            digest: HashAlg::Sha384.digest(b"x"),
            signed: Timestamp::parse("2026-11-22T00:00:00Z").unwrap(),
        };
        assert_eq!(TrustStatement::parse(&s.render()).unwrap(), s);
        assert!(TrustStatement::parse(&s.render().replace("version=7", "version=07")).is_err());
        assert!(TrustStatement::parse(&format!("{} extra=1", s.render())).is_err());
    }
}
