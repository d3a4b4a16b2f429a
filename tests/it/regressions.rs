//! Regression tests for issue 9: every crash, bypass and stuck state the independent review found.
//! Each test is named after the defect it pins down and failed on main before the fix.
use crate::support::common;
use crate::support::craft;

use common::{Key, airlock, describe, keygen, run, write_trust};
use craft::{Entry, NOW, Parts, SITE, TestKey, file, trust_toml};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn assert_code(o: &Output, want: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(o), Some(want), "{}", describe(o));
    assert!(
        err.contains(needle),
        "expected `{needle}` in: {}",
        describe(o)
    );
}

/// A scratch site: trust file pinning the craft key (and a policy key when asked), a state dir.
struct Site {
    dir: tempfile::TempDir,
}

fn policy_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

impl Site {
    fn new(with_policy: bool) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let mut trust = trust_toml();
        if with_policy {
            trust.push_str(&format!(
                "\n[roles.policy]\nthreshold = 1\nkeys = [\"{}\"]\n",
                policy_key().public_base64
            ));
        }
        fs::write(dir.path().join("trust.toml"), trust).unwrap();
        Site { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, parts: &Parts) -> PathBuf {
        let p = self.path("b.airlock.tar.zst");
        parts.write(&p);
        p
    }

    fn cmd(&self, args: &[&str], bundle: &Path) -> Output {
        run(airlock()
            .arg(args[0])
            .arg(bundle)
            .args(&args[1..])
            .arg("--trust")
            .arg(self.path("trust.toml"))
            .arg("--state")
            .arg(self.path("state"))
            .args(["--now", NOW]))
    }

    fn unpack(&self, bundle: &Path, dest: &str, extra: &[&str]) -> Output {
        let dest = self.path(dest);
        let mut args = vec!["unpack", "--dest", dest.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.cmd(&args, bundle)
    }
}

/// A policy file set for a crafted bundle, signed by the policy key with the minisign crate (as a
/// stock `minisign -S` would: airlock's own `sign-policy` refuses to sign an invalid policy).
fn policy_files(policy_text: &str) -> Vec<Entry> {
    let k = &policy_key().key;
    let sig = minisign::sign(
        Some(&k.public),
        &k.secret,
        std::io::Cursor::new(policy_text.as_bytes()),
        Some("policy"),
        Some("policy signature"),
    )
    .unwrap();
    vec![
        file("policy/p/policy.toml", policy_text),
        file("policy/p/policy.toml.minisig", sig.into_string()),
    ]
}

const POLICY_HEAD: &str = "[policy]\nid = \"p\"\nversion = 1\nissued = \"2025-01-01T00:00:00Z\"\nexpires = \"2090-01-01T00:00:00Z\"\n";

/// No command may panic (exit 101) or die by a signal, whatever it is given.
fn assert_no_crash(o: &Output) {
    assert!(
        matches!(code(o), Some(0..=3)),
        "crashed or was killed: {}",
        describe(o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{}",
        describe(o)
    );
}

// --- 1. one key counted twice -------------------------------------------------------------

/// The same Ed25519 public key under another minisign key id: base64 of "Ed" || keynum || pk.
fn with_key_id(public_base64: &str, keynum: [u8; 8]) -> String {
    use base64_engine::*;
    let mut raw = decode(public_base64);
    raw[2..10].copy_from_slice(&keynum);
    encode(&raw)
}

/// A minisign signature file whose key id is rewritten (the key id is not covered by the signature).
fn rewrite_sig_key_id(sig: &[u8], keynum: [u8; 8]) -> Vec<u8> {
    use base64_engine::*;
    let text = String::from_utf8(sig.to_vec()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut raw = decode(&lines[1]);
    raw[2..10].copy_from_slice(&keynum);
    lines[1] = encode(&raw);
    format!("{}\n", lines.join("\n")).into_bytes()
}

mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn decode(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in text.trim().trim_end_matches('=').bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[test]
fn one_public_key_under_two_key_ids_counts_once() {
    let k = craft::key();
    let other_id = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let site = Site::new(false);
    fs::write(
        site.path("trust.toml"),
        format!(
            "site = \"{SITE}\"\n\n[roles.release]\nthreshold = 2\nkeys = [\"{}\", \"{}\"]\n",
            k.public_base64,
            with_key_id(&k.public_base64, other_id)
        ),
    )
    .unwrap();
    let mut parts = Parts::honest(&craft::small_files());
    let (name, sig) = parts.signatures[0].clone();
    let copy_name = format!("release-{:016X}.minisig", u64::from_le_bytes(other_id));
    parts.signatures = vec![
        (name, sig.clone()),
        (copy_name, rewrite_sig_key_id(&sig, other_id)),
    ];
    parts.signatures.sort();
    let bundle = site.write(&parts);
    let o = site.cmd(&["verify"], &bundle);
    assert_code(&o, 2, "same public key");
}

// --- 2. notice period wraps around --------------------------------------------------------

fn notice_policy(notice_days: &str) -> String {
    format!("{POLICY_HEAD}\n[[sensitive_target]]\nname = \"{SITE}\"\nnotice_days = {notice_days}\n")
}

#[test]
fn a_notice_period_that_would_wrap_around_is_refused() {
    for days in ["9223372036854775807", "213503982334602"] {
        let site = Site::new(true);
        let mut files = craft::small_files();
        files.extend(policy_files(&notice_policy(days)));
        let mut parts = Parts::honest(&files);
        parts.manifest.bundle.notice_given = Some(craft::at(1_800_000_000));
        parts.manifest.bundle.not_before = Some(craft::at(1_800_086_400));
        parts.seal();
        let bundle = site.write(&parts);
        let o = site.cmd(&["verify"], &bundle);
        assert_no_crash(&o);
        assert_code(&o, 1, "notice_days");
    }
}

// --- 3. weights as a data artifact ----------------------------------------------------------

const MODEL_CONFIG: &[u8] = b"{\"model_type\": \"llama\"}\n";

fn tiny_safetensors() -> Vec<u8> {
    let header = br#"{"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&[0; 8]);
    out
}

fn approving_policy() -> String {
    let d = airlock::format::manifest::tree_digest(
        airlock::format::digest::HashAlg::Sha256,
        [(
            "config.json",
            MODEL_CONFIG.len() as u64,
            airlock::format::Mode::Regular,
            craft::digest(MODEL_CONFIG),
        )],
    );
    format!(
        "{POLICY_HEAD}\n[[model]]\nname = \"m\"\ntree_digest = \"{}\"\ntargets = [\"{SITE}\"]\n",
        d.prefixed()
    )
}

#[test]
fn unapproved_weights_shipped_as_a_data_artifact_are_refused() {
    let site = Site::new(true);
    let mut files = vec![
        file("model/m/config.json", MODEL_CONFIG),
        file("data/extra/shard.safetensors", tiny_safetensors()),
    ];
    files.extend(policy_files(&approving_policy()));
    let bundle = site.write(&Parts::honest(&files));
    for args in [&["verify"][..], &["verify", "--deep"]] {
        let o = site.cmd(args, &bundle);
        assert_code(&o, 1, "model-approval");
    }
    let o = site.unpack(&bundle, "dest", &[]);
    assert_code(&o, 1, "model-approval");
    assert!(!site.path("dest").exists());
}

// --- 4. text pickles --------------------------------------------------------------------------

#[test]
fn a_protocol_0_pickle_is_refused_by_the_content_gate() {
    let site = Site::new(false);
    let files = vec![file(
        "data/d/weights.dat",
        b"cos\nsystem\n(S'id'\ntR.".to_vec(),
    )];
    let bundle = site.write(&Parts::honest(&files));
    let o = site.unpack(&bundle, "dest", &[]);
    assert_code(&o, 1, "content-gate");
    assert!(!site.path("dest").exists());
}

// --- 5. case collisions through directories ------------------------------------------------

#[test]
fn paths_that_collide_by_case_through_a_directory_are_refused() {
    for paths in [
        ["model/x/A/f", "model/x/a"],
        ["model/Tiny2/config.json", "model/tiny2/config.json"],
    ] {
        let site = Site::new(false);
        let files: Vec<Entry> = paths.iter().map(|p| file(p, b"{}\n".to_vec())).collect();
        let bundle = site.write(&Parts::honest(&files));
        let o = site.cmd(&["verify"], &bundle);
        assert_code(&o, 1, "case");
    }
}

// --- 6, 7. time fields out of range -----------------------------------------------------------

#[test]
fn an_mtime_at_2_pow_63_is_refused_by_every_command() {
    let site = Site::new(false);
    let mtime = 1u64 << 63;
    let entry = file("data/d/a.txt", b"alpha\n".to_vec());
    let tar = craft::regular_entry(&entry.path, &entry.content, mtime);
    let mut parts = Parts::from_tar(vec![entry.manifest_entry()], &tar);
    parts.manifest.bundle.mtime = mtime;
    parts.seal();
    let bundle = site.write(&parts);
    for args in [&["verify"][..], &["verify", "--deep"]] {
        assert_code(&site.cmd(args, &bundle), 1, "mtime");
    }
    let o = site.unpack(&bundle, "dest", &[]);
    assert_code(&o, 1, "mtime");
    common::assert_no_staging(site.dir.path());
}

fn year_9999_policy_bundle(signed: bool) -> (Site, PathBuf) {
    let site = Site::new(true);
    let mut files = craft::small_files();
    files.extend(policy_files(&notice_policy("30")));
    let mut parts = Parts::honest(&files);
    let t = airlock::format::time::Timestamp::parse("9999-12-30T00:00:00Z").unwrap();
    // notice_given + 30 days falls in year 10000.
    parts.manifest.bundle.notice_given = Some(t);
    parts.manifest.bundle.not_before = t.checked_add_days(1);
    parts.manifest.bundle.expires = craft::at(t.unix() + 86_400 + 3_600);
    parts.seal();
    if !signed {
        parts.signatures.clear();
    }
    let bundle = site.write(&parts);
    (site, bundle)
}

#[test]
fn dates_in_year_9999_do_not_crash_any_command() {
    let (site, bundle) = year_9999_policy_bundle(true);
    for args in [&["verify"][..], &["verify", "--deep"]] {
        let o = site.cmd(args, &bundle);
        assert_no_crash(&o);
        assert_code(&o, 1, "notice-period");
    }
    let o = site.unpack(&bundle, "dest", &[]);
    assert_no_crash(&o);
    assert_code(&o, 1, "notice-period");
    let o = run(airlock().arg("inspect").arg(&bundle));
    assert_no_crash(&o);
    assert_eq!(code(&o), Some(0), "{}", describe(&o));
}

// --- 8. pack with out-of-range durations ----------------------------------------------------

#[test]
fn pack_refuses_out_of_range_valid_days_and_source_date_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "release");
    let spec = common::example_release(&dir.path().join("src"), "1.0.0", 1);
    let text = fs::read_to_string(&spec).unwrap();
    let long = dir.path().join("src/long.toml");
    let expires_line = format!("expires = \"{}\"", common::EXPIRES);
    fs::write(&long, text.replace(&expires_line, "valid_days = 3000000")).unwrap();
    let o = run(airlock()
        .env("SOURCE_DATE_EPOCH", common::EPOCH.to_string())
        .arg("pack")
        .arg(&long)
        .arg("--key")
        .arg(&key.secret)
        .arg("-o")
        .arg(dir.path().join("a.airlock.tar.zst")));
    assert_code(&o, 2, "valid_days");
    let o = run(airlock()
        .env("SOURCE_DATE_EPOCH", "300000000000")
        .arg("pack")
        .arg(&spec)
        .arg("--key")
        .arg(&key.secret)
        .arg("-o")
        .arg(dir.path().join("b.airlock.tar.zst")));
    assert_code(&o, 2, "SOURCE_DATE_EPOCH");
}

// --- 9. inspect evaluates an unauthenticated policy ----------------------------------------

#[test]
fn inspect_of_an_unsigned_bundle_shows_its_policy_unverified_without_judging_it() {
    let (_site, bundle) = year_9999_policy_bundle(false);
    let o = run(airlock().arg("inspect").arg(&bundle));
    assert_no_crash(&o);
    assert_eq!(code(&o), Some(0), "{}", describe(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("not verified"), "{text}");
    assert!(
        !text.contains("notice-period"),
        "judged unauthenticated data: {text}"
    );
}

// --- 10. malformed policy signature -------------------------------------------------------------

#[test]
fn a_policy_signature_with_a_short_global_signature_is_refused_not_a_crash() {
    let site = Site::new(true);
    let mut files = vec![file("model/m/config.json", MODEL_CONFIG)];
    let mut policy = policy_files(&approving_policy());
    let text = String::from_utf8(policy[1].content.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = "AAAA";
    policy[1].content = format!("{}\n", lines.join("\n")).into_bytes();
    files.extend(policy);
    let bundle = site.write(&Parts::honest(&files));
    let o = site.cmd(&["verify"], &bundle);
    assert_no_crash(&o);
    assert_code(&o, 1, "signature");
}

// --- 11. the content gate's memory on a huge safetensors header -------------------------------

#[test]
fn a_huge_safetensors_header_is_judged_in_bounded_memory() {
    let time = Path::new("/usr/bin/time");
    assert!(time.exists(), "install GNU time (apt-get install -y time)");
    let site = Site::new(false);
    // 1.4 million tensors: a ~95 MB header that compresses to a few MB.
    let mut header = String::from("{");
    let n = 1_400_000u64;
    for i in 0..n {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"t{i}\":{{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[{i},{}]}}",
            i + 1
        ));
    }
    header.push('}');
    let mut content = (header.len() as u64).to_le_bytes().to_vec();
    content.extend_from_slice(header.as_bytes());
    content.extend(std::iter::repeat_n(0u8, n as usize));
    let bundle = site.write(&Parts::honest(&[file("data/d/big.safetensors", content)]));
    let dest = site.path("dest");
    let o = std::process::Command::new(time)
        .arg("-v")
        .arg(common::airlock_path())
        .arg("unpack")
        .arg(&bundle)
        .arg("--trust")
        .arg(site.path("trust.toml"))
        .arg("--state")
        .arg(site.path("state"))
        .args(["--now", NOW])
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let rss_kb: u64 = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in: {err}"));
    assert!(rss_kb < 512 * 1024, "peak RSS {rss_kb} KiB: {err}");
}

// --- 12. FIFOs ----------------------------------------------------------------------------------

fn run_with_timeout(cmd: &mut std::process::Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_fifo_given_as_any_input_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "release");
    let spec = common::example_release(&dir.path().join("src"), "1.0.0", 1);
    let trust = dir.path().join("trust.toml");
    write_trust(&trust, common::SITE, &[("release", 1, &[&key])]);
    let bundle = dir.path().join("b.airlock.tar.zst");
    common::pack(&spec, &key, &bundle);
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let f = fifo.to_str().unwrap();
    let b = bundle.to_str().unwrap();
    let t = trust.to_str().unwrap();
    let s = spec.to_str().unwrap();
    let k = key.secret.to_str().unwrap();
    let state = dir.path().join("state");
    let st = state.to_str().unwrap();
    let d = dir.path().join("dest");
    let dd = d.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", f, "--trust", t, "--state", st],
        vec!["verify", b, "--trust", f, "--state", st],
        vec!["unpack", f, "--trust", t, "--state", st, "--dest", dd],
        vec!["inspect", f],
        vec!["inspect", b, "--trust", f],
        vec!["diff", b, f],
        vec!["pack", f, "--key", k],
        vec!["pack", s, "--key", f],
        vec!["pack", s, "--key", k, "--password-file", f],
        vec!["sign", f, "--key", k],
        vec!["sign-policy", f, "--key", k],
        vec!["digest", f],
        vec!["join", f],
        vec!["patch", b, f],
        vec!["audit", "verify", f],
    ];
    for args in cases {
        let mut cmd = std::process::Command::new(common::airlock_path());
        cmd.args(&args).current_dir(dir.path());
        let out = run_with_timeout(&mut cmd, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("`airlock {}` hung on a FIFO", args.join(" ")));
        assert_eq!(
            code(&out),
            Some(2),
            "`airlock {}`: {}",
            args.join(" "),
            describe(&out)
        );
    }
}

// --- 13..17. unpack's destination and lock ---------------------------------------------------

#[test]
fn replace_onto_a_regular_file_is_refused_before_anything_is_written() {
    let site = Site::new(false);
    let bundle = site.write(&Parts::honest(&craft::small_files()));
    fs::write(site.path("dest"), b"not a directory\n").unwrap();
    let o = site.unpack(&bundle, "dest", &["--replace"]);
    assert_code(&o, 2, "not a directory");
    assert_eq!(fs::read(site.path("dest")).unwrap(), b"not a directory\n");
    common::assert_no_staging(site.dir.path());
    // And a later unpack elsewhere is not stuck on anything left behind.
    assert_eq!(code(&site.unpack(&bundle, "dest2", &[])), Some(0));
}

#[test]
fn a_leftover_staging_entry_of_any_type_is_cleaned_up() {
    let site = Site::new(false);
    let bundle = site.write(&Parts::honest(&craft::small_files()));
    fs::write(
        site.path(".dest.airlock-staging-999999"),
        b"left by a crash\n",
    )
    .unwrap();
    let o = site.unpack(&bundle, "dest", &[]);
    assert_eq!(code(&o), Some(0), "{}", describe(&o));
    common::assert_no_staging(site.dir.path());
}

fn sequenced(sequence: u64) -> Parts {
    let files = vec![
        file("data/d/a.txt", format!("release {sequence}\n").into_bytes()),
        file("data/d/big.bin.dat", craft::noise(8 << 20, sequence)),
    ];
    let mut parts = Parts::honest(&files);
    parts.manifest.bundle.sequence = sequence;
    parts.seal();
    parts
}

#[test]
fn concurrent_replacements_of_one_name_keep_state_and_tree_in_step() {
    let site = Site::new(false);
    let b4 = site.path("b4.airlock.tar.zst");
    let b5 = site.path("b5.airlock.tar.zst");
    sequenced(4).write(&b4);
    sequenced(5).write(&b5);
    let dest = site.path("dest");
    for round in 0..6 {
        let _ = fs::remove_dir_all(&dest);
        let _ = fs::remove_dir_all(site.path("state"));
        let spawn = |b: &Path| {
            std::process::Command::new(common::airlock_path())
                .arg("unpack")
                .arg(b)
                .arg("--trust")
                .arg(site.path("trust.toml"))
                .arg("--state")
                .arg(site.path("state"))
                .args(["--now", NOW, "--replace", "--dest"])
                .arg(&dest)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = if round % 2 == 0 {
            (&b4, &b5)
        } else {
            (&b5, &b4)
        };
        let (ca, cb) = (spawn(a), spawn(b));
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        for o in [&oa, &ob] {
            assert!(matches!(code(o), Some(0 | 1)), "{}", describe(o));
        }
        let state = fs::read_to_string(site.path("state/crafted.toml")).unwrap();
        let installed = fs::read_to_string(dest.join("data/d/a.txt")).unwrap();
        let seq = state
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("sequence = ");
        assert_eq!(
            installed,
            format!("release {seq}\n"),
            "round {round}: state says {seq}, tree holds {installed:?}"
        );
    }
}

#[test]
fn a_garbage_delta_footer_appended_to_a_bundle_is_damage_not_a_usage_error() {
    let site = Site::new(false);
    let bundle = site.write(&Parts::honest(&craft::small_files()));
    let mut bytes = fs::read(&bundle).unwrap();
    let mut tail = vec![0u8; 112];
    tail[0..4].copy_from_slice(&0x184D_2A5Eu32.to_le_bytes());
    tail[4..8].copy_from_slice(&104u32.to_le_bytes());
    tail[8..16].copy_from_slice(b"AIRLDLT1");
    tail[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&tail);
    fs::write(&bundle, bytes).unwrap();
    assert_code(&site.cmd(&["verify"], &bundle), 1, "footer");
    assert_code(&site.unpack(&bundle, "dest", &[]), 1, "footer");
}

#[test]
fn a_failed_unpack_leaves_no_lock_file() {
    let site = Site::new(false);
    let mut parts = Parts::honest(&craft::small_files());
    let last = parts.frames[0].len() - 5;
    parts.frames[0][last] ^= 1;
    parts.seal();
    // Re-sealing signs the corrupted frame's digest: break the frame after signing instead.
    let bundle = site.write(&parts);
    let mut bytes = fs::read(&bundle).unwrap();
    bytes[10] ^= 0x40;
    fs::write(&bundle, bytes).unwrap();
    let o = site.unpack(&bundle, "dest", &[]);
    assert_eq!(code(&o), Some(1), "{}", describe(&o));
    assert!(
        !site.path(".dest.airlock-lock").exists(),
        "lock file left beside the destination"
    );
}

#[test]
fn an_existing_empty_destination_directory_counts_as_absent() {
    let site = Site::new(false);
    let bundle = site.write(&Parts::honest(&craft::small_files()));
    fs::create_dir(site.path("dest")).unwrap();
    let o = site.unpack(&bundle, "dest", &[]);
    assert_eq!(code(&o), Some(0), "{}", describe(&o));
    assert!(site.path("dest/data/d/a.txt").is_file());
}

#[allow(dead_code)]
fn unused(_: &Key) {}
