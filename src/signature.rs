//! Signature files (`airlock/signatures/ROLE-KEYID.minisig`): minisign signatures over the exact
//! manifest bytes whose trusted comment binds the bundle's identity, the manifest's sha256, the
//! signer's role and the signing time (`docs/format.md` section 5).
use crate::hashing::{Digest, hex, parse_hex_digest};
use crate::keys::{SigningKey, key_id};
use crate::manifest::BundleInfo;
use crate::timefmt::{format_rfc3339, parse_rfc3339};
use minisign::{PublicKey, SignatureBox};
use std::fmt;
use std::io::Cursor;

/// Trust roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Signs the policy manifest.
    Policy,
    /// Signs bundles.
    Release,
    /// Countersigns after reviewing a transfer.
    Transfer,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Policy => "policy",
            Role::Release => "release",
            Role::Transfer => "transfer",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "policy" => Some(Role::Policy),
            "release" => Some(Role::Release),
            "transfer" => Some(Role::Transfer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const COMMENT_TAG: &str = "airlock-bundle/1";

/// The signed trusted comment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrustedComment {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Bundle sequence.
    pub sequence: u64,
    /// Bundle target.
    pub target: String,
    /// sha256 of the manifest bytes.
    #[serde(serialize_with = "serialize_hex")]
    pub manifest_sha256: Digest,
    /// Signer's role.
    pub role: Role,
    /// Signing time, unix seconds.
    pub signed: u64,
}

fn serialize_hex<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(d))
}

impl TrustedComment {
    /// The one-line text.
    pub fn render(&self) -> String {
        format!(
            "{COMMENT_TAG} name={} version={} sequence={} target={} manifest_sha256={} role={} signed={}",
            self.name,
            self.version,
            self.sequence,
            self.target,
            hex(&self.manifest_sha256),
            self.role,
            format_rfc3339(self.signed)
        )
    }

    /// Parses the exact form `render` writes.
    pub fn parse(text: &str) -> Result<TrustedComment, String> {
        let mut parts = text.split(' ');
        if parts.next() != Some(COMMENT_TAG) {
            return Err(format!(
                "trusted comment does not start with `{COMMENT_TAG}`: `{text}`"
            ));
        }
        let mut field = |key: &str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| format!("trusted comment lacks `{key}=` in its place: `{text}`"))
        };
        let comment = TrustedComment {
            name: field("name")?,
            version: field("version")?,
            sequence: field("sequence")?
                .parse()
                .map_err(|_| "trusted comment sequence is not a number".to_string())?,
            target: field("target")?,
            manifest_sha256: parse_hex_digest(&field("manifest_sha256")?)
                .ok_or("trusted comment manifest_sha256 is not 64 hex digits")?,
            role: Role::parse(&field("role")?).ok_or("trusted comment role is unknown")?,
            signed: parse_rfc3339(&field("signed")?)
                .ok_or("trusted comment signed time is malformed")?,
        };
        if parts.next().is_some() || comment.render() != text {
            return Err(format!(
                "trusted comment is not in canonical form: `{text}`"
            ));
        }
        Ok(comment)
    }
}

/// The signature file name for a role and key id.
pub fn file_name(role: Role, key_id: &str) -> String {
    format!("{role}-{key_id}.minisig")
}

/// Signs `manifest_bytes` as `role`; returns the file name and the signature file's text.
pub fn sign_manifest(
    key: &SigningKey,
    manifest_bytes: &[u8],
    bundle: &BundleInfo,
    role: Role,
    now: u64,
) -> Result<(String, String), String> {
    let comment = TrustedComment {
        name: bundle.name.clone(),
        version: bundle.version.clone(),
        sequence: bundle.sequence,
        target: bundle.target.clone(),
        manifest_sha256: crate::hashing::sha256(manifest_bytes),
        role,
        signed: now,
    };
    let sig = minisign::sign(
        Some(&key.public),
        &key.secret,
        Cursor::new(manifest_bytes),
        Some(&comment.render()),
        Some(&format!("airlock {role} signature")),
    )
    .map_err(|e| format!("signing failed: {e}"))?;
    Ok((file_name(role, &key.id), sig.into_string()))
}

/// Checks that the fourth line, the global signature (over signature and trusted comment), is the
/// base64 of exactly 64 bytes. minisign 0.10 decodes it to any length and `minisign::verify` then
/// slices it as 64 bytes, panicking on a shorter one: a truncated line in an otherwise genuine
/// signature file would crash airlock instead of being refused.
fn check_global_signature(text: &str) -> Result<(), String> {
    let line = text.lines().nth(3).unwrap_or("").trim();
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    if line.len() != 88
        || !line.ends_with("==")
        || !line.as_bytes()[..86].iter().all(|&b| base64(b))
    {
        return Err(format!(
            "the global signature (line 4) is not 64 bytes of base64: `{}`",
            line.escape_debug()
        ));
    }
    Ok(())
}

/// A signature file that parsed and agrees with the manifest; not yet checked cryptographically.
#[derive(Clone)]
pub struct ParsedSignature {
    /// File name under `airlock/signatures/`.
    pub file_name: String,
    /// Key id from the signature.
    pub key_id: String,
    /// The trusted comment.
    pub comment: TrustedComment,
    /// The raw file text.
    pub text: String,
    signature: SignatureBox,
}

impl ParsedSignature {
    /// Parses a signature file and checks it against the manifest's identity and digest.
    pub fn parse(
        file_name: &str,
        bytes: &[u8],
        bundle: &BundleInfo,
        manifest_sha256: &Digest,
    ) -> Result<ParsedSignature, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("{file_name}: not UTF-8 text"))?
            .to_string();
        let signature = SignatureBox::from_string(&text)
            .map_err(|e| format!("{file_name}: not a minisign signature: {e}"))?;
        check_global_signature(&text).map_err(|e| format!("{file_name}: {e}"))?;
        if !signature.is_prehashed() {
            return Err(format!(
                "{file_name}: legacy (non-prehashed) minisign signatures are refused"
            ));
        }
        let comment_text = signature
            .trusted_comment()
            .map_err(|_| format!("{file_name}: the signature has no trusted comment"))?;
        let comment =
            TrustedComment::parse(&comment_text).map_err(|e| format!("{file_name}: {e}"))?;
        let key_id = key_id(signature.keynum());
        if file_name != self::file_name(comment.role, &key_id) {
            return Err(format!(
                "{file_name}: the file name disagrees with the signature (role {}, key {key_id})",
                comment.role
            ));
        }
        let bound = comment.name == bundle.name
            && comment.version == bundle.version
            && comment.sequence == bundle.sequence
            && comment.target == bundle.target;
        if !bound || comment.manifest_sha256 != *manifest_sha256 {
            return Err(format!(
                "{file_name}: the trusted comment names another bundle or manifest (`{}`)",
                comment.render()
            ));
        }
        Ok(ParsedSignature {
            file_name: file_name.to_string(),
            key_id,
            comment,
            text,
            signature,
        })
    }

    /// Checks the signature and its trusted comment against `key` over `manifest_bytes`.
    pub fn verify(&self, key: &PublicKey, manifest_bytes: &[u8]) -> Result<(), String> {
        minisign::verify(
            key,
            &self.signature,
            Cursor::new(manifest_bytes),
            true,
            false,
            false,
        )
        .map_err(|e| format!("{}: {e}", self.file_name))
    }
}
