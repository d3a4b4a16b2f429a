//! Stock-tool interoperability (issue 2, property 3): a bundle is an ordinary `.tar.zst` that
//! `tar --zstd -xf` and `zstd -dc | tar -x` extract to the same tree `airlock unpack` writes, plus
//! `airlock/`; stock `minisign -V` verifies the manifest signature made with an `airlock keygen`
//! key; airlock accepts keys made by stock `minisign -G -W`, for signing and in trust.toml;
//! `sha256sum -c airlock/SHA256SUMS` checks the extracted tree, and the checksum file is bound to
//! the signed manifest; and the README's stock-tools recipe (read from README.md) works on a good bundle
//! and fails on tampered ones. These tests need `tar`, `zstd`, `minisign`, `sha256sum` and
//! `bash`, and fail (never skip) when one is missing.
use crate::support::common;

use airlock::format::digest::{hex, sha256};
use airlock::format::frame::compress_frame;
use airlock::format::path::BundlePath;
use airlock::format::{self, Footer, Mode};
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The README's "check a bundle with stock tools" recipe, read from README.md between its
/// markers, so the test runs exactly what users are told to run. Inputs: `BUNDLE`, `PUBKEY` (the
/// release signer's `.pub` file) and `KEYID` (its key id); it extracts into the current directory,
/// which should be empty.
fn recipe() -> String {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable");
    let start = readme
        .find("<!-- stock-tools-recipe:begin -->")
        .expect("README.md marks the recipe's start");
    let end = readme
        .find("<!-- stock-tools-recipe:end -->")
        .expect("README.md marks the recipe's end");
    let block = &readme[start..end];
    let body = block
        .split_once("```bash\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(body, _)| body)
        .expect("the recipe is a ```bash block");
    body.to_string()
}

fn require_stock_tools() {
    for tool in ["tar", "zstd", "minisign", "sha256sum", "bash"] {
        require_tool(tool);
    }
}

fn sh(script: &str, dir: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-euo").arg("pipefail").arg("-c").arg(script);
    cmd.current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("bash runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh empty directory below the fixture.
fn empty_dir(f: &Fixture, name: &str) -> PathBuf {
    let dir = f.path(name);
    fs::create_dir(&dir).unwrap();
    dir
}

/// Extracts `bundle` with `tar --zstd -xf` into a new directory and returns it.
fn tar_extract(f: &Fixture, bundle: &Path, name: &str) -> PathBuf {
    let dir = empty_dir(f, name);
    let out = sh("tar --zstd -xf \"$BUNDLE\"", &dir, &[("BUNDLE", bundle)]);
    assert_exit(&out, 0);
    dir
}

/// Relative path → (content, mode).
type Files = BTreeMap<String, (Vec<u8>, u32)>;

/// Splits an extracted tree into payload files and `airlock/` files.
fn split_airlock(all: Files) -> (Files, Files) {
    all.into_iter()
        .partition(|(p, _)| !p.starts_with("airlock/"))
}

/// `tar --zstd -xf` and `zstd -dc | tar -x` extract exactly the tree `airlock unpack` writes
/// (contents, modes, mtimes), plus `airlock/manifest.toml`, `airlock/SHA256SUMS`, the copy of the
/// safeguard file and the signature file, byte-identical to what the library reads from the
/// manifest frame.
#[test]
fn stock_tar_and_zstd_extract_the_tree_plus_airlock() {
    require_stock_tools();
    let f = Fixture::new();
    let reference = f.path("airlock-unpacked");
    assert_exit(&f.unpack(&f.bundle, &f.trust, &reference, &[]), 0);
    let want = files_of(&reference);
    let opened = open(&f.bundle);

    let by_tar = tar_extract(&f, &f.bundle, "by-tar");
    let by_zstd = empty_dir(&f, "by-zstd");
    let out = sh(
        "zstd -dc \"$BUNDLE\" | tar -x",
        &by_zstd,
        &[("BUNDLE", &f.bundle)],
    );
    assert_exit(&out, 0);

    for dir in [&by_tar, &by_zstd] {
        let (payload_files, airlock_files) = split_airlock(files_of(dir));
        assert_eq!(
            payload_files.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (path, (content, mode)) in &want {
            let (c, m) = &payload_files[path];
            assert!(c == content, "{path}: content differs");
            assert_eq!(m, mode, "{path}: mode");
        }
        for (rel, node) in snapshot(dir) {
            if node.kind == 'f' {
                assert_eq!(
                    node.mtime, EPOCH as i64,
                    "{rel}: tar restored another mtime"
                );
            }
        }
        // The manifest frame also carries copies of the safeguard (and policy) files, so the
        // receiving side can judge them from that frame alone: identical to the payload files.
        let copy = "airlock/copies/safeguard/content-filter/content-filter.toml";
        let sig = format!("airlock/signatures/release-{}.minisig", f.key.id);
        assert_eq!(
            airlock_files.keys().cloned().collect::<Vec<_>>(),
            vec![
                "airlock/SHA256SUMS".to_string(),
                copy.to_string(),
                "airlock/manifest.toml".to_string(),
                sig.clone()
            ]
        );
        assert_eq!(
            airlock_files[copy],
            want["safeguard/content-filter/content-filter.toml"]
        );
        assert_eq!(
            airlock_files["airlock/manifest.toml"].0,
            opened.frame.manifest
        );
        assert_eq!(airlock_files["airlock/SHA256SUMS"].0, opened.frame.sums);
        assert_eq!(airlock_files[&sig].0, opened.frame.signatures[0].1);
    }
}

/// Stock `minisign -V` verifies the release signature (made with an `airlock keygen` key) and a
/// transfer countersignature over the extracted manifest, printing airlock's trusted comment;
/// it refuses an edited manifest and the wrong public key.
#[test]
fn stock_minisign_verifies_the_manifest_signature_of_an_airlock_key() {
    require_stock_tools();
    let f = Fixture::new();
    let officer = keygen(f.tmp.path(), "officer");
    let signed = f.path("countersigned.tar.zst");
    assert_exit(
        &run(airlock()
            .arg("sign")
            .arg(&f.bundle)
            .arg("--key")
            .arg(&officer.secret)
            .args(["--role", "transfer", "-o"])
            .arg(&signed)),
        0,
    );
    let dir = tar_extract(&f, &signed, "x");
    let manifest_hex = hex(&open(&signed).manifest_sha256);
    let verify = |sig: &str, key: &Key| {
        let out = Command::new("minisign")
            .args(["-Vm", "airlock/manifest.toml", "-x", sig, "-p"])
            .arg(&key.public)
            .current_dir(&dir)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out))
    };
    let release_sig = format!("airlock/signatures/release-{}.minisig", f.key.id);
    let transfer_sig = format!("airlock/signatures/transfer-{}.minisig", officer.id);
    for (sig, key, role) in [
        (&release_sig, &f.key, "release"),
        (&transfer_sig, &officer, "transfer"),
    ] {
        let (code, text) = verify(sig, key);
        assert_eq!(code, Some(0), "{text}");
        assert!(
            text.contains(&format!(
                "Trusted comment: airlock-bundle/1 name=acme-7b version=1.0.0 sequence=1 target={SITE} manifest_sha256={manifest_hex} role={role} signed="
            )),
            "{text}"
        );
    }
    assert_ne!(
        verify(&release_sig, &officer).0,
        Some(0),
        "wrong key accepted"
    );
    let manifest = dir.join("airlock/manifest.toml");
    let mut text = fs::read_to_string(&manifest).unwrap();
    text = text.replace("sequence = 1", "sequence = 9");
    fs::write(&manifest, text).unwrap();
    assert_ne!(
        verify(&release_sig, &f.key).0,
        Some(0),
        "edited manifest accepted"
    );
}

/// Keys made by stock `minisign -G -W` (unencrypted) sign bundles with `airlock pack` and
/// `airlock sign`, and their base64 line pins them in trust.toml: verify --deep and unpack pass,
/// stock minisign verifies the result, and the key id is the one minisign printed
/// (zero-padded to 16 digits).
#[test]
fn airlock_accepts_keys_made_by_stock_minisign() {
    require_stock_tools();
    let f = Fixture::new();
    let dir = f.tmp.path();
    let make = |name: &str| -> Key {
        let out = Command::new("minisign")
            .args(["-G", "-W", "-p"])
            .arg(dir.join(format!("{name}.pub")))
            .arg("-s")
            .arg(dir.join(format!("{name}.key")))
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let public = fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
        let mut lines = public.lines();
        // minisign prints the key number in hex without leading zeros ("%" PRIX64); airlock
        // always writes 16 digits.
        let printed = lines.next().unwrap().rsplit(' ').next().unwrap();
        let id = format!("{:016X}", u64::from_str_radix(printed, 16).unwrap());
        Key {
            public: dir.join(format!("{name}.pub")),
            secret: dir.join(format!("{name}.key")),
            base64: lines.next().unwrap().trim().to_string(),
            id,
        }
    };
    let release = make("stock-release");
    let officer = make("stock-officer");
    assert_eq!(release.id.len(), 16, "{release:?}");

    let bundle = f.path("stock-key.tar.zst");
    pack(&f.spec, &release, &bundle);
    assert_exit(
        &run(airlock()
            .arg("sign")
            .arg(&bundle)
            .arg("--key")
            .arg(&officer.secret)
            .args(["--role", "transfer"])),
        0,
    );
    let opened = open(&bundle);
    let ids: Vec<&str> = opened
        .signatures
        .iter()
        .map(|s| s.key_id.as_str())
        .collect();
    assert_eq!(ids, vec![release.id.as_str(), officer.id.as_str()]);

    let trust = f.path("stock-trust.toml");
    write_trust(
        &trust,
        SITE,
        &[("release", 1, &[&release]), ("transfer", 1, &[&officer])],
    );
    assert_exit(&f.verify(&bundle, &trust, &["--deep"]), 0);
    assert_exit(&f.unpack(&bundle, &trust, &f.path("stock-dest"), &[]), 0);
    // The airlock-keygen key is not pinned in this trust file.
    f.assert_refused(&f.bundle, &trust, &[], &["threshold"]);

    let x = tar_extract(&f, &bundle, "stock-x");
    let out = Command::new("minisign")
        .args(["-Vm", "airlock/manifest.toml", "-x"])
        .arg(format!("airlock/signatures/release-{}.minisig", release.id))
        .arg("-p")
        .arg(&release.public)
        .current_dir(&x)
        .output()
        .unwrap();
    assert_exit(&out, 0);
}

/// After `tar --zstd -xf`, `sha256sum -c airlock/SHA256SUMS` checks every payload file from the
/// extraction root, the checksum file's sha256 is the manifest's `checksums_sha256`, and a
/// changed file fails the check.
#[test]
fn sha256sum_checks_the_extracted_tree() {
    require_stock_tools();
    let f = Fixture::new();
    let dir = tar_extract(&f, &f.bundle, "x");
    let opened = open(&f.bundle);
    let out = Command::new("sha256sum")
        .args(["-c", "airlock/SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let text = stdout(&out);
    for file in &opened.manifest.files {
        assert!(text.contains(&format!("{}: OK", file.path)), "{text}");
    }
    let sums = fs::read(dir.join("airlock/SHA256SUMS")).unwrap();
    assert_eq!(sha256(&sums), opened.manifest.layout.checksums.as_bytes());
    let manifest = fs::read_to_string(dir.join("airlock/manifest.toml")).unwrap();
    assert!(manifest.contains(&format!("checksums_sha256 = \"{}\"\n", hex(&sha256(&sums)))));

    let config = dir.join("model/acme-7b/config.json");
    let mut bytes = fs::read(&config).unwrap();
    bytes.push(b' ');
    fs::write(&config, bytes).unwrap();
    let out = Command::new("sha256sum")
        .args(["-c", "airlock/SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("model/acme-7b/config.json: FAILED"));
}

/// Runs the README recipe on `bundle` in a fresh directory with the fixture's release key.
fn run_recipe(f: &Fixture, bundle: &Path, key: &Key, name: &str) -> Output {
    let dir = empty_dir(f, name);
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &recipe()])
        .current_dir(&dir)
        .env("BUNDLE", bundle)
        .env("PUBKEY", &key.public)
        .env("KEYID", &key.id);
    cmd.output().expect("bash runs")
}

/// The README's stock-tools recipe, run exactly as documented, passes on a good bundle (also one
/// whose signer used a stock minisign key) and fails on: the wrong public key, a manifest edited
/// after signing, a checksum file with a line dropped (so `sha256sum -c` alone would pass), and
/// an extra file smuggled into the archive before the manifest frame. airlock refuses each
/// tampered bundle too.
#[test]
fn readme_stock_tools_recipe() {
    require_stock_tools();
    let f = Fixture::new();
    let out = run_recipe(&f, &f.bundle, &f.key, "good");
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("model/acme-7b/model.safetensors: OK"),
        "{}",
        describe(&out)
    );
    assert!(text.contains(&format!("target = \"{SITE}\"")), "{text}");

    // The wrong key.
    let stranger = keygen(f.tmp.path(), "stranger");
    let mut wrong = stranger.clone();
    wrong.id = f.key.id.clone();
    assert_ne!(
        run_recipe(&f, &f.bundle, &wrong, "wrong-key").status.code(),
        Some(0)
    );

    // A manifest edited after signing.
    let edited = f.path("edited.tar.zst");
    rewrite_manifest_frame(&f.bundle, &edited, |frame| {
        let text = String::from_utf8(frame.manifest.clone()).unwrap();
        frame.manifest = text
            .replace("expires = \"2098-", "expires = \"2099-")
            .into_bytes();
    });
    let out = run_recipe(&f, &edited, &f.key, "edited");
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stderr(&out).contains("Signature verification failed"),
        "{}",
        describe(&out)
    );
    assert_rejected(&f.verify(&edited, &f.trust, &[]), &["signature"]);

    // A checksum file with the safetensors line dropped: sha256sum -c alone would still pass.
    let dropped = f.path("dropped.tar.zst");
    rewrite_manifest_frame(&f.bundle, &dropped, |frame| {
        let text = String::from_utf8(frame.sums.clone()).unwrap();
        frame.sums = text
            .lines()
            .filter(|l| !l.ends_with("model.safetensors"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes();
    });
    let dir = tar_extract(&f, &dropped, "dropped-check");
    let out = Command::new("sha256sum")
        .args(["-c", "airlock/SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let out = run_recipe(&f, &dropped, &f.key, "dropped");
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !stdout(&out).contains(": OK"),
        "the recipe went past the binding check"
    );
    assert_rejected(&f.verify(&dropped, &f.trust, &[]), &["checksums"]);

    // An extra tar entry in a frame of its own between the payload and the manifest frame.
    let smuggled = f.path("smuggled.tar.zst");
    let opened = open(&f.bundle);
    let evil = b"#!/bin/sh\necho smuggled\n";
    let path = BundlePath::parse("model/acme-7b/evil.sh").unwrap();
    let mut tar =
        format::canonical_header(&path, evil.len() as u64, Mode::Executable, EPOCH).to_vec();
    tar.extend_from_slice(evil);
    tar.resize(tar.len() + format::padding(evil.len() as u64) as usize, 0);
    let mut bytes = payload(&f.bundle);
    bytes.extend_from_slice(&compress_frame(&tar, 3).unwrap());
    let manifest_frame = opened
        .frame
        .encode(opened.manifest.layout.zstd_level)
        .unwrap();
    let footer = Footer {
        manifest_offset: bytes.len() as u64,
        manifest_len: manifest_frame.len() as u64,
    };
    bytes.extend_from_slice(&manifest_frame);
    bytes.extend_from_slice(&footer.encode());
    fs::write(&smuggled, bytes).unwrap();
    let x = tar_extract(&f, &smuggled, "smuggled-check");
    assert!(
        x.join("model/acme-7b/evil.sh").is_file(),
        "stock tar extracts it"
    );
    let out = run_recipe(&f, &smuggled, &f.key, "smuggled");
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stdout(&out).contains("evil.sh"), "{}", describe(&out));
    assert_rejected(&f.verify(&smuggled, &f.trust, &[]), &["footer"]);
}
