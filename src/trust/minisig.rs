//! minisign public-key and signature files built around *any* Ed25519 signer, so a signature made
//! by a PKCS#11 token is byte-for-byte an ordinary minisign signature (stock `minisign -V` and the
//! `minisign` crate verify it, and for the same key, message and comments it is byte-identical to
//! what stock `minisign -S` writes, because Ed25519 as libsodium does it is deterministic; the
//! `minisign` crate instead hedges its signatures with random noise, so its bytes differ).
//!
//! Formats (minisign 0.11 / the minisign crate 0.10):
//!
//! ```text
//! public key file:  "untrusted comment: <text>\n" base64("Ed" || keynum[8] || pk[32]) "\n"
//! signature file:   "untrusted comment: <text>\n"
//!                   base64("ED" || keynum[8] || sig[64]) "\n"      sig = Ed25519(BLAKE2b-512(message))
//!                   "trusted comment: <text>\n"
//!                   base64(global[64]) "\n"                        global = Ed25519(sig || text)
//! ```
//!
//! Only the prehashed (`ED`) form is produced: it lets the message be streamed (the token only
//! ever sees 64 bytes), and airlock refuses the legacy `Ed` form anyway.
//!
//! Every signature returned by the signer is verified against the signer's public key before the
//! file is produced. A token whose public-key object does not belong to its private key (labels
//! and ids are not unique, and nothing in PKCS#11 ties the two objects together) would otherwise
//! yield a file that no verifier accepts, discovered only on the other side of the air gap.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest as _};
use sha2::Sha256;
use std::io::Read;

/// Something that holds an Ed25519 private key and signs with it: a PKCS#11 token key
/// ([`crate::trust::pkcs11::token::TokenKey`]) or an in-memory key ([`SeedSigner`]).
///
/// Errors are an associated type so a caller keeps the signer's own typed errors (for a token:
/// [`crate::trust::pkcs11::token::TokenError::TokenGone`] and friends) instead of a boxed string.
pub trait Ed25519Signer {
    /// What a failed signature reports.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The 32-byte Ed25519 public key.
    fn public_key(&self) -> [u8; 32];

    /// A pure Ed25519 signature (RFC 8032, no prehash, no context) over `msg`.
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], Self::Error>;
}

impl<T: Ed25519Signer + ?Sized> Ed25519Signer for &T {
    type Error = T::Error;
    fn public_key(&self) -> [u8; 32] {
        (**self).public_key()
    }
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], Self::Error> {
        (**self).sign(msg)
    }
}

/// The longest untrusted comment stock minisign 0.11 reads back: it reads the line (with its
/// 19-byte prefix and newline) into a 1024-byte buffer, so a longer line is split and the file
/// no longer parses.
pub const MAX_UNTRUSTED_COMMENT_BYTES: usize = 1024 - 1 - "untrusted comment: ".len() - 1;

/// The longest trusted comment stock minisign 0.11 reads back (8192-byte line buffer, 17-byte
/// prefix, newline).
pub const MAX_TRUSTED_COMMENT_BYTES: usize = 8192 - 1 - "trusted comment: ".len() - 1;

/// Why a signature file could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SignError<E: std::error::Error + 'static> {
    /// A comment that would not survive the round trip through minisign.
    #[error("{which} comment: {reason}")]
    Comment {
        /// "trusted" or "untrusted".
        which: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Reading the message failed.
    #[error("reading the message to sign failed: {0}")]
    Read(#[source] std::io::Error),
    /// The signer failed.
    #[error("the signer failed: {0}")]
    Signer(#[source] E),
    /// A signature did not verify under the signer's own public key.
    #[error(
        "the {what} signature does not verify under the signer's public key {key_id}: the \
         private key and the public key it was paired with do not belong together (or the signer \
         is faulty); no signature file was written"
    )]
    SelfCheck {
        /// "message" or "global".
        what: &'static str,
        /// The public key's minisign key id, for the operator.
        key_id: String,
    },
}

impl<E: std::error::Error + 'static> SignError<E> {
    /// What the user should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            SignError::Comment { .. } => {
                "use one line of text, without leading or trailing whitespace in the trusted comment"
            }
            SignError::Read(_) => {
                "check that the file to sign is readable and was not modified while signing"
            }
            SignError::Signer(_) => "see the signer's error above",
            SignError::SelfCheck { .. } => {
                "name the key by a unique id (pkcs11:...;id=%..) and check that the token's public-key \
                 object matches its private key, for example by re-exporting the public key"
            }
        }
    }
}

/// airlock's key number for a key it did not get a key number with (token keys): the first 8
/// bytes of SHA-256 over the 32-byte Ed25519 public key.
///
/// Derived rather than random (minisign's own keygen picks 8 random bytes) so that exporting the
/// same token key anywhere, any time, yields the same `.pub` file and key id, and so that keys made
/// by other tools (whose CKA_ID is arbitrary, often `01`) still get a stable id. The keynum is not
/// a security property: anyone can put any keynum in a file, so verifiers must trust public keys,
/// not key ids. It only has to be stable and documented, because verifiers read it from the
/// `.pub` file and never recompute it.
pub fn key_id_for(pk: &[u8; 32]) -> [u8; 8] {
    let digest = Sha256::digest(pk);
    let mut keynum = [0u8; 8];
    keynum.copy_from_slice(&digest[..8]);
    keynum
}

/// The key id as minisign prints it: the keynum read as a little-endian u64, in upper-case hex.
pub fn key_id_hex(keynum: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*keynum))
}

/// The base64 line of a minisign public key (what `minisign -P` takes): 56 characters.
pub fn public_key_line(keynum: &[u8; 8], pk: &[u8; 32]) -> String {
    let mut raw = [0u8; 42];
    raw[..2].copy_from_slice(b"Ed");
    raw[2..10].copy_from_slice(keynum);
    raw[10..].copy_from_slice(pk);
    BASE64.encode(raw)
}

/// The text of a minisign `.pub` file. `comment` defaults to minisign's own
/// `minisign public key <KEYID>`. The comment is not signed; line breaks and other control
/// characters in it are replaced by spaces so the file keeps its two lines.
pub fn public_key_file(keynum: &[u8; 8], pk: &[u8; 32], comment: Option<&str>) -> String {
    let comment = match comment {
        Some(c) => c
            .chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .collect(),
        None => format!("minisign public key {}", key_id_hex(keynum)),
    };
    format!(
        "untrusted comment: {comment}\n{}\n",
        public_key_line(keynum, pk)
    )
}

fn check_comment<E: std::error::Error>(
    text: &str,
    which: &'static str,
    max: usize,
    trusted: bool,
) -> Result<(), SignError<E>> {
    let bad = |reason: String| Err(SignError::Comment { which, reason });
    if text.len() > max {
        return bad(format!(
            "{} bytes is longer than the {max} stock minisign reads back",
            text.len()
        ));
    }
    // Tabs are harmless inside a line; every other control character (CR, LF, NUL, ESC...)
    // either breaks the line structure, truncates the C string, or rewrites the terminal of
    // whoever runs `minisign -V`.
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return bad("contains a line break or another control character".into());
    }
    // The minisign crate trims the trusted comment before checking the global signature, stock
    // minisign does not: only a comment without surrounding whitespace verifies with both.
    if trusted && text.trim() != text {
        return bad("has leading or trailing whitespace, which verifiers disagree about".into());
    }
    Ok(())
}

fn self_check<E: std::error::Error>(
    pk: &ed25519_compact::PublicKey,
    msg: &[u8],
    sig: &[u8; 64],
    what: &'static str,
    keynum: &[u8; 8],
) -> Result<(), SignError<E>> {
    pk.verify(msg, &ed25519_compact::Signature::new(*sig))
        .map_err(|_| SignError::SelfCheck {
            what,
            key_id: key_id_hex(keynum),
        })
}

/// Signs `message` (streamed, any size) in minisign's prehashed format and returns the complete
/// 4-line `.minisig` text, ending in a newline.
///
/// The signer is called twice: once over the 64-byte BLAKE2b-512 of the message, once over
/// `signature || trusted_comment`. The text is returned only after both signatures succeed and
/// verify, so a signer that fails half-way (a token pulled out) never yields a partial file.
pub fn sign_prehashed<S: Ed25519Signer + ?Sized>(
    signer: &S,
    keynum: &[u8; 8],
    mut message: impl Read,
    trusted_comment: &str,
    untrusted_comment: &str,
) -> Result<String, SignError<S::Error>> {
    check_comment(trusted_comment, "trusted", MAX_TRUSTED_COMMENT_BYTES, true)?;
    check_comment(
        untrusted_comment,
        "untrusted",
        MAX_UNTRUSTED_COMMENT_BYTES,
        false,
    )?;
    let pk_bytes = signer.public_key();
    // A 32-byte slice always converts; a malformed point would only fail the self-check below.
    let pk = ed25519_compact::PublicKey::new(pk_bytes);

    let mut hasher = Blake2b512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match message.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SignError::Read(e)),
        }
    }
    let prehash = hasher.finalize();

    let sig = signer.sign(&prehash).map_err(SignError::Signer)?;
    self_check(&pk, &prehash, &sig, "message", keynum)?;

    let mut global_input = Vec::with_capacity(64 + trusted_comment.len());
    global_input.extend_from_slice(&sig);
    global_input.extend_from_slice(trusted_comment.as_bytes());
    let global = signer.sign(&global_input).map_err(SignError::Signer)?;
    self_check(&pk, &global_input, &global, "global", keynum)?;

    let mut sig_line = [0u8; 74];
    sig_line[..2].copy_from_slice(b"ED");
    sig_line[2..10].copy_from_slice(keynum);
    sig_line[10..].copy_from_slice(&sig);
    Ok(format!(
        "untrusted comment: {untrusted_comment}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
        BASE64.encode(sig_line),
        BASE64.encode(global)
    ))
}

/// An Ed25519 key held in memory (a file key), behind the same [`Ed25519Signer`] interface as a
/// token key, so file keys and token keys share one signing path.
///
/// Implemented with `ed25519-compact` rather than `aws-lc-rs`: it is pure Rust (no C toolchain,
/// builds in seconds on the 2-core CI), it is by minisign's author and already in airlock's
/// dependency tree, and it wipes its secret key on drop. When airlock pulls in aws-lc-rs for
/// ML-DSA, an `aws_lc_rs::signature::Ed25519KeyPair` can implement [`Ed25519Signer`] in a few
/// lines if a single crypto provider (e.g. for FIPS) is wanted; the files come out identical
/// because Ed25519 signatures are deterministic.
pub struct SeedSigner {
    keypair: ed25519_compact::KeyPair,
}

/// The 64-byte key pair's public half does not match its seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the public half of the 64-byte Ed25519 key does not match its seed")]
pub struct KeyMismatch;

impl SeedSigner {
    /// From a 32-byte RFC 8032 seed (the private key proper).
    pub fn from_seed(seed: &[u8; 32]) -> SeedSigner {
        SeedSigner {
            keypair: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed)),
        }
    }

    /// From the 64-byte `seed || public key` form that minisign and libsodium store, checking
    /// that the public half belongs to the seed.
    pub fn from_keypair_bytes(sk: &[u8; 64]) -> Result<SeedSigner, KeyMismatch> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&sk[..32]);
        let signer = SeedSigner::from_seed(&seed);
        if signer.keypair.pk.as_ref() != &sk[32..] {
            return Err(KeyMismatch);
        }
        Ok(signer)
    }
}

impl Ed25519Signer for SeedSigner {
    type Error = std::convert::Infallible;

    fn public_key(&self) -> [u8; 32] {
        *self.keypair.pk
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], Self::Error> {
        Ok(*self.keypair.sk.sign(msg, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn signer() -> SeedSigner {
        SeedSigner::from_seed(&[9u8; 32])
    }

    /// A signer whose private and public halves do not belong together.
    struct Mismatched;
    impl Ed25519Signer for Mismatched {
        type Error = std::convert::Infallible;
        fn public_key(&self) -> [u8; 32] {
            SeedSigner::from_seed(&[1u8; 32]).public_key()
        }
        fn sign(&self, msg: &[u8]) -> Result<[u8; 64], Self::Error> {
            SeedSigner::from_seed(&[2u8; 32]).sign(msg)
        }
    }

    /// A signer that fails on its second call, like a token pulled out between the two.
    struct FailsSecond(std::cell::Cell<u32>);
    #[derive(Debug, thiserror::Error)]
    #[error("token gone")]
    struct Gone;
    impl Ed25519Signer for FailsSecond {
        type Error = Gone;
        fn public_key(&self) -> [u8; 32] {
            signer().public_key()
        }
        fn sign(&self, msg: &[u8]) -> Result<[u8; 64], Gone> {
            self.0.set(self.0.get() + 1);
            if self.0.get() == 2 {
                return Err(Gone);
            }
            Ok(signer().sign(msg).unwrap_or([0; 64]))
        }
    }

    fn verify(pub_text: &str, sig_text: &str, msg: &[u8]) -> Result<(), minisign::PError> {
        let pk = minisign::PublicKeyBox::from_string(pub_text)?.into_public_key()?;
        let sb = minisign::SignatureBox::from_string(sig_text)?;
        minisign::verify(&pk, &sb, Cursor::new(msg), true, false, false)
    }

    #[test]
    fn files_verify_with_minisign_crate() {
        let s = signer();
        let pk = s.public_key();
        let keynum = key_id_for(&pk);
        let pub_text = public_key_file(&keynum, &pk, None);
        let msg = b"manifest bytes\n";
        let sig_text =
            sign_prehashed(&s, &keynum, &msg[..], "airlock-bundle/1 x=y", "signature").unwrap();
        verify(&pub_text, &sig_text, msg).unwrap();
        assert!(verify(&pub_text, &sig_text, b"other").is_err());
        // The crate's own view of the files.
        let mpk = minisign::PublicKeyBox::from_string(&pub_text)
            .unwrap()
            .into_public_key()
            .unwrap();
        assert_eq!(mpk.keynum(), &keynum);
        // `from_base64` is what airlock uses for keys given inline.
        let line = public_key_line(&keynum, &pk);
        assert_eq!(line.len(), 56);
        let mpk2 = minisign::PublicKey::from_base64(&line).unwrap();
        assert_eq!(mpk2.to_bytes(), mpk.to_bytes());
        let sb = minisign::SignatureBox::from_string(&sig_text).unwrap();
        assert!(sb.is_prehashed());
        assert_eq!(sb.trusted_comment().unwrap(), "airlock-bundle/1 x=y");
        assert_eq!(sb.untrusted_comment().unwrap(), "signature");
        // Shape: 4 lines, trailing newline, line 2 is 100 chars, line 4 is 88 ending in "==".
        assert!(sig_text.ends_with('\n'));
        let lines: Vec<&str> = sig_text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].len(), 100);
        assert_eq!(lines[3].len(), 88);
        assert!(lines[3].ends_with("=="));
        assert!(pub_text.starts_with(&format!(
            "untrusted comment: minisign public key {}\n",
            key_id_hex(&keynum)
        )));
    }

    #[test]
    fn same_layout_as_the_minisign_crate_for_the_same_key() {
        // The minisign crate hedges its Ed25519 signatures with random noise, so its signature
        // bytes differ from ours (and from one run to the next); everything else must match, and
        // each must verify. Byte identity with deterministic stock `minisign -S` is checked in
        // tests/minisign_compat.rs.
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let raw = kp.sk.to_bytes();
        // sig_alg 2, kdf_alg 2, chk_alg 2, salt 32, limits 16, keynum 8, sk 64, chk 32.
        assert_eq!(raw.len(), 158);
        let keynum: [u8; 8] = raw[54..62].try_into().unwrap();
        let sk: [u8; 64] = raw[62..126].try_into().unwrap();
        let ours = SeedSigner::from_keypair_bytes(&sk).unwrap();
        assert_eq!(
            public_key_line(&keynum, &ours.public_key()),
            kp.pk.to_base64()
        );
        let msg = vec![7u8; 200_000];
        let theirs = minisign::sign(
            Some(&kp.pk),
            &kp.sk,
            Cursor::new(&msg),
            Some("trusted text"),
            Some("untrusted text"),
        )
        .unwrap()
        .into_string();
        let mine =
            sign_prehashed(&ours, &keynum, &msg[..], "trusted text", "untrusted text").unwrap();
        let (t, m): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), mine.lines().collect());
        assert_eq!(t.len(), m.len());
        assert_eq!(t[0], m[0]);
        assert_eq!(t[2], m[2]);
        let (tb, mb) = (BASE64.decode(t[1]).unwrap(), BASE64.decode(m[1]).unwrap());
        assert_eq!(tb[..10], mb[..10], "algorithm and keynum");
        assert_eq!((t[1].len(), t[3].len()), (m[1].len(), m[3].len()));
        assert_eq!(theirs.ends_with('\n'), mine.ends_with('\n'));
        let pub_text = kp.pk.to_box().unwrap().into_string();
        verify(&pub_text, &mine, &msg).unwrap();
        verify(&pub_text, &theirs, &msg).unwrap();
    }

    #[test]
    fn streaming_matches_one_shot_for_odd_chunking() {
        // A reader that returns 1..7 bytes at a time and Interrupted in between.
        struct Dribble<'a>(&'a [u8], usize);
        impl Read for Dribble<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                self.1 += 1;
                if self.1.is_multiple_of(3) {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let n = (self.1 % 7 + 1).min(self.0.len()).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let msg: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let s = signer();
        let k = key_id_for(&s.public_key());
        let a = sign_prehashed(&s, &k, &msg[..], "t", "u").unwrap();
        let b = sign_prehashed(&s, &k, Dribble(&msg, 0), "t", "u").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn read_errors_are_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let s = signer();
        let e = sign_prehashed(&s, &[0; 8], Broken, "t", "u").unwrap_err();
        assert!(matches!(e, SignError::Read(_)));
        assert!(e.to_string().contains("disk on fire"));
    }

    #[test]
    fn comments_are_checked() {
        let s = signer();
        let k = [0u8; 8];
        for (t, u) in [
            ("two\nlines", "u"),
            ("cr\r", "u"),
            (" leading", "u"),
            ("trailing ", "u"),
            ("nul\0", "u"),
            ("esc\x1b[2J", "u"),
            ("t", "u\nv"),
            ("t", "u\0"),
        ] {
            let e = sign_prehashed(&s, &k, &b""[..], t, u).unwrap_err();
            assert!(matches!(e, SignError::Comment { .. }), "{t:?} {u:?}: {e}");
        }
        // Tabs inside, and an empty trusted comment, are fine.
        assert!(sign_prehashed(&s, &k, &b""[..], "a\tb", "").is_ok());
        assert!(sign_prehashed(&s, &k, &b""[..], "", "u").is_ok());
        // Length limits, exactly at and one past.
        let at = "x".repeat(MAX_TRUSTED_COMMENT_BYTES);
        assert!(sign_prehashed(&s, &k, &b""[..], &at, "u").is_ok());
        let past = "x".repeat(MAX_TRUSTED_COMMENT_BYTES + 1);
        assert!(sign_prehashed(&s, &k, &b""[..], &past, "u").is_err());
        let at = "x".repeat(MAX_UNTRUSTED_COMMENT_BYTES);
        assert!(sign_prehashed(&s, &k, &b""[..], "t", &at).is_ok());
        let past = "x".repeat(MAX_UNTRUSTED_COMMENT_BYTES + 1);
        assert!(sign_prehashed(&s, &k, &b""[..], "t", &past).is_err());
    }

    #[test]
    fn a_mismatched_key_pair_is_caught_before_any_file_exists() {
        let e = sign_prehashed(&Mismatched, &[1; 8], &b"m"[..], "t", "u").unwrap_err();
        assert!(
            matches!(
                e,
                SignError::SelfCheck {
                    what: "message",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("do not belong together"));
    }

    #[test]
    fn a_signer_failing_half_way_yields_no_text() {
        let f = FailsSecond(std::cell::Cell::new(0));
        let e = sign_prehashed(&f, &[1; 8], &b"m"[..], "t", "u").unwrap_err();
        assert!(matches!(e, SignError::Signer(Gone)));
        assert_eq!(f.0.get(), 2);
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        // SHA-256 of 32 zero bytes = 66687aadf862bd77...
        assert_eq!(
            key_id_for(&[0u8; 32]),
            [0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77]
        );
        assert_eq!(
            key_id_hex(&[0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77]),
            "77BD62F8AD7A6866"
        );
    }

    #[test]
    fn public_key_file_comment() {
        let pk = signer().public_key();
        let k = key_id_for(&pk);
        let t = public_key_file(&k, &pk, Some("airlock token key\nsecond line"));
        assert!(t.starts_with("untrusted comment: airlock token key second line\n"));
        assert_eq!(t.lines().count(), 2);
        assert!(t.ends_with('\n'));
    }

    #[test]
    fn keypair_bytes_must_match() {
        let s = signer();
        let mut sk = [0u8; 64];
        sk[..32].copy_from_slice(&[9u8; 32]);
        sk[32..].copy_from_slice(&s.public_key());
        assert!(SeedSigner::from_keypair_bytes(&sk).is_ok());
        sk[63] ^= 1;
        assert_eq!(SeedSigner::from_keypair_bytes(&sk).err(), Some(KeyMismatch));
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed: [u8; 32] =
            hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let s = SeedSigner::from_seed(&seed);
        assert_eq!(
            s.public_key(),
            hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let sig = s.sign(b"").unwrap();
        assert_eq!(
            sig[..32],
            hex32("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155")
        );
        assert_eq!(
            sig[32..],
            hex32("5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        );
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
