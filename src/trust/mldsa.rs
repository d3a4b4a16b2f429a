//! ML-DSA-87 keys (FIPS 204) in the standard encodings that OpenSSL 3.5+ and pyca/cryptography read
//! and write: public keys as SubjectPublicKeyInfo (PEM `PUBLIC KEY`, RFC 9881), secret keys as
//! PKCS#8 (PEM `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with PBES2: scrypt + AES-256-CBC). The
//! secret key is written in RFC 9881's seed-only form (what pyca accepts); every form is read.
//! The ML-DSA arithmetic is aws-lc-rs' (`docs/security.md`, "Cryptography").
use crate::format::signature::{MlDsaFile, mldsa_key_id};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, ML_DSA_87, ML_DSA_87_SIGNING, ParsedPublicKey, PqdsaKeyPair};
use base64::Engine as _;
use pkcs8::der::Decode;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use spki::SubjectPublicKeyInfoRef;

/// id-ml-dsa-87 (RFC 9881); its AlgorithmIdentifier has no parameters.
const ID_ML_DSA_87: pkcs8::der::asn1::ObjectIdentifier =
    pkcs8::der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19");
/// Raw ML-DSA-87 public key length.
const PUBLIC_KEY_LEN: usize = 2592;
/// The prefix of an ML-DSA-87 key in a trust file: `ml-dsa-87:` + base64 of its SPKI DER.
pub const TRUST_PREFIX: &str = "ml-dsa-87:";

/// An ML-DSA-87 key pair, loaded or generated.
pub struct MlDsaKey {
    pair: PqdsaKeyPair,
    /// SubjectPublicKeyInfo DER of the public key.
    pub spki_der: Vec<u8>,
    /// Key id: the first 8 bytes of SHA-384 of the SPKI DER, in hex.
    pub id: String,
}

impl MlDsaKey {
    fn from_pair(pair: PqdsaKeyPair) -> Result<MlDsaKey, String> {
        let spki_der = pair
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the ML-DSA-87 public key".to_string())?
            .as_ref()
            .to_vec();
        Ok(MlDsaKey {
            id: mldsa_key_id(&spki_der),
            spki_der,
            pair,
        })
    }

    /// A new random key pair.
    pub fn generate() -> Result<MlDsaKey, String> {
        let pair = PqdsaKeyPair::generate(&ML_DSA_87_SIGNING)
            .map_err(|_| "ML-DSA-87 key generation failed".to_string())?;
        MlDsaKey::from_pair(pair)
    }

    /// The key pair FIPS 204 derives from the 32-byte seed ξ (ML-DSA.KeyGen_internal).
    pub fn from_seed(seed: &[u8; 32]) -> Result<MlDsaKey, String> {
        let pair = PqdsaKeyPair::from_seed(&ML_DSA_87_SIGNING, seed)
            .map_err(|e| format!("ML-DSA-87 key from seed: {e}"))?;
        MlDsaKey::from_pair(pair)
    }

    /// Signs `message` (pure ML-DSA-87, empty context, hedged).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut sig = vec![0u8; ML_DSA_87_SIGNING.signature_len()];
        let n = self
            .pair
            .sign(message, &mut sig)
            .map_err(|_| "ML-DSA-87 signing failed".to_string())?;
        sig.truncate(n);
        Ok(sig)
    }

    /// Signs `statement` into the text of an `.mldsa87` signature file.
    pub fn sign_statement(&self, statement: &str) -> Result<String, String> {
        let message = format!("{statement}\n");
        Ok(MlDsaFile::render(
            statement,
            &self.sign(message.as_bytes())?,
        ))
    }

    /// The public key in PEM (`PUBLIC KEY`).
    pub fn public_pem(&self) -> Result<String, String> {
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &self.spki_der)
            .map_err(|e| format!("PEM encoding: {e}"))
    }

    /// The trust-file line: `ml-dsa-87:` and the base64 of the SPKI DER.
    pub fn trust_line(&self) -> String {
        trust_line(&self.spki_der)
    }

    /// The secret key in PEM: PKCS#8 seed form, encrypted (PBES2, scrypt N=2^14 r=8 p=1,
    /// AES-256-CBC) when `password` is given. Zeroised buffers hold the plaintext.
    pub fn secret_pem(
        &self,
        password: Option<&[u8]>,
    ) -> Result<zeroize::Zeroizing<String>, String> {
        let doc = self
            .pair
            .to_pkcs8v1()
            .map_err(|_| "cannot encode the ML-DSA-87 secret key".to_string())?;
        let der = zeroize::Zeroizing::new(doc.as_ref().to_vec());
        let pem = match password {
            None => pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &der),
            Some(pw) => {
                let pki = PrivateKeyInfoRef::try_from(der.as_slice())
                    .map_err(|e| format!("PKCS#8: {e}"))?;
                let mut salt = [0u8; 16];
                let mut iv = [0u8; 16];
                aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no random bytes".to_string())?;
                aws_lc_rs::rand::fill(&mut iv).map_err(|_| "no random bytes".to_string())?;
                let params = pkcs8::pkcs5::pbes2::Parameters::generate_scrypt_aes256cbc(
                    pkcs8::pkcs5::scrypt::Params::new(14, 8, 1)
                        .map_err(|e| format!("scrypt parameters: {e}"))?,
                    &salt,
                    iv,
                )
                .map_err(|e| format!("PBES2 parameters: {e}"))?;
                let encrypted = pki
                    .encrypt_with_params(params, pw)
                    .map_err(|e| format!("encrypting the secret key: {e}"))?;
                pem_rfc7468::encode_string(
                    "ENCRYPTED PRIVATE KEY",
                    pem_rfc7468::LineEnding::LF,
                    encrypted.as_bytes(),
                )
            }
        }
        .map_err(|e| format!("PEM encoding: {e}"))?;
        Ok(zeroize::Zeroizing::new(pem))
    }

    /// Loads a secret key from PEM text (`PRIVATE KEY` or `ENCRYPTED PRIVATE KEY`); any RFC 9881
    /// private-key form (seed, expanded, both).
    pub fn from_secret_pem(
        text: &str,
        password: Option<&[u8]>,
    ) -> Result<MlDsaKey, SecretPemError> {
        let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
            .map_err(|e| SecretPemError::Malformed(format!("PEM: {e}")))?;
        let der = zeroize::Zeroizing::new(der);
        let plain = match label {
            "PRIVATE KEY" => der,
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or(SecretPemError::NeedsPassword)?;
                let epki = EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| {
                    SecretPemError::Malformed(format!("EncryptedPrivateKeyInfo: {e}"))
                })?;
                let doc = epki
                    .decrypt(password)
                    .map_err(|_| SecretPemError::WrongPassword)?;
                zeroize::Zeroizing::new(doc.as_bytes().to_vec())
            }
            "PUBLIC KEY" => return Err(SecretPemError::IsPublic),
            other => {
                return Err(SecretPemError::Malformed(format!(
                    "PEM label `{other}` is not PRIVATE KEY or ENCRYPTED PRIVATE KEY"
                )));
            }
        };
        let pki = PrivateKeyInfoRef::try_from(plain.as_slice())
            .map_err(|e| SecretPemError::Malformed(format!("PKCS#8: {e}")))?;
        if pki.algorithm.oid != ID_ML_DSA_87 || pki.algorithm.parameters.is_some() {
            return Err(SecretPemError::Malformed(format!(
                "the key's algorithm is {}, not ML-DSA-87 (2.16.840.1.101.3.4.3.19)",
                pki.algorithm.oid
            )));
        }
        let pair = PqdsaKeyPair::from_pkcs8(&ML_DSA_87_SIGNING, &plain)
            .map_err(|e| SecretPemError::Malformed(format!("ML-DSA-87 secret key: {e}")))?;
        MlDsaKey::from_pair(pair).map_err(SecretPemError::Malformed)
    }
}

/// Why an ML-DSA secret key file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretPemError {
    /// Not PEM, not PKCS#8, or not ML-DSA-87.
    Malformed(String),
    /// Encrypted, and no password was given.
    NeedsPassword,
    /// The password does not decrypt it.
    WrongPassword,
    /// It is a public key.
    IsPublic,
}

/// The trust-file line of an SPKI DER.
pub fn trust_line(spki_der: &[u8]) -> String {
    format!(
        "{TRUST_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(spki_der)
    )
}

/// Parses an ML-DSA-87 public key given as `ml-dsa-87:BASE64(SPKI DER)` or as PEM `PUBLIC KEY`
/// text; returns its SPKI DER, checked (OID, no parameters, 2592-byte key, accepted by aws-lc).
pub fn parse_public(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim();
    let der = if let Some(b64) = trimmed.strip_prefix(TRUST_PREFIX) {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "the ML-DSA-87 key after `ml-dsa-87:` is not base64".to_string())?
    } else {
        let (label, der) =
            pem_rfc7468::decode_vec(trimmed.as_bytes()).map_err(|e| format!("PEM: {e}"))?;
        if label != "PUBLIC KEY" {
            return Err(format!("PEM label `{label}` is not PUBLIC KEY"));
        }
        der
    };
    let spki = SubjectPublicKeyInfoRef::from_der(&der).map_err(|e| format!("SPKI DER: {e}"))?;
    if spki.algorithm.oid != ID_ML_DSA_87 || spki.algorithm.parameters.is_some() {
        return Err(format!(
            "the key's algorithm is {}, not ML-DSA-87 (2.16.840.1.101.3.4.3.19)",
            spki.algorithm.oid
        ));
    }
    let raw = spki
        .subject_public_key
        .as_bytes()
        .ok_or("the SPKI's public key is not a whole number of bytes")?;
    if raw.len() != PUBLIC_KEY_LEN {
        return Err(format!(
            "the ML-DSA-87 public key is {} bytes; it must be {PUBLIC_KEY_LEN}",
            raw.len()
        ));
    }
    ParsedPublicKey::new(&ML_DSA_87, &der).map_err(|e| format!("ML-DSA-87 public key: {e}"))?;
    Ok(der)
}

/// The DER an ML-DSA-87 SubjectPublicKeyInfo starts with (RFC 9881): SEQUENCE (2610 bytes) {
/// SEQUENCE { OID 2.16.840.1.101.3.4.3.19 }, BIT STRING (2593 bytes: no unused bits, the key) }.
/// Every ML-DSA-87 SPKI is this prefix and the 2592-byte key, so a token's raw CKA_VALUE becomes
/// an SPKI without a DER encoder (checked against aws-lc-rs' own encoding in the tests).
const SPKI_PREFIX: [u8; 22] = [
    0x30, 0x82, 0x0a, 0x32, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03,
    0x13, 0x03, 0x82, 0x0a, 0x21, 0x00,
];

/// The SubjectPublicKeyInfo DER of a raw 2592-byte ML-DSA-87 public key (a PKCS#11 token's
/// CKA_VALUE), checked by parsing it back.
pub fn spki_from_raw(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.len() != PUBLIC_KEY_LEN {
        return Err(format!(
            "the ML-DSA-87 public key is {} bytes; it must be {PUBLIC_KEY_LEN}",
            raw.len()
        ));
    }
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(raw);
    parse_public(&trust_line(&der))
}

/// The raw 2592-byte public key inside an SPKI DER: the identity thresholds count.
pub fn raw_public_key(spki_der: &[u8]) -> Vec<u8> {
    SubjectPublicKeyInfoRef::from_der(spki_der)
        .ok()
        .and_then(|s| s.subject_public_key.as_bytes().map(<[u8]>::to_vec))
        .unwrap_or_else(|| spki_der.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_plain_and_encrypted() {
        let k = MlDsaKey::generate().unwrap();
        let plain = k.secret_pem(None).unwrap();
        assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = MlDsaKey::from_secret_pem(&plain, None).unwrap();
        assert_eq!(back.spki_der, k.spki_der);
        let enc = k.secret_pem(Some(b"hunter2")).unwrap();
        assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert_eq!(
            MlDsaKey::from_secret_pem(&enc, Some(b"hunter2"))
                .unwrap()
                .spki_der,
            k.spki_der
        );
        assert_eq!(
            MlDsaKey::from_secret_pem(&enc, Some(b"wrong")).err(),
            Some(SecretPemError::WrongPassword)
        );
        assert_eq!(
            MlDsaKey::from_secret_pem(&enc, None).err(),
            Some(SecretPemError::NeedsPassword)
        );
        assert_eq!(
            MlDsaKey::from_secret_pem(&k.public_pem().unwrap(), None).err(),
            Some(SecretPemError::IsPublic)
        );
    }

    #[test]
    fn statements_verify_under_the_key_and_nothing_else() {
        let k = MlDsaKey::generate().unwrap();
        let text = k.sign_statement("airlock test statement").unwrap();
        let file = MlDsaFile::parse(text.as_bytes()).unwrap();
        assert!(file.verify(&k.spki_der).is_ok());
        let other = MlDsaKey::generate().unwrap();
        assert!(file.verify(&other.spki_der).is_err());
        let mut forged = file.clone();
        forged.statement.push('x');
        assert!(forged.verify(&k.spki_der).is_err());
    }

    #[test]
    fn trust_lines_and_pem_parse_to_the_same_key() {
        let k = MlDsaKey::generate().unwrap();
        assert_eq!(parse_public(&k.trust_line()).unwrap(), k.spki_der);
        assert_eq!(parse_public(&k.public_pem().unwrap()).unwrap(), k.spki_der);
        assert!(parse_public("ml-dsa-87:AAAA").is_err());
        assert_eq!(raw_public_key(&k.spki_der).len(), PUBLIC_KEY_LEN);
    }

    #[test]
    fn a_raw_public_key_becomes_the_spki_aws_lc_writes() {
        let k = MlDsaKey::generate().unwrap();
        let raw = raw_public_key(&k.spki_der);
        assert_eq!(spki_from_raw(&raw).unwrap(), k.spki_der);
        assert!(spki_from_raw(&raw[1..]).is_err());
    }

    #[test]
    fn a_seed_gives_the_fips_204_key_pair_deterministically() {
        let seed = [7u8; 32];
        assert_eq!(
            MlDsaKey::from_seed(&seed).unwrap().spki_der,
            MlDsaKey::from_seed(&seed).unwrap().spki_der
        );
    }
}
