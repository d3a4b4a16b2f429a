//! Property-based fuzzing that runs in `cargo test` with a bounded number of cases (32 to 256 per
//! target, a few seconds in all; no nightly toolchain). In-process, these must never panic: the
//! footer parser, the manifest parser (anything accepted re-renders byte-identically), the
//! manifest-frame decoder, the signature-file parser and verifier, the policy and safeguard parsers
//! (all run before any signature is checked) and the safetensors content gate. Then the whole
//! `verify --deep` / `unpack` path of the real binary on mutated small bundles, four ways:
//!
//! * raw: bytes of a valid bundle flipped, inserted, deleted, truncated or appended (an attacker
//!   without a key);
//! * signed manifest: the manifest text mutated, then validly re-signed (a careless or
//!   compromised signer);
//! * signed payload: the uncompressed payload tar mutated, re-framed and re-signed;
//! * volumes: raw mutations of one volume of a split bundle (`verify` of it, `unpack` of the set).
//!
//! The oracle: the binary never crashes (exit 0 or 1 only); verify and unpack agree; on failure
//! the destination is absent and no staging directory is left; exit 0 only when the result is
//! equivalent to the original — the unpacked tree is exactly the original tree (and for raw
//! mutations the signed manifest is the original one; a changed signed payload is never accepted).
//!
//! Crashes found here became named regression tests in `hostile.rs`:
//! `signature_with_truncated_global_signature` (a short global signature panicked inside
//! minisign; found by `signature_parse_and_verify_never_panic`) and
//! `manifest_declaring_an_exabyte_file` (the frame plan overflowed or exhausted memory; found by
//! `manifest_parse_of_mutated_numbers_and_strings`).
use crate::support::craft;

use airlock::format::frame::compress_frame;
use airlock::format::manifest::Manifest;
use airlock::format::manifest_frame::ManifestFrame;
use airlock::format::signature::ParsedSignature;
use airlock::format::{FOOTER_LEN, Footer, MANIFEST_FRAME_CAP};
use craft::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Op {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Truncation at a multiple of 4 bytes: keeps base64 text decodable.
    TruncateAligned(usize),
    Append(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Op::Flip(i, x)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Op::Insert(i, b)),
        2 => any::<usize>().prop_map(Op::Delete),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => any::<usize>().prop_map(Op::TruncateAligned),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Op::Append),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..4)
}

fn apply(mut b: Vec<u8>, ops: &[Op]) -> Vec<u8> {
    for op in ops {
        match op {
            Op::Flip(i, x) if !b.is_empty() => {
                let n = b.len();
                b[i % n] ^= x;
            }
            Op::Insert(i, v) => {
                let at = i % (b.len() + 1);
                b.insert(at, *v);
            }
            Op::Delete(i) if !b.is_empty() => {
                let n = b.len();
                b.remove(i % n);
            }
            Op::Truncate(i) => {
                let n = i % (b.len() + 1);
                b.truncate(n);
            }
            Op::TruncateAligned(i) => {
                let n = i % (b.len() + 1);
                b.truncate(n - n % 4);
            }
            Op::Append(x) => b.extend_from_slice(x),
            _ => {}
        }
    }
    b
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The small bundle every mutation starts from, and its parts.
fn base() -> &'static Parts {
    static BASE: OnceLock<Parts> = OnceLock::new();
    BASE.get_or_init(|| {
        Parts::honest(&[
            file("data/d/a.txt", b"alpha alpha alpha\n".to_vec()),
            file("data/d/sub/b.txt", vec![b'b'; 700]),
            file("data/e/c.json", b"{\"k\": 1}\n".to_vec()),
        ])
    })
}

fn original_tree() -> BTreeMap<String, (u32, Vec<u8>)> {
    base()
        .manifest
        .files
        .iter()
        .map(|f| {
            let content = match f.path.as_str() {
                "data/d/a.txt" => b"alpha alpha alpha\n".to_vec(),
                "data/d/sub/b.txt" => vec![b'b'; 700],
                _ => b"{\"k\": 1}\n".to_vec(),
            };
            (f.path.to_string(), (0o644, content))
        })
        .collect()
}

fn files_under(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let meta = e.path().symlink_metadata().unwrap();
            assert!(
                meta.is_file(),
                "{} is not a regular file",
                e.path().display()
            );
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                (
                    meta.permissions().mode() & 0o7777,
                    std::fs::read(e.path()).unwrap(),
                ),
            )
        })
        .collect()
}

/// Runs verify --deep and unpack on `bytes`; returns the unpack exit code after checking the
/// oracle's invariants (no crash, same verdict, dest absent on failure, original tree on success).
fn run_both(bytes: &[u8]) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("m.airlock.tar.zst");
    let trust = dir.path().join("trust.toml");
    let dest = dir.path().join("dest");
    let state = dir.path().join("state");
    std::fs::write(&bundle, bytes).unwrap();
    std::fs::write(&trust, trust_toml()).unwrap();
    let common = |c: &mut Command| {
        c.arg(&bundle)
            .arg("--trust")
            .arg(&trust)
            .arg("--state")
            .arg(&state)
            .args(["--now", NOW, "--threads", "2"]);
    };
    let mut v = Command::new(env!("CARGO_BIN_EXE_airlock"));
    v.arg("verify");
    common(&mut v);
    let v = v.arg("--deep").output().unwrap();
    let mut u = Command::new(env!("CARGO_BIN_EXE_airlock"));
    u.arg("unpack");
    common(&mut u);
    let u = u.arg("--dest").arg(&dest).output().unwrap();
    others_never_crash(&bundle, &trust, dir.path());
    let (vc, uc) = (v.status.code(), u.status.code());
    assert!(
        matches!(vc, Some(0 | 1)) && matches!(uc, Some(0 | 1)),
        "crash or wrong exit class: verify {:?} unpack {:?}\n{}\n{}",
        v.status,
        u.status,
        String::from_utf8_lossy(&v.stderr),
        String::from_utf8_lossy(&u.stderr)
    );
    assert_eq!(
        vc,
        uc,
        "verify --deep and unpack disagree:\n{}\n{}",
        String::from_utf8_lossy(&v.stderr),
        String::from_utf8_lossy(&u.stderr)
    );
    if uc == Some(0) {
        assert_eq!(
            files_under(&dest),
            original_tree(),
            "accepted a different tree"
        );
    } else {
        assert!(!dest.exists(), "destination created on failure");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(
            names.iter().all(|n| !n.contains("staging")),
            "staging left behind: {names:?}"
        );
    }
    uc.unwrap()
}

/// Asserts that an output is one of the documented exit codes, never a panic (101) or a signal.
fn assert_documented_exit(what: &str, o: &std::process::Output) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(0..=3)) && !err.contains("panicked"),
        "{what} crashed or was killed: {:?}\n{err}",
        o.status
    );
}

/// `inspect` (with and without a trust file), `diff` against the original, and `sign` into a new
/// file, on a mutated bundle: each reads only the manifest frame, and none may crash.
fn others_never_crash(bundle: &Path, trust: &Path, dir: &Path) {
    let original = dir.join("original.airlock.tar.zst");
    std::fs::write(&original, base().bytes()).unwrap();
    let key = dir.join("officer.key");
    if !key.exists() {
        airlock::trust::keys::keygen(&dir.join("officer"), None, None, false).unwrap();
    }
    let airlock = || Command::new(env!("CARGO_BIN_EXE_airlock"));
    let runs = [
        ("inspect", airlock().arg("inspect").arg(bundle).output()),
        (
            "inspect --trust",
            airlock()
                .arg("inspect")
                .arg(bundle)
                .arg("--trust")
                .arg(trust)
                .args(["--now", NOW])
                .output(),
        ),
        (
            "diff",
            airlock().arg("diff").arg(&original).arg(bundle).output(),
        ),
        (
            "sign",
            airlock()
                .arg("sign")
                .arg(bundle)
                .arg("--key")
                .arg(&key)
                .arg("-o")
                .arg(dir.join("signed.airlock.tar.zst"))
                .output(),
        ),
    ];
    for (what, o) in runs {
        assert_documented_exit(what, &o.unwrap());
    }
}

/// The manifest bytes inside a bundle, if its footer and manifest frame still decode.
fn manifest_of(bytes: &[u8]) -> Option<Vec<u8>> {
    let len = bytes.len() as u64;
    let f = Footer::decode(bytes.get(bytes.len().checked_sub(40)?..)?, len).ok()?;
    let frame =
        bytes.get(f.manifest_offset as usize..(f.manifest_offset + f.manifest_len) as usize)?;
    ManifestFrame::decode(frame).ok().map(|m| m.manifest)
}

proptest! {
    #![proptest_config(config(256))]

    /// Starts from a footer whose magic, size and tag are right (random bytes never pass the
    /// magic check, so they would never reach the bounds checks), with arbitrary fields and file
    /// lengths near, and far from, the one the fields imply.
    #[test]
    fn footer_decode_never_panics(offset in any::<u64>(), mlen in any::<u64>(), reserved in prop_oneof![3 => Just(0u64), 1 => any::<u64>()], near in -3i64..=3, far in any::<u64>(), use_far in any::<bool>()) {
        let mut footer = Footer { manifest_offset: 0, manifest_len: 1 }.encode().to_vec();
        footer[16..24].copy_from_slice(&offset.to_le_bytes());
        footer[24..32].copy_from_slice(&mlen.to_le_bytes());
        footer[32..40].copy_from_slice(&reserved.to_le_bytes());
        let implied = offset.saturating_add(mlen).saturating_add(FOOTER_LEN);
        let len = if use_far { far } else { implied.saturating_add_signed(near) };
        if let Ok(f) = Footer::decode(&footer, len) {
            prop_assert!(f.manifest_len >= 1 && f.manifest_len <= MANIFEST_FRAME_CAP);
            prop_assert_eq!(reserved, 0);
            prop_assert_eq!(f.manifest_offset + f.manifest_len + FOOTER_LEN, len);
            prop_assert_eq!(f.encode().to_vec(), footer);
        }
    }

    #[test]
    fn footer_decode_of_mutated_valid_footers(offset in 0u64..1 << 40, mlen in 0u64..1 << 27, ops in ops(), delta in -2i64..=2) {
        let valid = Footer { manifest_offset: offset, manifest_len: mlen }.encode().to_vec();
        let mutated = apply(valid.clone(), &ops);
        let file_len = (offset + mlen + FOOTER_LEN).saturating_add_signed(delta);
        if let Ok(f) = Footer::decode(&mutated, file_len) {
            prop_assert_eq!(f.encode().to_vec(), mutated);
            prop_assert_eq!(f.manifest_offset + f.manifest_len + FOOTER_LEN, file_len);
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn manifest_parse_of_mutated_canonical_text(ops in ops()) {
        let text = base().manifest_text.as_bytes().to_vec();
        let mutated = apply(text, &ops);
        if let Ok(m) = Manifest::parse(&mutated) {
            // Whatever is accepted is the one canonical text of a consistent manifest.
            prop_assert_eq!(m.to_canonical().into_bytes(), mutated);
            prop_assert!(m.check_consistency().is_ok());
        }
    }

    #[test]
    fn manifest_parse_of_mutated_numbers_and_strings(field in 0usize..64, value in prop_oneof![
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("\"\"".to_string()),
        Just("\"../x\"".to_string()),
        Just("1e400".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        "[0-9]{1,25}",
        "\"[ -~]{0,40}\"",
    ]) {
        let text = base().manifest_text.clone();
        let lines: Vec<&str> = text.lines().collect();
        let kv: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
        let i = kv[field % kv.len()];
        let key = lines[i].split(" = ").next().unwrap();
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edited[i] = format!("{key} = {value}");
        let mutated = format!("{}\n", edited.join("\n"));
        if let Ok(m) = Manifest::parse(mutated.as_bytes()) {
            prop_assert_eq!(m.to_canonical(), mutated);
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn manifest_frame_decode_of_mutated_compressed_bytes(ops in ops()) {
        let frame = base().manifest_frame_bytes();
        let _ = ManifestFrame::decode(&apply(frame, &ops));
    }

    #[test]
    fn manifest_frame_decode_of_mutated_tar(ops in ops()) {
        let tar = base().manifest_frame_tar();
        let mutated = apply(tar.clone(), &ops);
        let frame = compress_frame(&mutated, 1).unwrap();
        if let Ok(m) = ManifestFrame::decode(&frame) {
            // Anything accepted still holds the manifest bytes at the start of the stream.
            prop_assert!(mutated.windows(m.manifest.len().max(1)).any(|w| w == &m.manifest[..]) || m.manifest.is_empty());
        }
    }

    #[test]
    fn signature_parse_and_verify_never_panic(line in 0usize..5, ops in ops()) {
        let p = base();
        let (name, text) = &p.signatures[0];
        // Mutate one line of the four (or, for 4, the whole file).
        let mutated = if line == 4 {
            apply(text.clone(), &ops)
        } else {
            let mut lines: Vec<Vec<u8>> =
                text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            lines[line] = apply(lines[line].clone(), &ops);
            lines.join(&b'\n')
        };
        let digest = p.manifest.digest_of(p.manifest_text.as_bytes());
        if let Ok(sig) = ParsedSignature::parse(name, &mutated, &p.manifest.bundle, &digest) {
            let trusted = airlock::trust::trust_file::TrustedKey::parse(&key().public_base64).unwrap();
            let _ = trusted.verify(&sig, p.manifest_text.as_bytes());
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn whole_path_on_raw_mutations(ops in ops()) {
        let original = base().bytes();
        let mutated = apply(original.clone(), &ops);
        let code = run_both(&mutated);
        if code == 0 && mutated != original {
            // Accepted despite a change: only if the signed manifest is the original one
            // (the tree was already checked to be the original tree).
            prop_assert_eq!(manifest_of(&mutated), Some(base().manifest_text.as_bytes().to_vec()));
        }
    }

    #[test]
    fn whole_path_on_signed_manifest_mutations(ops in ops()) {
        let mut p = base().clone();
        let mutated = apply(p.manifest_text.clone().into_bytes(), &ops);
        let Ok(text) = String::from_utf8(mutated) else { return Ok(()) };
        p.manifest_text = text;
        p.sign_text();
        run_both(&p.bytes());
    }

    #[test]
    fn whole_path_on_signed_payload_mutations(ops in ops()) {
        let p0 = base();
        let files = [
            file("data/d/a.txt", b"alpha alpha alpha\n".to_vec()),
            file("data/d/sub/b.txt", vec![b'b'; 700]),
            file("data/e/c.json", b"{\"k\": 1}\n".to_vec()),
        ];
        let tar = canonical_tar(&files);
        let mutated = apply(tar.clone(), &ops);
        let p = Parts::from_tar(p0.manifest.files.clone(), &mutated);
        let code = run_both(&p.bytes());
        if mutated != tar {
            prop_assert_eq!(code, 1, "a changed payload was accepted");
        }
    }
}

/// A split bundle: two volumes cut by `airlock::container::volume::split` from a crafted bundle whose two
/// large (compressible) files give it several frames. Returns the volumes' bytes and the tree.
/// Relative path → (mode, content).
type Tree = BTreeMap<String, (u32, Vec<u8>)>;

fn volumes() -> &'static (Vec<Vec<u8>>, Tree) {
    static V: OnceLock<(Vec<Vec<u8>>, Tree)> = OnceLock::new();
    V.get_or_init(|| {
        let files = vec![
            file("data/v/a.dat", b"volume test a\n".repeat(80_000)),
            file("data/v/b.dat", b"volume test b\n".repeat(80_000)),
        ];
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("v.airlock.tar.zst");
        Parts::honest(&files).write(&bundle);
        let opened = airlock::container::bundle::open(&bundle).unwrap();
        let reserve = airlock::container::volume::volume_reserve(&opened);
        let largest = opened
            .manifest
            .frames
            .iter()
            .map(|f| f.compressed_size)
            .max()
            .unwrap();
        let out = airlock::container::volume::split(&opened, &bundle, reserve + largest).unwrap();
        assert!(out.len() >= 2, "expected a multi-volume split");
        // Control: the unmutated set unpacks.
        let trust = dir.path().join("trust.toml");
        std::fs::write(&trust, trust_toml()).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("unpack")
            .args(out.iter().map(|v| &v.path))
            .arg("--trust")
            .arg(&trust)
            .arg("--state")
            .arg(dir.path().join("state"))
            .args(["--now", NOW, "--dest"])
            .arg(dir.path().join("dest"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let bytes = out
            .iter()
            .map(|v| std::fs::read(&v.path).unwrap())
            .collect();
        let tree = files
            .iter()
            .map(|f| (f.path.clone(), (0o644, f.content.clone())))
            .collect();
        (bytes, tree)
    })
}

proptest! {
    #![proptest_config(config(32))]

    /// Raw mutations of one volume of a split bundle: `verify` of that volume and `unpack` of the
    /// whole set never crash, and anything accepted unpacks to the original tree.
    #[test]
    fn volumes_on_raw_mutations(which in any::<prop::sample::Index>(), ops in ops()) {
        let (vols, tree) = volumes();
        let i = which.index(vols.len());
        let dir = tempfile::tempdir().unwrap();
        let trust = dir.path().join("trust.toml");
        std::fs::write(&trust, trust_toml()).unwrap();
        let paths: Vec<_> = (0..vols.len())
            .map(|n| dir.path().join(format!("v.airlock.tar.zst.{:03}", n + 1)))
            .collect();
        for (n, p) in paths.iter().enumerate() {
            let bytes = if n == i { apply(vols[n].clone(), &ops) } else { vols[n].clone() };
            std::fs::write(p, bytes).unwrap();
        }
        let dest = dir.path().join("dest");
        let base = |sub: &str| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
            c.arg(sub)
                .arg("--trust")
                .arg(&trust)
                .arg("--state")
                .arg(dir.path().join("state"))
                .args(["--now", NOW, "--threads", "2"]);
            c
        };
        let v = base("verify").arg(&paths[i]).output().unwrap();
        let u = base("unpack").args(&paths).arg("--dest").arg(&dest).output().unwrap();
        let joined = dir.path().join("joined.airlock.tar.zst");
        let j = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("join")
            .args(&paths)
            .arg("-o")
            .arg(&joined)
            .output()
            .unwrap();
        assert_documented_exit("join", &j);
        let insp = Command::new(env!("CARGO_BIN_EXE_airlock")).arg("inspect").arg(&paths[i]).output().unwrap();
        assert_documented_exit("inspect", &insp);
        if j.status.code() == Some(0) {
            // A joined set must be the original bundle's tree or be refused by verify.
            let jv = base("unpack").arg(&joined).arg("--dest").arg(dir.path().join("dest-joined")).output().unwrap();
            assert_documented_exit("unpack of the joined bundle", &jv);
            if jv.status.code() == Some(0) {
                prop_assert_eq!(&files_under(&dir.path().join("dest-joined")), tree);
            }
        }
        for (what, o) in [("verify", &v), ("unpack", &u)] {
            prop_assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{} crashed or exited {:?}: {}",
                what,
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if u.status.code() == Some(0) {
            prop_assert_eq!(&files_under(&dest), tree);
        } else {
            prop_assert!(!dest.exists());
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The policy and safeguard files a bundle carries are parsed from the manifest frame's
    /// copies before any signature is checked: their parsers must never panic either.
    #[test]
    fn policy_and_safeguard_parsers_never_panic(which in 0usize..5, ops in ops()) {
        const FILES: [(&str, &str); 5] = [
            ("policy.toml", include_str!("../../manifests/example/policy/policy.toml")),
            ("audit-logging.toml", include_str!("../../manifests/example/safeguards/audit-logging.toml")),
            ("human-review.toml", include_str!("../../manifests/example/safeguards/human-review.toml")),
            ("content-filter.toml", include_str!("../../manifests/example/safeguards/content-filter.toml")),
            ("rate-limits.toml", include_str!("../../manifests/example/safeguards/rate-limits.toml")),
        ];
        let (name, text) = FILES[which];
        let mutated = apply(text.as_bytes().to_vec(), &ops);
        let Ok(mutated) = String::from_utf8(mutated) else { return Ok(()) };
        if which == 0 {
            let _ = airlock::trust::policy::Policy::parse(&mutated);
        } else {
            let _ = airlock::trust::safeguards::Safeguard::parse(name, &mutated);
        }
    }

    /// The content gate judges staged files (signed content) by their bytes: never panics on
    /// mutated safetensors headers.
    #[test]
    fn safetensors_gate_never_panics(ops in ops()) {
        let bytes = include_bytes!("../../manifests/example/models/acme-7b/model.safetensors");
        let head = &bytes[..bytes.len().min(4096)];
        let mut mutated = apply(head.to_vec(), &ops);
        if mutated.len() < bytes.len() {
            mutated.extend_from_slice(&bytes[head.len()..]);
        }
        let size = mutated.len() as u64;
        let _ = airlock::trust::gate::check_safetensors(&mut std::io::Cursor::new(&mutated), size);
        let _ = airlock::trust::gate::judge("model.safetensors", &mut std::io::Cursor::new(&mutated), size);
    }
}

/// A delta between two crafted bundles that share one large frame, its base, and the new tree.
fn delta() -> &'static (Vec<u8>, Vec<u8>, Tree) {
    static D: OnceLock<(Vec<u8>, Vec<u8>, Tree)> = OnceLock::new();
    D.get_or_init(|| {
        let shared = noise(3 << 20, 7);
        let old_files = vec![
            file("data/v/a.txt", b"old\n".to_vec()),
            file("data/v/big.dat", shared.clone()),
        ];
        let new_files = vec![
            file("data/v/a.txt", b"new\n".to_vec()),
            file("data/v/big.dat", shared),
        ];
        let dir = tempfile::tempdir().unwrap();
        let (old_path, new_path, delta_path) = (
            dir.path().join("old.airlock.tar.zst"),
            dir.path().join("new.airlock.tar.zst"),
            dir.path().join("new.airlock-delta"),
        );
        Parts::honest(&old_files).write(&old_path);
        let mut new = Parts::honest(&new_files);
        new.manifest.bundle.sequence = 2;
        new.seal();
        new.write(&new_path);
        let (old, newb) = (
            airlock::container::bundle::open(&old_path).unwrap(),
            airlock::container::bundle::open(&new_path).unwrap(),
        );
        airlock::container::delta::write_delta(&newb, &old, &delta_path).unwrap();
        // Control: the unmutated delta unpacks against its base, carrying only the changed frame.
        let trust = dir.path().join("trust.toml");
        std::fs::write(&trust, trust_toml()).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("unpack")
            .arg(&delta_path)
            .arg("--base")
            .arg(&old_path)
            .arg("--trust")
            .arg(&trust)
            .arg("--state")
            .arg(dir.path().join("state"))
            .args(["--now", NOW, "--dest"])
            .arg(dir.path().join("dest"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            std::fs::metadata(&delta_path).unwrap().len()
                < std::fs::metadata(&new_path).unwrap().len() / 2,
            "the delta should not carry the shared large file"
        );
        let tree = new_files
            .iter()
            .map(|f| (f.path.clone(), (0o644, f.content.clone())))
            .collect();
        (
            std::fs::read(&old_path).unwrap(),
            std::fs::read(&delta_path).unwrap(),
            tree,
        )
    })
}

proptest! {
    #![proptest_config(config(32))]

    /// Raw mutations of a delta or of its base: `patch`, `unpack --base`, `verify` and `inspect`
    /// never crash, and anything `unpack --base` accepts is the new tree.
    #[test]
    fn deltas_on_raw_mutations(mutate_base in any::<bool>(), ops in ops()) {
        let (old, delta, tree) = delta();
        let dir = tempfile::tempdir().unwrap();
        let trust = dir.path().join("trust.toml");
        std::fs::write(&trust, trust_toml()).unwrap();
        let (old_path, delta_path) = (dir.path().join("old.airlock.tar.zst"), dir.path().join("d.airlock-delta"));
        let (o, d) = if mutate_base { (apply(old.clone(), &ops), delta.clone()) } else { (old.clone(), apply(delta.clone(), &ops)) };
        std::fs::write(&old_path, o).unwrap();
        std::fs::write(&delta_path, d).unwrap();
        let airlock = || Command::new(env!("CARGO_BIN_EXE_airlock"));
        let checks = |c: &mut Command| {
            c.arg("--trust").arg(&trust).arg("--state").arg(dir.path().join("state")).args(["--now", NOW]);
        };
        let patch = airlock().arg("patch").arg(&old_path).arg(&delta_path).arg("-o").arg(dir.path().join("p.airlock.tar.zst")).output().unwrap();
        assert_documented_exit("patch", &patch);
        let mut v = airlock();
        v.arg("verify").arg(&delta_path);
        checks(&mut v);
        assert_documented_exit("verify", &v.output().unwrap());
        assert_documented_exit("inspect", &airlock().arg("inspect").arg(&delta_path).output().unwrap());
        let dest = dir.path().join("dest");
        let mut u = airlock();
        u.arg("unpack").arg(&delta_path).arg("--base").arg(&old_path).arg("--dest").arg(&dest);
        checks(&mut u);
        let u = u.output().unwrap();
        assert_documented_exit("unpack --base", &u);
        if u.status.code() == Some(0) {
            prop_assert_eq!(&files_under(&dest), tree);
        } else {
            prop_assert!(!dest.exists());
        }
    }
}
