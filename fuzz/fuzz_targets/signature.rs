//! The one signature-file parser (`format::signature::MinisignFile::parse`), the trusted comment,
//! the binding to a manifest (`ParsedSignature::parse`), and verification under a key that has the
//! file's key id, so that whatever parses reaches the minisign crate's verifier (which panics on
//! some malformed input the parser must keep from it).
//!
//! Input: the bytes of one `.minisig` file.
#![no_main]

use airlock::format::digest::HashAlg;
use airlock::format::manifest::BundleInfo;
use airlock::format::signature::{
    MinisignFile, ParsedSignature, SigAlg, SignatureBody, TrustedComment, file_name,
};
use airlock::format::time::Timestamp;
use libfuzzer_sys::fuzz_target;
use minisign::PublicKey;
use std::sync::OnceLock;

/// A real Ed25519 public key; each input gets it under the key number its file names.
fn key_bytes() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("key generation");
        pair.pk.to_bytes()[10..42]
            .try_into()
            .expect("42-byte minisign public key")
    })
}

fn key_with_id(keynum: &[u8; 8]) -> PublicKey {
    let mut bytes = b"Ed".to_vec();
    bytes.extend_from_slice(keynum);
    bytes.extend_from_slice(key_bytes());
    PublicKey::from_bytes(&bytes).expect("a well-formed public key")
}

fn bundle_of(c: &TrustedComment) -> BundleInfo {
    BundleInfo {
        name: c.name.clone(),
        version: c.version.clone(),
        sequence: c.sequence,
        target: c.target.clone(),
        created: Timestamp::EPOCH,
        expires: Timestamp::MAX,
        mtime: 0,
        notice_given: None,
        not_before: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(file) = MinisignFile::parse(data) else {
        return;
    };
    let key = key_with_id(&file.keynum);
    let _ = file.verify(&key, b"message");
    let _ = file.verify(&key, data);
    let Ok(comment) = TrustedComment::parse(&file.trusted_comment) else {
        return;
    };
    assert_eq!(
        comment.render(),
        file.trusted_comment,
        "trusted comments are canonical"
    );
    let name = file_name(comment.role, &file.key_id, SigAlg::Ed25519);
    let bundle = bundle_of(&comment);
    let parsed = ParsedSignature::parse(&name, data, &bundle, &comment.manifest_digest)
        .expect("a file bound to its own comment's bundle and manifest parses");
    if let SignatureBody::Minisign(m) = &parsed.body {
        let _ = m.verify(&key, b"airlock manifest");
    }
    // The same file under another manifest, bundle or file name is refused, never accepted.
    let other = HashAlg::Sha384.digest(comment.manifest_digest.as_bytes());
    assert!(ParsedSignature::parse(&name, data, &bundle, &other).is_err());
    let mut renamed = bundle.clone();
    renamed.sequence = renamed.sequence.wrapping_add(1);
    assert!(ParsedSignature::parse(&name, data, &renamed, &comment.manifest_digest).is_err());
    assert!(ParsedSignature::parse("x.minisig", data, &bundle, &comment.manifest_digest).is_err());
});
