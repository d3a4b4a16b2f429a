//! Writes the seed corpus of every fuzz target: `cargo run --release --example seeds -- DIR`
//! fills `DIR/TARGET/` with valid inputs (a real bundle's footer, manifest frame, manifest and
//! signatures, made by running `airlock demo` on `manifests/example` in a temporary directory;
//! the example policy; valid safetensors files; pickles of several protocols, NumPy, zip, HDF5
//! and text files). The fuzzers start from these and mutate, so they get past the magic numbers
//! and checksums that random bytes never match.
use airlock::container::delta::DeltaFooter;
use airlock::container::volume::VolumeFooter;
use std::fs;
use std::path::{Path, PathBuf};

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("create the corpus directory");
    fs::write(d.join(name), bytes).expect("write a seed");
}

/// 8 bytes of file length, then the file's last 112 bytes (or all of it).
fn footer_seed(file: &[u8]) -> Vec<u8> {
    let mut out = (file.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&file[file.len().saturating_sub(112)..]);
    out
}

fn safetensors(tensors: &[(&str, &str, &[u64], usize)]) -> Vec<u8> {
    let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        header.push_str(&format!(
            ",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            dims.join(","),
            offset + bytes
        ));
        offset += bytes;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + offset, 0x3c);
    out
}

fn npy(descr: &str) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(&[0; 16]);
    out
}

/// A stored (uncompressed) zip of `entries`, with its central directory.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let local = |sig: &[u8]| {
            let mut h = sig.to_vec();
            h.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            h.extend_from_slice(&[0; 4]); // crc32, not checked by the gate
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&[0, 0]);
            h
        };
        out.extend(local(b"PK\x03\x04"));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central entry: signature and "version made by", the local header's fields (its last
        // two bytes are the extra length), then comment length, disk, attributes (10 bytes).
        let mut c = b"PK\x01\x02\x14\x00".to_vec();
        c.extend_from_slice(&local(b"")[..]);
        c.extend_from_slice(&[0; 10]);
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        central.extend(c);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = repo.join("manifests/example");

    // A real bundle, policy and signatures: the demo's own run, in a temporary directory.
    let work = tempfile::tempdir().expect("a temporary directory");
    airlock::demo::run(
        &example.join("acme-7b.toml"),
        work.path(),
        false,
        &mut std::io::sink(),
    )
    .expect("the demo runs");
    let bundle_path = fs::read_dir(work.path())
        .expect("list the demo's directory")
        .map(|e| e.expect("an entry").path())
        .find(|p| p.to_string_lossy().ends_with(".airlock.tar.zst"))
        .expect("the demo packs a bundle");
    let bytes = fs::read(&bundle_path).expect("read the bundle");
    let bundle = airlock::container::bundle::open(&bundle_path).expect("the bundle opens");

    // footer: the bundle's own, and a volume and a delta footer around the same manifest frame.
    put(&out, "footer", "bundle", &footer_seed(&bytes));
    let mlen = bundle.footer.manifest_len;
    let volume = VolumeFooter {
        number: 1,
        count: 2,
        first_frame: 0,
        frame_count: 1,
        manifest_offset: 4096 + 8,
        manifest_len: mlen,
        manifest_sha256: bundle.manifest_sha256,
    };
    let mut v = (volume.manifest_offset + mlen + 96).to_le_bytes().to_vec();
    v.extend_from_slice(&volume.encode());
    put(&out, "footer", "volume", &v);
    let delta = DeltaFooter {
        carried: 2,
        manifest_offset: 8192,
        manifest_len: mlen,
        base_manifest_sha256: [7; 32],
        manifest_sha256: bundle.manifest_sha256,
    };
    let mut d = (8192 + mlen + 8 + 16 + 112).to_le_bytes().to_vec();
    d.extend_from_slice(&delta.encode());
    put(&out, "footer", "delta", &d);

    // manifest_frame: as stored (mode 0) and as its tar (mode 1).
    let mut stored = vec![0u8];
    stored.extend_from_slice(&bundle.compressed);
    put(&out, "manifest_frame", "stored", &stored);
    let mut tar = vec![1u8];
    tar.extend_from_slice(&bundle.frame.to_tar());
    put(&out, "manifest_frame", "tar", &tar);

    // manifest and signature: the signed manifest and every signature file it carries, plus the
    // policy's detached signature.
    put(&out, "manifest", "bundle", &bundle.frame.manifest);
    for (name, sig) in &bundle.frame.signatures {
        put(&out, "signature", name, sig);
    }
    for e in fs::read_dir(work.path().join("release/policy")).expect("the policy directory") {
        let p = e.expect("an entry").path();
        if p.extension().is_some_and(|x| x == "minisig") {
            put(&out, "signature", "policy", &fs::read(&p).expect("read"));
        }
    }

    // policy: the example policy, then facts bytes; and a few shorter variants.
    let policy = fs::read(example.join("policy/policy.toml")).expect("the example policy");
    for (i, facts) in [&[0u8; 0][..], &[1; 64], &[0x55; 128], &[0xff; 32]]
        .iter()
        .enumerate()
    {
        let mut seed = policy.clone();
        seed.push(0);
        seed.extend_from_slice(facts);
        put(&out, "policy", &format!("example-{i}"), &seed);
    }
    put(
        &out,
        "policy",
        "minimal",
        b"[policy]\nid = \"p\"\nversion = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2030-01-01T00:00:00Z\"\n\n[[sensitive_target]]\nname = \"aws-secret\"\nnotice_days = 36525\n\0\x01\x02\x03\x04\x05\x06\x07\x08",
    );

    // safetensors: the example model's file, and files with several dtypes.
    let model = fs::read(example.join("models/acme-7b/model.safetensors")).expect("the model");
    put(&out, "safetensors", "example", &model);
    put(
        &out,
        "safetensors",
        "dtypes",
        &safetensors(&[
            ("a", "F32", &[2, 3], 24),
            ("b", "BF16", &[4], 8),
            ("c", "F4", &[2, 2], 2),
            ("d", "BOOL", &[], 1),
        ]),
    );
    put(&out, "safetensors", "empty", &safetensors(&[]));

    // pickle: pickles of several protocols, NumPy, zips, HDF5, other magic numbers and text.
    let p2 = b"\x80\x02c__builtin__\neval\nq\x00X\x03\x00\x00\x001+1q\x01\x85q\x02Rq\x03.";
    let p4 = b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";
    let seeds: &[(&str, Vec<u8>)] = &[
        ("protocol-0", b"cos\nsystem\n(S'id'\ntR.".to_vec()),
        ("protocol-1", b"]q\x00(K\x01K\x02e.".to_vec()),
        ("protocol-2", p2.to_vec()),
        ("protocol-4", p4.to_vec()),
        ("data-pickle", b"(lp0\nI1\na.".to_vec()),
        ("npy-float", npy("<f4")),
        ("npy-object", npy("|O")),
        (
            "torch-zip",
            zip(&[("archive/data.pkl", p2), ("archive/version", b"3\n")]),
        ),
        ("npz", zip(&[("a.npy", &npy("<f4")), ("b.npy", &npy("|O"))])),
        (
            "hdf5-lambda",
            [
                &b"\x89HDF\r\n\x1a\n"[..],
                &[0; 64],
                br#"{"class_name": "Lambda"}"#,
            ]
            .concat(),
        ),
        (
            "gguf",
            b"GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        ),
        ("elf", b"\x7fELF\x02\x01\x01\x00".to_vec()),
        ("script", b"#!/bin/sh\necho hi\n".to_vec()),
        (
            "json",
            fs::read(example.join("models/acme-7b/config.json")).expect("config"),
        ),
        (
            "tokenizer",
            fs::read(example.join("models/acme-7b/tokenizer.json")).expect("tokenizer"),
        ),
        (
            "markdown",
            b"# Release notes\n\nN. Smith fixed (a) and (b).\n".to_vec(),
        ),
        ("safetensors", model.clone()),
    ];
    for (name, bytes) in seeds {
        put(&out, "pickle", name, bytes);
    }
    println!("wrote seeds to {}", out.display());
}
