//! Signature files. [`MinisignFile`] is the one parser for every minisign signature airlock reads
//! (a bundle's `airlock/signatures/ROLE-KEYID.minisig`, a policy's `*.minisig`) and
//! [`MlDsaFile`] the one parser for every ML-DSA-87 signature (`*.mldsa87`): strict structure
//! first, so nothing malformed reaches a verifier. On top of them, [`ParsedSignature`] binds a
//! manifest signature's statement (the minisign trusted comment, or the signed first line of an
//! ML-DSA file) to the bundle's identity, the manifest's digest, the signer's role and the signing
//! time (`docs/format.md` section 5). Verification with a key is `trust::keys`' job.
use crate::format::digest::{Digest, HashAlg};
use crate::format::manifest::BundleInfo;
use crate::format::time::Timestamp;
use base64::Engine as _;
use minisign::{PublicKey, SignatureBox};

/// A signature algorithm airlock accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum SigAlg {
    /// Ed25519, in minisign's prehashed form.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ML-DSA-87 (FIPS 204), pure, empty context.
    #[serde(rename = "ml-dsa-87")]
    MlDsa87,
}

impl SigAlg {
    /// `ed25519` or `ml-dsa-87`, as trust files and reports name it.
    pub fn name(self) -> &'static str {
        match self {
            SigAlg::Ed25519 => "ed25519",
            SigAlg::MlDsa87 => "ml-dsa-87",
        }
    }

    /// Parses `ed25519` or `ml-dsa-87`.
    pub fn parse(text: &str) -> Option<SigAlg> {
        match text {
            "ed25519" => Some(SigAlg::Ed25519),
            "ml-dsa-87" => Some(SigAlg::MlDsa87),
            _ => None,
        }
    }

    /// The signature file extension: `minisig` or `mldsa87`.
    pub fn extension(self) -> &'static str {
        match self {
            SigAlg::Ed25519 => "minisig",
            SigAlg::MlDsa87 => "mldsa87",
        }
    }
}

impl fmt::Display for SigAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
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
    /// Signs the receiving side's trust file (key rotation, `docs/format.md` 8.9); never a bundle.
    Root,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Policy => "policy",
            Role::Release => "release",
            Role::Transfer => "transfer",
            Role::Root => "root",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "policy" => Some(Role::Policy),
            "release" => Some(Role::Release),
            "transfer" => Some(Role::Transfer),
            "root" => Some(Role::Root),
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
    /// The suite's digest of the manifest bytes (`manifest_sha256=` or `manifest_sha384=`).
    pub manifest_digest: Digest,
    /// Signer's role.
    pub role: Role,
    /// Signing time.
    pub signed: Timestamp,
}

impl TrustedComment {
    /// The one-line text.
    pub fn render(&self) -> String {
        format!(
            "{COMMENT_TAG} name={} version={} sequence={} target={} manifest_{}={} role={} signed={}",
            self.name,
            self.version,
            self.sequence,
            self.target,
            self.manifest_digest.alg().name(),
            self.manifest_digest.hex(),
            self.role,
            self.signed
        )
    }

    /// Parses the exact form `render` writes.
    pub fn parse(text: &str) -> Result<TrustedComment, String> {
        let parts: Vec<&str> = text.split(' ').collect();
        if parts.first() != Some(&COMMENT_TAG) {
            return Err(format!(
                "trusted comment does not start with `{COMMENT_TAG}`: `{text}`"
            ));
        }
        let field = |i: usize, key: &str| {
            parts
                .get(i)
                .and_then(|p| p.strip_prefix(key)?.strip_prefix('='))
                .ok_or_else(|| format!("trusted comment lacks `{key}=` in its place: `{text}`"))
        };
        let digest_part = parts.get(5).copied().unwrap_or("");
        let (alg, digest_text) = if let Some(v) = digest_part.strip_prefix("manifest_sha256=") {
            (HashAlg::Sha256, v)
        } else if let Some(v) = digest_part.strip_prefix("manifest_sha384=") {
            (HashAlg::Sha384, v)
        } else {
            return Err(format!(
                "trusted comment lacks `manifest_sha256=` or `manifest_sha384=` in its place: `{text}`"
            ));
        };
        let comment = TrustedComment {
            name: field(1, "name")?.to_string(),
            version: field(2, "version")?.to_string(),
            sequence: field(3, "sequence")?
                .parse()
                .map_err(|_| "trusted comment sequence is not a number".to_string())?,
            target: field(4, "target")?.to_string(),
            manifest_digest: alg.parse_hex(digest_text).ok_or_else(|| {
                format!(
                    "trusted comment manifest_{} is not {} lowercase hex digits",
                    alg.name(),
                    2 * alg.len()
                )
            })?,
            role: match Role::parse(field(6, "role")?) {
                Some(Role::Root) => {
                    return Err(
                        "trusted comment role is root: root keys sign trust files, not bundles"
                            .into(),
                    );
                }
                Some(role) => role,
                None => return Err("trusted comment role is unknown".into()),
            },
            signed: Timestamp::parse(field(7, "signed")?)
                .ok_or("trusted comment signed time is malformed")?,
        };
        if parts.len() != 8 || comment.render() != text {
            return Err(format!(
                "trusted comment is not in canonical form: `{text}`"
            ));
        }
        Ok(comment)
    }
}

/// The signature file name for a role, key id and algorithm: `ROLE-KEYID.minisig` or
/// `ROLE-KEYID.mldsa87`.
pub fn file_name(role: Role, key_id: &str, alg: SigAlg) -> String {
    format!("{role}-{key_id}.{}", alg.extension())
}

/// The key id of an ML-DSA-87 public key: the first 8 bytes of the SHA-384 of its
/// SubjectPublicKeyInfo DER, as 16 upper-case hex digits.
pub fn mldsa_key_id(spki_der: &[u8]) -> String {
    HashAlg::Sha384.digest(spki_der).as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
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

/// Length of an ML-DSA-87 signature (FIPS 204).
pub const MLDSA87_SIGNATURE_LEN: usize = 4627;
/// Longest statement line an ML-DSA signature file may carry.
pub const MAX_STATEMENT_BYTES: usize = 1024;

/// An ML-DSA-87 signature file (`*.mldsa87`), parsed strictly, not yet verified:
///
/// ```text
/// STATEMENT\n              printable ASCII, at most 1024 bytes: what is signed
/// BASE64(SIGNATURE)\n      standard alphabet, padded; 4627 bytes
/// ```
///
/// The signed message is the statement line *including* its line break, so
/// `head -n1 FILE > statement` reproduces it for an independent verifier (`docs/format.md` 5.2).
#[derive(Clone)]
pub struct MlDsaFile {
    /// The statement line, without its line break.
    pub statement: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl MlDsaFile {
    /// Parses an ML-DSA signature file; the error says which line is wrong.
    pub fn parse(bytes: &[u8]) -> Result<MlDsaFile, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        if text.contains('\r') {
            return Err("has a carriage return: line endings must be `\\n`".into());
        }
        let body = text
            .strip_suffix('\n')
            .ok_or("does not end with a line break")?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [statement, sig_line] = lines[..] else {
            return Err(format!(
                "has {} lines; an ML-DSA signature file has exactly 2 (statement, signature)",
                lines.len()
            ));
        };
        if statement.is_empty()
            || statement.len() > MAX_STATEMENT_BYTES
            || !statement.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(format!(
                "line 1 (the statement) must be 1 to {MAX_STATEMENT_BYTES} bytes of printable ASCII"
            ));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(sig_line)
            .map_err(|_| "line 2 (the signature) is not base64".to_string())?;
        if signature.len() != MLDSA87_SIGNATURE_LEN {
            return Err(format!(
                "line 2 (the signature) decodes to {} bytes; an ML-DSA-87 signature has {MLDSA87_SIGNATURE_LEN}",
                signature.len()
            ));
        }
        Ok(MlDsaFile {
            statement: statement.to_string(),
            signature,
        })
    }

    /// The file's text for `statement` and `signature`.
    pub fn render(statement: &str, signature: &[u8]) -> String {
        format!(
            "{statement}\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(signature)
        )
    }

    /// The signed message: the statement line and its line break.
    pub fn message(&self) -> Vec<u8> {
        format!("{}\n", self.statement).into_bytes()
    }

    /// Verifies the signature over the statement under `spki_der`, an ML-DSA-87
    /// SubjectPublicKeyInfo (the caller chose the key by id).
    pub fn verify(&self, spki_der: &[u8]) -> Result<(), String> {
        use aws_lc_rs::signature::{ML_DSA_87, ParsedPublicKey};
        let key = ParsedPublicKey::new(&ML_DSA_87, spki_der)
            .map_err(|_| "the trusted ML-DSA-87 key does not parse".to_string())?;
        key.verify_sig(&self.message(), &self.signature)
            .map_err(|_| "ML-DSA-87 signature verification failed".to_string())
    }
}

/// The cryptographic part of a parsed manifest signature.
#[derive(Clone)]
pub enum SignatureBody {
    /// A minisign file: the trusted comment is the statement; the signature is over the manifest.
    Minisign(MinisignFile),
    /// An ML-DSA-87 file: the signature is over the statement, which binds the manifest digest.
    MlDsa87(MlDsaFile),
}

/// A manifest signature file that parsed and agrees with the manifest; not yet checked
/// cryptographically.
#[derive(Clone)]
pub struct ParsedSignature {
    /// File name under `airlock/signatures/`.
    pub file_name: String,
    /// Key id from the file name (for minisign, also inside the file).
    pub key_id: String,
    /// The algorithm.
    pub algorithm: SigAlg,
    /// The statement: what the signature binds.
    pub comment: TrustedComment,
    /// The signature itself.
    pub body: SignatureBody,
}

impl ParsedSignature {
    /// Parses a signature file (`.minisig` or `.mldsa87`) and checks its statement against the
    /// manifest's identity and digest.
    pub fn parse(
        file_name: &str,
        bytes: &[u8],
        bundle: &BundleInfo,
        manifest_digest: &Digest,
    ) -> Result<ParsedSignature, String> {
        let at = |e: String| format!("{file_name}: {e}");
        let (algorithm, key_id, statement, body) = if file_name.ends_with(".minisig") {
            let file = MinisignFile::parse(bytes).map_err(at)?;
            (
                SigAlg::Ed25519,
                file.key_id.clone(),
                file.trusted_comment.clone(),
                SignatureBody::Minisign(file),
            )
        } else if let Some(stem) = file_name.strip_suffix(".mldsa87") {
            let file = MlDsaFile::parse(bytes).map_err(at)?;
            let key_id = stem
                .rsplit_once('-')
                .map(|(_, id)| id.to_string())
                .unwrap_or_default();
            (
                SigAlg::MlDsa87,
                key_id,
                file.statement.clone(),
                SignatureBody::MlDsa87(file),
            )
        } else {
            return Err(format!(
                "{file_name}: a signature file is named ROLE-KEYID.minisig or ROLE-KEYID.mldsa87"
            ));
        };
        let comment = TrustedComment::parse(&statement).map_err(at)?;
        if file_name != self::file_name(comment.role, &key_id, algorithm) {
            return Err(format!(
                "{file_name}: the file name disagrees with the signature (role {}, key {key_id})",
                comment.role
            ));
        }
        let bound = comment.name == bundle.name
            && comment.version == bundle.version
            && comment.sequence == bundle.sequence
            && comment.target == bundle.target;
        if !bound || comment.manifest_digest != *manifest_digest {
            return Err(format!(
                "{file_name}: the {} names another bundle or manifest (`{}`)",
                match algorithm {
                    SigAlg::Ed25519 => "trusted comment",
                    SigAlg::MlDsa87 => "statement",
                },
                comment.render()
            ));
        }
        Ok(ParsedSignature {
            file_name: file_name.to_string(),
            key_id,
            algorithm,
            comment,
            body,
        })
    }
}

/// The statement an ML-DSA-87 signature over a policy file carries (`docs/format.md` 8.1):
/// `airlock-policy/1 id=ID version=N sha384=HEX signed=TIME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatement {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u64,
    /// Digest of the policy file's bytes.
    pub digest: Digest,
    /// Signing time.
    pub signed: Timestamp,
}

impl PolicyStatement {
    /// The one-line text.
    pub fn render(&self) -> String {
        render_statement(
            "airlock-policy/1",
            [("id", &self.id), ("version", &self.version.to_string())],
            &self.digest,
            self.signed,
        )
    }

    /// Parses the exact form `render` writes.
    pub fn parse(text: &str) -> Result<PolicyStatement, String> {
        let ([id, version], digest, signed) =
            parse_statement(text, "airlock-policy/1", "policy", ["id", "version"])?;
        let statement = PolicyStatement {
            id: id.to_string(),
            version: version
                .parse()
                .map_err(|_| "policy statement version is not a number".to_string())?,
            digest,
            signed,
        };
        canonical(statement.render() == text, "policy", text)?;
        Ok(statement)
    }
}

/// `TAG K1=V1 K2=V2 ALG=HEX signed=TIME`: the one-line statement an ML-DSA-87 signature over a
/// policy or trust file signs (`docs/format.md` 8.1, 8.9).
fn render_statement(
    tag: &str,
    fields: [(&str, &str); 2],
    digest: &Digest,
    signed: Timestamp,
) -> String {
    format!(
        "{tag} {}={} {}={} {}={} signed={signed}",
        fields[0].0,
        fields[0].1,
        fields[1].0,
        fields[1].1,
        digest.alg().name(),
        digest.hex(),
    )
}

/// Splits a statement of the form [`render_statement`] writes: the two named fields' values, the
/// digest (sha384, or sha256 for a minisign comment) and the signing time. The caller rebuilds
/// the statement and compares it with `text` ([`canonical`]), so only the exact form is accepted.
fn parse_statement<'t>(
    text: &'t str,
    tag: &str,
    what: &str,
    keys: [&str; 2],
) -> Result<([&'t str; 2], Digest, Timestamp), String> {
    let parts: Vec<&str> = text.split(' ').collect();
    let field = |i: usize, key: &str| {
        parts
            .get(i)
            .and_then(|p| p.strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| format!("{what} statement lacks `{key}=` in its place: `{text}`"))
    };
    if parts.first() != Some(&tag) {
        return Err(format!(
            "{what} statement does not start with `{tag}`: `{text}`"
        ));
    }
    let digest = field(3, "sha384")
        .ok()
        .and_then(|h| HashAlg::Sha384.parse_hex(h))
        .or_else(|| {
            field(3, "sha256")
                .ok()
                .and_then(|h| HashAlg::Sha256.parse_hex(h))
        })
        .ok_or_else(|| format!("{what} statement lacks a sha384= digest: `{text}`"))?;
    let signed = Timestamp::parse(field(4, "signed")?)
        .ok_or_else(|| format!("{what} statement signed time is malformed"))?;
    let values = [field(1, keys[0])?, field(2, keys[1])?];
    canonical(parts.len() == 5, what, text)?;
    Ok((values, digest, signed))
}

/// Refuses a statement whose re-rendering differs from its text.
fn canonical(same: bool, what: &str, text: &str) -> Result<(), String> {
    if same {
        Ok(())
    } else {
        Err(format!(
            "{what} statement is not in canonical form: `{text}`"
        ))
    }
}

/// The statement a signature over a trust file carries (`docs/format.md` 8.9):
/// `airlock-trust/1 site=SITE version=N sha384=HEX signed=TIME` (an ML-DSA-87 signature signs
/// it, so it must bind the file by SHA-384), or with `sha256=` as the informative trusted comment
/// of a minisign signature, which signs the file's bytes themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStatement {
    /// The trust file's site.
    pub site: String,
    /// The trust file's version.
    pub version: u64,
    /// Digest of the trust file's bytes.
    pub digest: Digest,
    /// Signing time.
    pub signed: Timestamp,
}

impl TrustStatement {
    /// The one-line text.
    pub fn render(&self) -> String {
        render_statement(
            "airlock-trust/1",
            [("site", &self.site), ("version", &self.version.to_string())],
            &self.digest,
            self.signed,
        )
    }

    /// Parses the exact form `render` writes.
    pub fn parse(text: &str) -> Result<TrustStatement, String> {
        let ([site, version], digest, signed) =
            parse_statement(text, "airlock-trust/1", "trust", ["site", "version"])?;
        let statement = TrustStatement {
            site: site.to_string(),
            version: version
                .parse()
                .map_err(|_| "trust statement version is not a number".to_string())?,
            digest,
            signed,
        };
        canonical(statement.render() == text, "trust", text)?;
        Ok(statement)
    }
}

/// The detached root signature file name for the trust file named `trust_name` (its file name,
/// e.g. `trust.toml`): `TRUST_NAME.root-KEYID.minisig` or `TRUST_NAME.root-KEYID.mldsa87`.
pub fn trust_signature_name(trust_name: &str, key_id: &str, alg: SigAlg) -> String {
    format!("{trust_name}.root-{key_id}.{}", alg.extension())
}

/// The key id and algorithm a detached root signature's file name gives, if `name` is one for
/// the trust file named `trust_name`; the key id is 16 upper-case hex digits.
pub fn parse_trust_signature_name(trust_name: &str, name: &str) -> Option<(String, SigAlg)> {
    let rest = name.strip_prefix(trust_name)?.strip_prefix(".root-")?;
    let (id, alg) = if let Some(id) = rest.strip_suffix(".minisig") {
        (id, SigAlg::Ed25519)
    } else {
        (rest.strip_suffix(".mldsa87")?, SigAlg::MlDsa87)
    };
    let hex = |b: u8| b.is_ascii_digit() || (b'A'..=b'F').contains(&b);
    (id.len() == 16 && id.bytes().all(hex)).then(|| (id.to_string(), alg))
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
