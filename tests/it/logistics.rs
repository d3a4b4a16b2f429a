//! Crossing logistics end to end, through the real binary: volumes (`pack --max-volume-size`,
//! `verify VOLUME`, `join`, `unpack VOLUMES`), delta bundles (`pack --base`, `patch`,
//! `unpack --base`) and `diff`, on the example release and on generated releases whose large
//! "shards" are pseudo-random (so they do not compress away) valid safetensors files.
//!
//! The byte-level checks read the files with the layouts of `docs/format.md` section 7 written out
//! here independently of the implementation.
use crate::support::common::{
    EXPIRES, Key, SITE, airlock_in as airlock, describe, fails_with as refused, files_of, json,
    keygen, ok, write_spec, write_trust,
};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const NOW: &str = "2025-12-01T00:00:00Z"; // after common::EPOCH, before common::EXPIRES
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------- keys, trees, specs

struct Keys {
    key: PathBuf,
    trust: PathBuf,
    /// A second key that `trust` does not know, and a trust file for it.
    other_key: PathBuf,
    other_trust: PathBuf,
}

fn keys(dir: &Path) -> Keys {
    let make = |name: &str| {
        let key: Key = keygen(dir, name);
        let trust = dir.join(format!("{name}-trust.toml"));
        write_trust(&trust, SITE, &[("release", 1, &[&key])]);
        (key.secret, trust)
    };
    let (key, trust) = make("release");
    let (other_key, other_trust) = make("stranger");
    Keys {
        key,
        trust,
        other_key,
        other_trust,
    }
}

/// Writes a valid safetensors file of `size` bytes whose tensor data is pseudo-random.
fn write_shard(path: &Path, size: usize, seed: u64) {
    let mut header = String::new();
    let mut data = 0;
    // The header length depends on the data length: settle it in two rounds.
    for _ in 0..2 {
        data = size - 8 - header.len();
        header = format!(
            "{{\"w\":{{\"dtype\":\"U8\",\"shape\":[{data}],\"data_offsets\":[0,{data}]}}}}"
        );
    }
    assert_eq!(8 + header.len() + data, size);
    let mut f = std::io::BufWriter::new(fs::File::create(path).unwrap());
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = vec![0u8; MIB];
    let mut left = data;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(MIB);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

fn spec(dir: &Path, name: &str, version: &str, sequence: u64, model_dir: &str) -> PathBuf {
    let path = dir.join(format!("{name}-{version}.toml"));
    write_spec(
        &path,
        name,
        version,
        sequence,
        &[("model", name, model_dir)],
    );
    path
}

/// A model release: a small config.json and tokenizer.json, and shards of the given sizes.
fn release(dir: &Path, shards: &[usize], config: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("config.json"), config).unwrap();
    let tokenizer = format!(
        "{{\"vocab\": [{}]}}\n",
        (0..2000)
            .map(|i| format!("\"t{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    fs::write(dir.join("tokenizer.json"), tokenizer).unwrap();
    let n = shards.len();
    for (i, &size) in shards.iter().enumerate() {
        write_shard(
            &dir.join(format!("model-{:05}-of-{n:05}.safetensors", i + 1)),
            size,
            i as u64 + 1,
        );
    }
}

/// The next version of a release: same shards (hard links), another config.json.
fn next_release(from: &Path, to: &Path, config: &str) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name != "config.json" {
            fs::hard_link(entry.path(), to.join(&name)).unwrap();
        }
    }
    fs::write(to.join("config.json"), config).unwrap();
}

/// Every regular file below `root`, by relative path.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_of(root)
        .into_iter()
        .map(|(rel, (content, _mode))| (rel, content))
        .collect()
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{} and {} list different files",
        a.display(),
        b.display()
    );
    for (k, v) in &ta {
        assert!(
            v == &tb[k],
            "{k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

// ---------------------------------------------------------------- the formats, read independently

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// A single-file bundle cut into its parts (section 1).
struct BundleParts {
    payload: Vec<u8>,
    manifest_frame: Vec<u8>,
}

fn bundle_parts(path: &Path) -> BundleParts {
    let b = fs::read(path).unwrap();
    let footer = &b[b.len() - 40..];
    assert_eq!(&footer[8..16], b"AIRLOCK1", "{}", path.display());
    let (off, len) = (u64_at(footer, 16) as usize, u64_at(footer, 24) as usize);
    assert_eq!(off + len + 40, b.len());
    BundleParts {
        payload: b[..off].to_vec(),
        manifest_frame: b[off..off + len].to_vec(),
    }
}

/// A volume cut into its parts (section 7.2).
#[derive(Debug)]
struct VolumeParts {
    number: u32,
    count: u32,
    first_frame: u64,
    frames: u64,
    manifest_sha256: Vec<u8>,
    payload: Vec<u8>,
    manifest_frame: Vec<u8>,
    len: usize,
}

fn volume_parts(path: &Path) -> VolumeParts {
    let b = fs::read(path).unwrap();
    let f = &b[b.len() - 96..];
    assert_eq!(u32_at(f, 0), 0x184D_2A5E);
    assert_eq!(u32_at(f, 4), 88);
    assert_eq!(&f[8..16], b"AIRLVOL1", "{}", path.display());
    assert!(f[88..96].iter().all(|&x| x == 0));
    let (number, count) = (u32_at(f, 16), u32_at(f, 20));
    let (moff, mlen) = (u64_at(f, 40) as usize, u64_at(f, 48) as usize);
    assert_eq!(moff + mlen + 96, b.len());
    let payload_end = if number < count {
        // All but the last volume wrap the manifest copy in a skippable frame.
        assert_eq!(u32_at(&b, moff - 8), 0x184D_2A5E);
        assert_eq!(u32_at(&b, moff - 4) as usize, mlen);
        moff - 8
    } else {
        moff
    };
    VolumeParts {
        number,
        count,
        first_frame: u64_at(f, 24),
        frames: u64_at(f, 32),
        manifest_sha256: f[56..88].to_vec(),
        payload: b[..payload_end].to_vec(),
        manifest_frame: b[moff..moff + mlen].to_vec(),
        len: b.len(),
    }
}

/// A delta cut into its parts (section 7.3).
struct DeltaParts {
    carried: Vec<u64>,
    base_manifest_sha256: Vec<u8>,
    manifest_sha256: Vec<u8>,
    frames: Vec<u8>,
    manifest_frame: Vec<u8>,
}

fn delta_parts(path: &Path) -> DeltaParts {
    let b = fs::read(path).unwrap();
    let f = &b[b.len() - 112..];
    assert_eq!(u32_at(f, 0), 0x184D_2A5E);
    assert_eq!(u32_at(f, 4), 104);
    assert_eq!(&f[8..16], b"AIRLDLT1", "{}", path.display());
    let k = u64_at(f, 16) as usize;
    let (moff, mlen) = (u64_at(f, 24) as usize, u64_at(f, 32) as usize);
    let index = moff + mlen;
    assert_eq!(u32_at(&b, index), 0x184D_2A5E);
    assert_eq!(u32_at(&b, index + 4) as usize, 8 * k);
    assert_eq!(index + 8 + 8 * k + 112, b.len());
    DeltaParts {
        carried: (0..k).map(|i| u64_at(&b, index + 8 + 8 * i)).collect(),
        base_manifest_sha256: f[40..72].to_vec(),
        manifest_sha256: f[72..104].to_vec(),
        frames: b[..moff].to_vec(),
        manifest_frame: b[moff..moff + mlen].to_vec(),
    }
}

/// The manifest text and signature file names of a compressed manifest frame.
fn manifest_of(frame: &[u8]) -> (Vec<u8>, Vec<String>) {
    let f = airlock::format::manifest_frame::ManifestFrame::decode(frame)
        .expect("a valid manifest frame");
    (
        f.manifest,
        f.signatures.into_iter().map(|(n, _)| n).collect(),
    )
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    airlock::format::digest::sha256(bytes).to_vec()
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x40;
    fs::write(path, b).unwrap();
}

fn copy(from: &Path, to: &Path) -> PathBuf {
    fs::copy(from, to).unwrap();
    to.to_path_buf()
}

// ---------------------------------------------------------------- shared fixture

/// A generated 36 MB release in two versions (1.0.1 changes config.json only), each packed once
/// as a full bundle, plus 1.0.0 cut into 17 MiB volumes. Shard 1 (18 MiB) spans two frames, so one
/// volume holds a file in part.
struct Fixture {
    dir: PathBuf,
    keys: Keys,
    rel1: PathBuf,
    rel2: PathBuf,
    spec1: PathBuf,
    spec2: PathBuf,
    full1: PathBuf,
    full2: PathBuf,
    vols1: Vec<PathBuf>,
}

const SHARDS: &[usize] = &[18 * MIB, 9 * MIB, 9 * MIB];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // One directory per test process under cargo's per-target temp dir; leftovers of earlier
        // processes (no longer running) are removed, so runs do not accumulate.
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(&root).unwrap();
        for entry in fs::read_dir(&root).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("logistics-")
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let dir = root.join(format!("logistics-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let state = dir.join("state");
        let keys = keys(&dir);
        let rel1 = dir.join("rel-1.0.0");
        let rel2 = dir.join("rel-1.0.1");
        release(&rel1, SHARDS, "{\"hidden_size\": 4096}\n");
        next_release(
            &rel1,
            &rel2,
            "{\"hidden_size\": 4096, \"rope_theta\": 10000}\n",
        );
        let spec1 = spec(&dir, "gen", "1.0.0", 1, "rel-1.0.0");
        let spec2 = spec(&dir, "gen", "1.0.1", 2, "rel-1.0.1");
        let full1 = dir.join("gen-1.0.0.airlock.tar.zst");
        let full2 = dir.join("gen-1.0.1.airlock.tar.zst");
        for (s, out) in [(&spec1, &full1), (&spec2, &full2)] {
            ok(airlock(&state)
                .arg("pack")
                .arg(s)
                .arg("--key")
                .arg(&keys.key)
                .arg("-o")
                .arg(out)
                .arg("-q"));
        }
        let vdir = dir.join("fixture-volumes");
        fs::create_dir_all(&vdir).unwrap();
        let base = vdir.join("gen-1.0.0.airlock.tar.zst");
        ok(airlock(&state)
            .arg("pack")
            .arg(&spec1)
            .arg("--key")
            .arg(&keys.key)
            .arg("-o")
            .arg(&base)
            .args(["--max-volume-size", "17MiB", "-q"]));
        let vols1: Vec<PathBuf> = (1..=3)
            .map(|n| vdir.join(format!("gen-1.0.0.airlock.tar.zst.{n:03}")))
            .collect();
        Fixture {
            dir,
            keys,
            rel1,
            rel2,
            spec1,
            spec2,
            full1,
            full2,
            vols1,
        }
    })
}

/// A fresh working directory (and rollback state directory) for one test.
fn workdir(name: &str) -> (PathBuf, PathBuf) {
    let dir = fixture().dir.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    (dir, state)
}

// ---------------------------------------------------------------- volumes

#[test]
fn volumes_verify_alone_join_byte_identical_and_unpack() {
    let fx = fixture();
    let (dir, state) = workdir("volumes");
    let trust = &fx.keys.trust;

    // Three volumes, each at most 17 MiB, cut at frame boundaries, covering the bundle's frames.
    let parts: Vec<VolumeParts> = fx.vols1.iter().map(|p| volume_parts(p)).collect();
    assert!(!fx.vols1[0].with_extension("004").exists());
    let mut next = 0;
    for (i, v) in parts.iter().enumerate() {
        assert_eq!((v.number, v.count), (i as u32 + 1, 3));
        assert!(v.len <= 17 * MIB, "volume {} is {} bytes", v.number, v.len);
        assert_eq!(v.first_frame, next);
        next += v.frames;
        assert_eq!(v.manifest_frame, parts[0].manifest_frame);
    }

    // Each volume verifies alone and says which files it holds; the 18 MiB shard is split.
    for (i, vol) in fx.vols1.iter().enumerate() {
        let out = ok(airlock(&state)
            .arg("verify")
            .arg(vol)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("verified volume {} of 3", i + 1)),
            "{err}"
        );
    }
    let out = ok(airlock(&state)
        .arg("verify")
        .arg(&fx.vols1[0])
        .arg("--trust")
        .arg(trust)
        .args(["--now", NOW, "--json", "--deep"]));
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    let report = &doc["result"];
    assert_eq!(report["volume"]["number"], 1);
    assert_eq!(report["volume"]["count"], 3);
    let holds = report["volume"]["holds"].as_array().unwrap();
    let shard1 = holds
        .iter()
        .find(|h| h["path"] == "model/gen/model-00001-of-00003.safetensors")
        .expect("volume 1 holds the start of shard 1");
    assert_eq!(shard1["whole"], false, "{shard1}");
    assert_eq!(shard1["from"], 0);
    assert!(shard1["to"].as_u64().unwrap() < 18 * MIB as u64);

    // join, given in any order, rebuilds the unsplit bundle: same payload frames and manifest as a
    // separate full pack of the same spec, and the signatures the volumes carry.
    let joined = dir.join("joined.airlock.tar.zst");
    ok(airlock(&state)
        .arg("join")
        .arg(&fx.vols1[2])
        .arg(&fx.vols1[0])
        .arg(&fx.vols1[1])
        .arg("-o")
        .arg(&joined)
        .arg("-q"));
    let j = bundle_parts(&joined);
    let full = bundle_parts(&fx.full1);
    assert!(
        j.payload == full.payload,
        "joined payload differs from a full pack's"
    );
    assert_eq!(
        manifest_of(&j.manifest_frame).0,
        manifest_of(&full.manifest_frame).0
    );
    assert_eq!(j.manifest_frame, parts[0].manifest_frame);
    assert_eq!(
        parts[0].manifest_sha256,
        sha256(&manifest_of(&j.manifest_frame).0)
    );
    let volume_payload: Vec<u8> = parts.iter().flat_map(|p| p.payload.clone()).collect();
    assert!(volume_payload == j.payload);

    // unpack takes the volumes directly (the first one is enough: the others are found by number).
    let dest = dir.join("installed");
    let out = ok(airlock(&state)
        .arg("unpack")
        .arg(&fx.vols1[0])
        .arg("--dest")
        .arg(&dest)
        .arg("--trust")
        .arg(trust)
        .args(["--now", NOW, "--json"]));
    assert_eq!(json(&out)["result"]["outcome"], "installed");
    assert_same_tree(&dest.join("model/gen"), &fx.rel1);
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("rebuilt"))
        .collect();
    assert!(leftovers.is_empty(), "temporary bundle left behind");

    // Stock tools: the volumes concatenated are a valid zstd stream of the bundle's tar archive.
    if which("zstd") {
        let stock = dir.join("stock");
        fs::create_dir_all(&stock).unwrap();
        let script = format!(
            "cat {} {} {} | zstd -dc | tar -xf - -C {}",
            fx.vols1[0].display(),
            fx.vols1[1].display(),
            fx.vols1[2].display(),
            stock.display()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        assert_same_tree(&stock.join("model/gen"), &fx.rel1);
        assert!(stock.join("airlock/SHA256SUMS").exists());
    }
    // Passed: remove the big outputs (kept on failure, for a look).
    let _ = fs::remove_dir_all(&dir);
}

fn which(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn volumes_are_deterministic() {
    let fx = fixture();
    let (dir, state) = workdir("volumes-again");
    let base = dir.join("again.airlock.tar.zst");
    let out = ok(airlock(&state)
        .arg("pack")
        .arg(&fx.spec1)
        .arg("--key")
        .arg(&fx.keys.key)
        .arg("-o")
        .arg(&base)
        .args(["--max-volume-size", "17MiB", "--json"]));
    let report = json(&out)["result"].clone();
    assert_eq!(report["volumes"].as_array().unwrap().len(), 3, "{report}");
    for (n, first) in fx.vols1.iter().enumerate() {
        let again = volume_parts(&dir.join(format!("again.airlock.tar.zst.{:03}", n + 1)));
        let first = volume_parts(first);
        // Same cut, same frames, same manifest; only signature bytes may differ.
        assert_eq!(
            (again.number, again.count, again.first_frame, again.frames),
            (first.number, first.count, first.first_frame, first.frames)
        );
        assert!(again.payload == first.payload);
        assert_eq!(again.manifest_sha256, first.manifest_sha256);
        assert_eq!(
            manifest_of(&again.manifest_frame),
            manifest_of(&first.manifest_frame)
        );
    }
    // Passed: remove the big outputs (kept on failure, for a look).
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn volume_refusals_name_the_volume() {
    let fx = fixture();
    let (dir, state) = workdir("volume-refusals");
    let trust = &fx.keys.trust;
    let vol = |n: usize| {
        copy(
            &fx.vols1[n - 1],
            &dir.join(format!("v.airlock.tar.zst.{n:03}")),
        )
    };
    let (v1, v2, v3) = (vol(1), vol(2), vol(3));

    // An untrusted signer: rejected by the threshold check, like a bundle.
    refused(
        airlock(&state)
            .arg("verify")
            .arg(&v1)
            .arg("--trust")
            .arg(&fx.keys.other_trust)
            .args(["--now", NOW]),
        1,
        &["v.airlock.tar.zst.001", "threshold"],
    );

    // Missing: explicitly, and when the set is found by number.
    refused(
        airlock(&state)
            .arg("join")
            .arg(&v1)
            .arg(&v3)
            .arg("-o")
            .arg(dir.join("out")),
        1,
        &["v.airlock.tar.zst.002", "missing volume: volume 2 of 3"],
    );
    let lonely = dir.join("lonely");
    fs::create_dir_all(&lonely).unwrap();
    let l1 = copy(&v1, &lonely.join("x.airlock.tar.zst.001"));
    copy(&v3, &lonely.join("x.airlock.tar.zst.003"));
    refused(
        airlock(&state)
            .arg("join")
            .arg(&l1)
            .arg("-o")
            .arg(dir.join("out")),
        1,
        &["x.airlock.tar.zst.002", "missing volume"],
    );
    let dest = dir.join("never");
    refused(
        airlock(&state)
            .arg("unpack")
            .arg(&l1)
            .arg("--dest")
            .arg(&dest)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        1,
        &["x.airlock.tar.zst.002", "missing volume"],
    );
    assert!(!dest.exists());

    // Duplicate.
    let dup = copy(&v2, &dir.join("copy-of-002"));
    refused(
        airlock(&state)
            .arg("join")
            .args([&v1, &v2, &dup, &v3])
            .arg("-o")
            .arg(dir.join("out")),
        1,
        &["duplicate volume", "volume 2 of 3"],
    );

    // Foreign: a volume of another bundle (a tiny release, cut into a single volume).
    let tiny = dir.join("tiny");
    fs::create_dir_all(&tiny).unwrap();
    fs::write(tiny.join("config.json"), "{}\n").unwrap();
    let tiny_spec = spec(&dir, "tiny", "0.1.0", 1, "tiny");
    ok(airlock(&state)
        .arg("pack")
        .arg(&tiny_spec)
        .arg("--key")
        .arg(&fx.keys.key)
        .arg("-o")
        .arg(dir.join("other.airlock.tar.zst"))
        .args(["--max-volume-size", "1GiB", "-q"]));
    let foreign = dir.join("other.airlock.tar.zst.001");
    refused(
        airlock(&state)
            .arg("join")
            .args([&v1, &v2, &foreign])
            .arg("-o")
            .arg(dir.join("out")),
        1,
        &[
            "other.airlock.tar.zst.001",
            "foreign volume",
            "tiny 0.1.0",
            "gen 1.0.0",
        ],
    );
    // Not a volume at all: usage.
    refused(
        airlock(&state)
            .arg("join")
            .arg(&fx.full1)
            .arg("-o")
            .arg(dir.join("out")),
        2,
        &["is a bundle, not a volume"],
    );

    // Truncated.
    let cut = copy(&v3, &dir.join("cut.airlock.tar.zst.003"));
    let len = fs::metadata(&cut).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    refused(
        airlock(&state)
            .arg("verify")
            .arg(&cut)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        1,
        &["cut.airlock.tar.zst.003"],
    );

    // One corrupted byte in volume 2: that volume, and only it, is named.
    flip_byte(&v2, 5 * MIB);
    refused(
        airlock(&state)
            .arg("verify")
            .arg(&v2)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        1,
        &[
            "v.airlock.tar.zst.002",
            "frame-digest",
            "volume 2 of 3 (re-transfer this volume only) is corrupted",
        ],
    );
    for good in [&v1, &v3] {
        ok(airlock(&state)
            .arg("verify")
            .arg(good)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW, "-q"]));
    }
    let out_bundle = dir.join("joined");
    refused(
        airlock(&state)
            .arg("join")
            .args([&v1, &v2, &v3])
            .arg("-o")
            .arg(&out_bundle),
        1,
        &["v.airlock.tar.zst.002", "volume 2 of 3", "corrupted"],
    );
    assert!(!out_bundle.exists());
    refused(
        airlock(&state)
            .arg("unpack")
            .args([&v1, &v2, &v3])
            .arg("--dest")
            .arg(&dest)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        1,
        &["v.airlock.tar.zst.002", "corrupted"],
    );
    assert!(!dest.exists());

    // Sizes: a frame larger than the volume is named with a size that works; bad sizes are usage.
    let err = refused(
        airlock(&state)
            .arg("pack")
            .arg(&fx.spec1)
            .arg("--key")
            .arg(&fx.keys.key)
            .arg("-o")
            .arg(dir.join("small.airlock.tar.zst"))
            .args(["--max-volume-size", "10MiB"]),
        2,
        &[
            "--max-volume-size",
            "model/gen/model-00001-of-00003.safetensors",
            "17MiB",
        ],
    );
    assert!(
        err.contains("bytes 0.."),
        "the frame holds part of the file: {err}"
    );
    assert!(!dir.join("small.airlock.tar.zst.001").exists());
    refused(
        airlock(&state)
            .arg("pack")
            .arg(&fx.spec1)
            .arg("--key")
            .arg(&fx.keys.key)
            .args(["--max-volume-size", "12XB"]),
        2,
        &["unknown size suffix"],
    );
    refused(
        airlock(&state)
            .arg("pack")
            .arg(&fx.spec1)
            .arg("--key")
            .arg(&fx.keys.key)
            .args(["--max-volume-size", "1GiB", "--base"])
            .arg(&fx.full1),
        2,
        &["cannot be used with"],
    );
    // Passed: remove the big outputs (kept on failure, for a look).
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- deltas

#[test]
fn delta_patches_to_a_full_pack_and_unpacks() {
    let fx = fixture();
    let (dir, state) = workdir("delta");
    let trust = &fx.keys.trust;
    let delta = dir.join("gen.delta");
    let out = ok(airlock(&state)
        .arg("pack")
        .arg(&fx.spec2)
        .arg("--key")
        .arg(&fx.keys.key)
        .arg("--base")
        .arg(&fx.full1)
        .arg("-o")
        .arg(&delta)
        .arg("--json"));
    let report = json(&out)["result"].clone();
    assert_eq!(
        report["carried_frames"], 1,
        "only config.json's frame changed: {report}"
    );
    let d = delta_parts(&delta);
    let full1 = bundle_parts(&fx.full1);
    let full2 = bundle_parts(&fx.full2);
    assert_eq!(
        d.base_manifest_sha256,
        sha256(&manifest_of(&full1.manifest_frame).0)
    );
    assert_eq!(
        d.manifest_sha256,
        sha256(&manifest_of(&full2.manifest_frame).0)
    );
    assert_eq!(d.carried, vec![0]);
    assert_eq!(
        manifest_of(&d.manifest_frame).0,
        manifest_of(&full2.manifest_frame).0
    );

    // Deterministic: the same inputs give the same delta, signatures aside.
    let again = dir.join("again.delta");
    ok(airlock(&state)
        .arg("pack")
        .arg(&fx.spec2)
        .arg("--key")
        .arg(&fx.keys.key)
        .arg("--base")
        .arg(&fx.full1)
        .arg("-o")
        .arg(&again)
        .arg("-q"));
    let a = delta_parts(&again);
    assert_eq!(a.carried, d.carried);
    assert!(a.frames == d.frames);
    assert_eq!(a.base_manifest_sha256, d.base_manifest_sha256);
    assert_eq!(
        manifest_of(&a.manifest_frame),
        manifest_of(&d.manifest_frame)
    );

    // The delta verifies alone (no base needed).
    let out = ok(airlock(&state)
        .arg("verify")
        .arg(&delta)
        .arg("--trust")
        .arg(trust)
        .args(["--now", NOW, "--json"]));
    assert_eq!(json(&out)["result"]["delta"]["carried_frames"], 1);

    // patch: payload and manifest byte-identical to a full pack of the new spec, with the
    // delta's signatures.
    let patched = dir.join("patched.airlock.tar.zst");
    ok(airlock(&state)
        .arg("patch")
        .arg(&fx.full1)
        .arg(&delta)
        .arg("-o")
        .arg(&patched)
        .arg("-q"));
    let p = bundle_parts(&patched);
    assert!(
        p.payload == full2.payload,
        "patched payload differs from a full pack's"
    );
    assert_eq!(
        manifest_of(&p.manifest_frame).0,
        manifest_of(&full2.manifest_frame).0
    );
    assert_eq!(p.manifest_frame, d.manifest_frame);

    // unpack --base installs the new tree.
    let dest = dir.join("installed");
    ok(airlock(&state)
        .arg("unpack")
        .arg(&delta)
        .arg("--base")
        .arg(&fx.full1)
        .arg("--dest")
        .arg(&dest)
        .arg("--trust")
        .arg(trust)
        .args(["--now", NOW, "-q"]));
    assert_same_tree(&dest.join("model/gen"), &fx.rel2);

    // Refusals. The wrong base (here: the new bundle itself).
    refused(
        airlock(&state)
            .arg("patch")
            .arg(&fx.full2)
            .arg(&delta)
            .arg("-o")
            .arg(dir.join("x")),
        1,
        &["gen-1.0.1.airlock.tar.zst", "not the base of delta"],
    );
    let dest2 = dir.join("never");
    refused(
        airlock(&state)
            .arg("unpack")
            .arg(&delta)
            .arg("--base")
            .arg(&fx.full2)
            .arg("--dest")
            .arg(&dest2)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        1,
        &["not the base of delta"],
    );
    // A corrupted base frame (a frame the new bundle reuses) names the base.
    let bad_base = copy(&fx.full1, &dir.join("bad-base.airlock.tar.zst"));
    flip_byte(&bad_base, 3 * MIB);
    refused(
        airlock(&state)
            .arg("patch")
            .arg(&bad_base)
            .arg(&delta)
            .arg("-o")
            .arg(dir.join("x")),
        1,
        &[
            "bad-base.airlock.tar.zst",
            "frame-digest",
            "the base bundle is corrupted",
        ],
    );
    // A corrupted carried frame names the delta.
    let bad_delta = copy(&delta, &dir.join("bad.delta"));
    flip_byte(&bad_delta, 10);
    refused(
        airlock(&state)
            .arg("patch")
            .arg(&fx.full1)
            .arg(&bad_delta)
            .arg("-o")
            .arg(dir.join("x")),
        1,
        &["bad.delta", "frame-digest", "the delta"],
    );
    assert!(!dir.join("x").exists());
    // Usage: a delta without --base, --base with a full bundle, patch with a non-delta.
    refused(
        airlock(&state)
            .arg("unpack")
            .arg(&delta)
            .arg("--dest")
            .arg(&dest2)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        2,
        &["is a delta bundle", "--base"],
    );
    refused(
        airlock(&state)
            .arg("unpack")
            .arg(&fx.full2)
            .arg("--base")
            .arg(&fx.full1)
            .arg("--dest")
            .arg(&dest2)
            .arg("--trust")
            .arg(trust)
            .args(["--now", NOW]),
        2,
        &["is not a delta bundle"],
    );
    refused(
        airlock(&state)
            .arg("patch")
            .arg(&fx.full1)
            .arg(&fx.full2)
            .arg("-o")
            .arg(dir.join("x")),
        2,
        &["is a bundle, not a delta"],
    );
    assert!(!dest2.exists());
    // Passed: remove the big outputs (kept on failure, for a look).
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn diff_reports_what_changes_and_what_crosses() {
    let fx = fixture();
    let (_dir, state) = workdir("diff");
    let out = ok(airlock(&state)
        .arg("diff")
        .arg(&fx.full1)
        .arg(&fx.full2)
        .arg("--json"));
    let d = json(&out)["result"].clone();
    assert_eq!(d["identical"], false);
    let fields: Vec<&str> = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["bundle.version", "bundle.sequence"], "{d}");
    assert_eq!(d["files"]["changed"][0]["path"], "model/gen/config.json");
    assert_eq!(d["files"]["changed"].as_array().unwrap().len(), 1);
    assert_eq!(d["files"]["unchanged"], 4);
    assert_eq!(d["artifacts"][0]["name"], "gen");
    assert_eq!(d["crossing"]["new_frames"], 1);
    assert_eq!(d["signers"]["kept"], 1);
    // A volume stands for its bundle; a bundle against itself is identical.
    let out = ok(airlock(&state).arg("diff").arg(&fx.vols1[1]).arg(&fx.full1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the manifests are identical"), "{text}");
    assert!(text.contains("[volume]"), "{text}");
    assert!(
        text.contains("files: 0 added, 0 removed, 0 changed, 5 unchanged"),
        "{text}"
    );
}

// ---------------------------------------------------------------- the example release

/// Copies the example release, signs its policy with a throwaway key (a policy artifact must carry
/// a signature to be packed), and returns the copied spec.
fn example(dir: &Path, state: &Path, key: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/example");
    let to = dir.join("example");
    copy_dir(&from, &to);
    // A fixed expiry, so that packing with the fixed SOURCE_DATE_EPOCH never makes an expired bundle.
    let spec = to.join("acme-7b.toml");
    let text = fs::read_to_string(&spec).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("valid_days") && !l.starts_with("expires"))
        .map(|l| {
            if l.trim() == "[bundle]" {
                format!("{l}\nexpires = \"{EXPIRES}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&spec, text).unwrap();
    let policy = to.join("policy/policy.toml");
    if policy.exists() {
        ok(airlock(state)
            .arg("sign-policy")
            .arg(&policy)
            .arg("--key")
            .arg(key));
    }
    spec
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn example_release_round_trips() {
    let (dir, state) = workdir("example");
    let keys = keys(&dir);
    let spec1 = example(&dir, &state, &keys.key);
    let root = spec1.parent().unwrap().to_path_buf();
    let pack = |spec: &Path, extra: &[&str], key: &Path| {
        let mut cmd = airlock(&state);
        cmd.arg("pack").arg(spec).arg("--key").arg(key).args(extra);
        ok(&mut cmd)
    };
    let full1 = dir.join("acme-1.airlock.tar.zst");
    pack(&spec1, &["-q", "-o", full1.to_str().unwrap()], &keys.key);

    // Volumes: the small example fits one volume, which verifies, joins and unpacks.
    let vbase = dir.join("vol.airlock.tar.zst");
    pack(
        &spec1,
        &[
            "-q",
            "-o",
            vbase.to_str().unwrap(),
            "--max-volume-size",
            "1MiB",
        ],
        &keys.key,
    );
    let v1 = dir.join("vol.airlock.tar.zst.001");
    let parts = volume_parts(&v1);
    assert_eq!((parts.number, parts.count), (1, 1));
    ok(airlock(&state)
        .arg("verify")
        .arg(&v1)
        .arg("--trust")
        .arg(&keys.trust)
        .args(["--now", NOW, "-q"]));
    let joined = dir.join("joined.airlock.tar.zst");
    ok(airlock(&state)
        .arg("join")
        .arg(&v1)
        .arg("-o")
        .arg(&joined)
        .arg("-q"));
    let (j, f) = (bundle_parts(&joined), bundle_parts(&full1));
    assert!(j.payload == f.payload);
    assert_eq!(
        manifest_of(&j.manifest_frame).0,
        manifest_of(&f.manifest_frame).0
    );
    assert_eq!(j.manifest_frame, parts.manifest_frame);
    let dest = dir.join("from-volumes");
    ok(airlock(&state)
        .arg("unpack")
        .arg(&v1)
        .arg("--dest")
        .arg(&dest)
        .arg("--trust")
        .arg(&keys.trust)
        .args(["--now", NOW, "-q"]));
    assert_same_tree(&dest.join("model/acme-7b"), &root.join("models/acme-7b"));

    // The same release signed by a key the trust file does not know: same manifest.
    let stranger = dir.join("stranger-1.airlock.tar.zst");
    pack(
        &spec1,
        &["-q", "-o", stranger.to_str().unwrap()],
        &keys.other_key,
    );

    // Version 1.0.1 changes one small config file, a safeguard's (a model change would need the
    // policy to approve the new tree digest); delta, patch, diff.
    let filter = root.join("safeguards/content-filter.toml");
    let mut t = fs::read_to_string(&filter).unwrap();
    t.push_str("# reviewed for 1.0.1\n");
    fs::write(&filter, t).unwrap();
    let spec_text = fs::read_to_string(&spec1)
        .unwrap()
        .replace("version = \"1.0.0\"", "version = \"1.0.1\"")
        .replace("sequence = 1", "sequence = 2");
    let spec2 = root.join("acme-7b-1.0.1.toml");
    fs::write(&spec2, spec_text).unwrap();
    let full2 = dir.join("acme-2.airlock.tar.zst");
    pack(&spec2, &["-q", "-o", full2.to_str().unwrap()], &keys.key);
    let delta = dir.join("acme.delta");
    pack(
        &spec2,
        &[
            "-q",
            "-o",
            delta.to_str().unwrap(),
            "--base",
            full1.to_str().unwrap(),
        ],
        &keys.key,
    );
    let patched = dir.join("patched.airlock.tar.zst");
    ok(airlock(&state)
        .arg("patch")
        .arg(&full1)
        .arg(&delta)
        .arg("-o")
        .arg(&patched)
        .arg("-q"));
    let (p, f2) = (bundle_parts(&patched), bundle_parts(&full2));
    assert!(p.payload == f2.payload);
    assert_eq!(
        manifest_of(&p.manifest_frame).0,
        manifest_of(&f2.manifest_frame).0
    );

    // The base's signatures are judged by unpack --base: a base signed only by an unknown key
    // (same manifest, so it is the right base) is refused, naming it.
    let dest2 = dir.join("from-delta");
    refused(
        airlock(&state)
            .arg("unpack")
            .arg(&delta)
            .arg("--base")
            .arg(&stranger)
            .arg("--dest")
            .arg(&dest2)
            .arg("--trust")
            .arg(&keys.trust)
            .args(["--now", NOW]),
        1,
        &["stranger-1.airlock.tar.zst", "threshold"],
    );
    assert!(!dest2.exists());
    ok(airlock(&state)
        .arg("unpack")
        .arg(&delta)
        .arg("--base")
        .arg(&full1)
        .arg("--dest")
        .arg(&dest2)
        .arg("--trust")
        .arg(&keys.trust)
        .args(["--now", NOW, "-q"]));
    assert_same_tree(&dest2.join("model/acme-7b"), &root.join("models/acme-7b"));

    let out = ok(airlock(&state).arg("diff").arg(&full1).arg(&delta));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "bundle.version       1.0.0 -> 1.0.1",
        "bundle.sequence      1 -> 2",
        "safeguard content-filter",
        "changed  safeguard/content-filter/content-filter.toml",
        "[delta]",
    ] {
        assert!(text.contains(needle), "diff lacks `{needle}`:\n{text}");
    }
    // Passed: remove the big outputs (kept on failure, for a look).
    let _ = fs::remove_dir_all(&dir);
}

/// The saving the issue asks for: one small config file changed in a large release gives a delta
/// under 1% of the full bundle.
///
/// The release here is 64 MiB, not 1 GiB, to keep the test fast; it proves the same property
/// because the frame rule makes every file of 1 MiB or more start its own frames (cut every 16 MiB
/// of tar data) independently of the files around it, so an unchanged shard yields byte-identical
/// frames whatever the release's size. The delta is then the changed small-file frame plus the
/// manifest frame and two small footers — a few KiB whether the shards add up to 64 MiB or 1 GiB,
/// so the ratio only shrinks as the release grows (about 16x smaller at 1 GiB).
#[test]
fn one_config_change_gives_a_delta_under_one_percent() {
    let (dir, state) = workdir("ratio");
    let keys = keys(&dir);
    let rel1 = dir.join("big-1");
    let rel2 = dir.join("big-2");
    release(
        &rel1,
        &[13 * MIB, 13 * MIB, 13 * MIB, 13 * MIB, 12 * MIB],
        "{\"layers\": 32}\n",
    );
    next_release(
        &rel1,
        &rel2,
        "{\"layers\": 32, \"max_position_embeddings\": 8192}\n",
    );
    let spec1 = spec(&dir, "big", "1.0.0", 1, "big-1");
    let spec2 = spec(&dir, "big", "1.1.0", 2, "big-2");
    let full1 = dir.join("big-1.0.0.airlock.tar.zst");
    ok(airlock(&state)
        .arg("pack")
        .arg(&spec1)
        .arg("--key")
        .arg(&keys.key)
        .arg("-o")
        .arg(&full1)
        .arg("-q"));
    let delta = dir.join("big.delta");
    let out = ok(airlock(&state)
        .arg("pack")
        .arg(&spec2)
        .arg("--key")
        .arg(&keys.key)
        .arg("--base")
        .arg(&full1)
        .arg("-o")
        .arg(&delta)
        .arg("--json"));
    let r = json(&out)["result"].clone();
    let delta_bytes = fs::metadata(&delta).unwrap().len();
    let full_bytes = r["bundle_bytes"].as_u64().unwrap();
    assert_eq!(r["delta_bytes"].as_u64().unwrap(), delta_bytes);
    assert!(full_bytes > 64 << 20, "{r}");
    assert_eq!(r["carried_frames"], 1, "{r}");
    let ratio = delta_bytes as f64 / full_bytes as f64;
    assert!(
        ratio < 0.01,
        "delta is {delta_bytes} of {full_bytes} bytes ({ratio:.5})"
    );
    eprintln!(
        "delta {delta_bytes} bytes of a {full_bytes}-byte bundle: {:.4}%",
        ratio * 100.0
    );
    ok(airlock(&state)
        .arg("verify")
        .arg(&delta)
        .arg("--trust")
        .arg(&keys.trust)
        .args(["--now", NOW, "-q"]));
    // Passed: remove the big outputs (kept on failure, for a look).
    let _ = fs::remove_dir_all(&dir);
}

/// `sign` takes single-file bundles only: a volume (whose manifest copy is repeated in every
/// volume) is refused with exit 2 and told how to get a signable bundle; nothing is written.
#[test]
fn sign_refuses_a_volume_and_says_what_to_sign() {
    let fx = fixture();
    let (dir, state) = workdir("sign-volume");
    let volume = copy(&fx.vols1[0], &dir.join("v.airlock.tar.zst.001"));
    let before = fs::read(&volume).unwrap();
    let err = refused(
        airlock(&state)
            .arg("sign")
            .arg(&volume)
            .arg("--key")
            .arg(&fx.keys.key),
        2,
        &["is a volume, not a bundle", "airlock join"],
    );
    assert!(err.contains("v.airlock.tar.zst.001"), "{err}");
    assert_eq!(fs::read(&volume).unwrap(), before);
    assert!(!dir.join("v.airlock.tar.zst.001.airlock-sign-undo").exists());
}
