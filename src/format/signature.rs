//! Signature files. [`MinisignFile`] is the one parser for every minisign signature airlock
//! reads (a bundle's `airlock/signatures/ROLE-KEYID.minisig`, a policy's `*.minisig`): strict
//! structure first, so nothing malformed reaches the minisign crate's verifier, which panics on some
//! malformed input. On top of it, [`ParsedSignature`] binds a manifest signature's trusted comment
//! to the bundle's identity, the manifest's sha256, the signer's role and the signing time
//! (`docs/format.md` section 5).
use crate::format::digest::{Digest, hex, parse_hex_digest};
use crate::format::manifest::BundleInfo;
use crate::format::time::Timestamp;
use base64::Engine as _;
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
    /// Signing time.
    pub signed: Timestamp,
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
            self.signed
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
            signed: Timestamp::parse(&field("signed")?)
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

/// A key id: minisign's 8-byte key number as 16 upper-case hex digits (the little-endian u64).
pub fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    let n = keynum.len().min(8);
    bytes[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

/// Largest signature file airlock reads (a minisign signature is about 300 bytes): the format's
/// [`crate::format::MAX_SIGNATURE_BYTES`], for manifest and policy signatures alike.
pub const MAX_SIGNATURE_FILE_BYTES: usize = crate::format::MAX_SIGNATURE_BYTES as usize;

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";

/// A minisign signature file that has passed airlock's structural checks, not yet verified.
///
/// The accepted form is exactly what minisign writes: four lines, each ended by `\n` (no `\r`),
/// `untrusted comment: TEXT`, the base64 (standard alphabet, padded) of 74 bytes
/// `ED || keynum(8) || signature(64)` (prehashed; legacy `Ed` signatures are refused),
/// `trusted comment: TEXT` (no leading or trailing white space, since that is what gets signed),
/// and the base64 of the 64-byte global signature; at most [`MAX_SIGNATURE_FILE_BYTES`] bytes.
#[derive(Clone)]
pub struct MinisignFile {
    /// The untrusted comment (not covered by the signature).
    pub untrusted_comment: String,
    /// The trusted comment (covered by the global signature).
    pub trusted_comment: String,
    /// The signer's key number as it appears in the file (NOT covered by the signature: a key id
    /// selects a candidate key, it never decides who signed).
    pub keynum: [u8; 8],
    /// `keynum` as 16 upper-case hex digits.
    pub key_id: String,
    signature: SignatureBox,
}

fn decode_exact(line: &str, len: usize, what: &str) -> Result<Vec<u8>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| format!("{what} is not base64: `{}`", line.escape_debug()))?;
    if bytes.len() != len {
        return Err(format!(
            "{what} decodes to {} bytes; a minisign file has {len}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

impl MinisignFile {
    /// Parses a signature file strictly; the error says which line is wrong and how.
    pub fn parse(bytes: &[u8]) -> Result<MinisignFile, String> {
        if bytes.len() > MAX_SIGNATURE_FILE_BYTES {
            return Err(format!(
                "{} bytes is too large for a signature file (at most {MAX_SIGNATURE_FILE_BYTES})",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        if text.contains('\r') {
            return Err(
                "has a carriage return: line endings must be `\\n` as minisign writes them".into(),
            );
        }
        let Some(body) = text.strip_suffix('\n') else {
            return Err("does not end with a line break".into());
        };
        let lines: Vec<&str> = body.split('\n').collect();
        let [untrusted, sig_line, trusted, global_line] = lines[..] else {
            return Err(format!(
                "has {} lines; a minisign signature has exactly 4",
                lines.len()
            ));
        };
        let untrusted_comment = untrusted
            .strip_prefix(UNTRUSTED_PREFIX)
            .ok_or("line 1 does not start with `untrusted comment: `")?;
        let sig = decode_exact(sig_line, 74, "line 2 (the signature)")?;
        match &sig[..2] {
            b"ED" => {}
            b"Ed" => return Err("legacy (non-prehashed) minisign signatures are refused".into()),
            other => {
                return Err(format!(
                    "line 2 names signature algorithm {other:?}; only minisign's prehashed `ED` is accepted"
                ));
            }
        }
        let trusted_comment = trusted
            .strip_prefix(TRUSTED_PREFIX)
            .ok_or("line 3 does not start with `trusted comment: `")?;
        if trusted_comment.trim() != trusted_comment {
            return Err("the trusted comment has leading or trailing white space".into());
        }
        decode_exact(global_line, 64, "line 4 (the global signature)")?;
        let signature = SignatureBox::from_string(text)
            .map_err(|e| format!("not a minisign signature: {e}"))?;
        let keynum: [u8; 8] = sig[2..10].try_into().expect("74 bytes checked above");
        Ok(MinisignFile {
            untrusted_comment: untrusted_comment.to_string(),
            trusted_comment: trusted_comment.to_string(),
            key_id: key_id(&keynum),
            keynum,
            signature,
        })
    }

    /// Checks the signature over `message` and the global signature over the trusted comment,
    /// under `key`. The file's key id must be `key`'s (minisign's own rule); which key that is was
    /// decided by the caller.
    pub fn verify(&self, key: &PublicKey, message: &[u8]) -> Result<(), String> {
        minisign::verify(
            key,
            &self.signature,
            Cursor::new(message),
            true,
            false,
            false,
        )
        .map_err(|e| e.to_string())
    }
}

/// A manifest signature file that parsed and agrees with the manifest; not yet checked
/// cryptographically.
#[derive(Clone)]
pub struct ParsedSignature {
    /// File name under `airlock/signatures/`.
    pub file_name: String,
    /// Key id from the signature.
    pub key_id: String,
    /// The trusted comment.
    pub comment: TrustedComment,
    file: MinisignFile,
}

impl ParsedSignature {
    /// Parses a signature file and checks it against the manifest's identity and digest.
    pub fn parse(
        file_name: &str,
        bytes: &[u8],
        bundle: &BundleInfo,
        manifest_sha256: &Digest,
    ) -> Result<ParsedSignature, String> {
        let file = MinisignFile::parse(bytes).map_err(|e| format!("{file_name}: {e}"))?;
        let comment = TrustedComment::parse(&file.trusted_comment)
            .map_err(|e| format!("{file_name}: {e}"))?;
        if file_name != self::file_name(comment.role, &file.key_id) {
            return Err(format!(
                "{file_name}: the file name disagrees with the signature (role {}, key {})",
                comment.role, file.key_id
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
            key_id: file.key_id.clone(),
            comment,
            file,
        })
    }

    /// Checks the signature and its trusted comment against `key` over `manifest_bytes`.
    pub fn verify(&self, key: &PublicKey, manifest_bytes: &[u8]) -> Result<(), String> {
        self.file
            .verify(key, manifest_bytes)
            .map_err(|e| format!("{}: {e}", self.file_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genuine() -> String {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        minisign::sign(
            Some(&pair.pk),
            &pair.sk,
            Cursor::new(b"message"),
            Some("comment"),
            Some("untrusted"),
        )
        .unwrap()
        .into_string()
    }

    #[test]
    fn a_genuine_minisign_file_parses() {
        let f = MinisignFile::parse(genuine().as_bytes()).unwrap();
        assert_eq!(f.trusted_comment, "comment");
        assert_eq!(f.untrusted_comment, "untrusted");
    }

    #[test]
    fn every_malformed_line_is_refused_without_reaching_minisign() {
        let good = genuine();
        let lines: Vec<&str> = good.lines().collect();
        let with = |i: usize, line: &str| {
            let mut l = lines.clone();
            l[i] = line;
            format!("{}\n", l.join("\n"))
        };
        for (case, text) in [
            ("short global signature", with(3, "AAAA")),
            ("empty global signature", with(3, "")),
            (
                "long global signature",
                with(3, &format!("{}AAAA", lines[3])),
            ),
            ("short signature", with(1, "RUQ=")),
            ("no untrusted prefix", with(0, "comment: x")),
            ("no trusted prefix", with(2, "comment: x")),
            ("padded trusted comment", with(2, "trusted comment: x ")),
            ("crlf", good.replace('\n', "\r\n")),
            ("no final newline", good.trim_end().to_string()),
            ("five lines", format!("{good}extra\n")),
            ("three lines", format!("{}\n", lines[..3].join("\n"))),
        ] {
            assert!(
                MinisignFile::parse(text.as_bytes()).is_err(),
                "{case} was accepted"
            );
        }
        let legacy = {
            let mut raw = base64::engine::general_purpose::STANDARD
                .decode(lines[1])
                .unwrap();
            raw[1] = b'd';
            base64::engine::general_purpose::STANDARD.encode(raw)
        };
        let err = MinisignFile::parse(with(1, &legacy).as_bytes())
            .err()
            .unwrap();
        assert!(err.contains("legacy"), "{err}");
    }
}
