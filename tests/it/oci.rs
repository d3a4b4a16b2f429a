//! Issue 14, fleet distribution on the high side, with real parts: `airlock export` writes an OCI
//! image layout of ModelPack artifacts that is deterministic (byte-identical twice, a no-op the
//! second time) and accepted by independent readers (`skopeo inspect --raw`, `umoci ls`, the
//! strict `modelpack-client`, the model-spec config schemas); a real CNCF distribution registry
//! (Debian's `docker-registry` on 127.0.0.1, started and stopped here) and real `skopeo` carry it
//! to a fresh layout, which `airlock verify --oci-layout` and `unpack --oci-layout` accept; and
//! every tampering with a layout pulled through the registry is refused with exit 1 naming the
//! layer. Volumes and deltas export like bundles; policy and safeguard files go with the models
//! they govern. These tests need docker-registry, skopeo, umoci and python3 (the shared test venv,
//! `support::pytools`), and fail (never skip) when one is missing.
use crate::support::common::{self, *};
use crate::support::registry::{self, Registry, Skopeo};

use airlock::format::digest::{hex, sha256};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const TAG: &str = "acme-7b:1.0.0";

// ---------------------------------------------------------------------------------------------
// Running the binary.

fn export_in(state: &Path, bundle: &Path, trust: &Path, layout: &Path, extra: &[&str]) -> Output {
    run(airlock()
        .env("AIRLOCK_STATE_DIR", state)
        .arg("export")
        .arg(bundle)
        .arg("--trust")
        .arg(trust)
        .arg("--oci-layout")
        .arg(layout)
        .arg("--json")
        .args(extra))
}

fn export(f: &Fixture, bundle: &Path, layout: &Path, extra: &[&str]) -> Output {
    export_in(&f.state, bundle, &f.trust, layout, extra)
}

/// `verify --oci-layout` with a state directory of its own (a host's).
fn verify_layout(state: &Path, trust: &Path, layout: &Path, extra: &[&str]) -> Output {
    run(airlock()
        .env("AIRLOCK_STATE_DIR", state)
        .arg("verify")
        .arg("--oci-layout")
        .arg(layout)
        .arg("--trust")
        .arg(trust)
        .arg("--json")
        .args(extra))
}

fn unpack_layout(state: &Path, trust: &Path, layout: &Path, dest: &Path, extra: &[&str]) -> Output {
    run(airlock()
        .env("AIRLOCK_STATE_DIR", state)
        .arg("unpack")
        .arg("--oci-layout")
        .arg(layout)
        .arg("--trust")
        .arg(trust)
        .arg("--dest")
        .arg(dest)
        .arg("--json")
        .args(extra))
}

// ---------------------------------------------------------------------------------------------
// Reading and editing a layout as an attacker would: plain JSON and files.

struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    fn index(&self) -> Value {
        serde_json::from_slice(&fs::read(self.dir.join("index.json")).unwrap()).unwrap()
    }

    fn write_index(&self, index: &Value) {
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(index).unwrap(),
        )
        .unwrap();
    }

    /// Position of the index entry tagged `tag` (the only one if `None`).
    fn entry(&self, tag: Option<&str>) -> usize {
        let index = self.index();
        let entries = index["manifests"].as_array().unwrap();
        match tag {
            None => {
                assert_eq!(entries.len(), 1);
                0
            }
            Some(t) => entries
                .iter()
                .position(|e| e["annotations"]["org.opencontainers.image.ref.name"] == t)
                .unwrap_or_else(|| panic!("no entry tagged {t}: {index}")),
        }
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        fs::read(self.blob_path(digest)).unwrap()
    }

    /// Stores `bytes` as a blob; returns (digest, size).
    fn put(&self, bytes: &[u8]) -> (String, u64) {
        let digest = format!("sha256:{}", hex(&sha256(bytes)));
        fs::write(self.blob_path(&digest), bytes).unwrap();
        (digest, bytes.len() as u64)
    }

    fn manifest_digest(&self, tag: Option<&str>) -> String {
        self.index()["manifests"][self.entry(tag)]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn manifest_bytes(&self, tag: Option<&str>) -> Vec<u8> {
        self.blob(&self.manifest_digest(tag))
    }

    fn manifest(&self, tag: Option<&str>) -> Value {
        serde_json::from_slice(&self.manifest_bytes(tag)).unwrap()
    }

    fn config(&self, tag: Option<&str>) -> Value {
        let m = self.manifest(tag);
        serde_json::from_slice(&self.blob(m["config"]["digest"].as_str().unwrap())).unwrap()
    }

    /// Layer index of `filepath`.
    fn layer(&self, tag: Option<&str>, filepath: &str) -> usize {
        self.manifest(tag)["layers"]
            .as_array()
            .unwrap()
            .iter()
            .position(|l| l["annotations"]["org.cncf.model.filepath"] == filepath)
            .unwrap_or_else(|| panic!("no layer {filepath}"))
    }

    /// Rewrites the manifest consistently: a new blob, and the index entry pointed at it.
    fn rewrite_manifest(&self, tag: Option<&str>, edit: impl FnOnce(&mut Value)) {
        let mut m = self.manifest(tag);
        edit(&mut m);
        let (digest, size) = self.put(&serde_json::to_vec(&m).unwrap());
        let i = self.entry(tag);
        let mut index = self.index();
        index["manifests"][i]["digest"] = json!(digest);
        index["manifests"][i]["size"] = json!(size);
        self.write_index(&index);
    }

    /// Rewrites the config consistently: a new blob, the manifest and the index pointed at it.
    fn rewrite_config(&self, tag: Option<&str>, edit: impl FnOnce(&mut Value)) {
        let mut c = self.config(tag);
        edit(&mut c);
        let (digest, size) = self.put(&serde_json::to_vec(&c).unwrap());
        self.rewrite_manifest(tag, |m| {
            m["config"]["digest"] = json!(digest);
            m["config"]["size"] = json!(size);
        });
    }

    /// Replaces layer `i` with `bytes` (same annotations, size and metadata updated), keeping
    /// the config's diffIds and the manifest consistent, as a careful attacker would.
    fn swap_layer(&self, tag: Option<&str>, i: usize, bytes: &[u8]) {
        let (digest, size) = self.put(bytes);
        self.rewrite_config(tag, |c| c["modelfs"]["diffIds"][i] = json!(digest));
        self.rewrite_manifest(tag, |m| {
            m["layers"][i]["digest"] = json!(digest);
            m["layers"][i]["size"] = json!(size);
        });
    }
}

/// Copies a directory tree (files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The files the artifact of the example release holds (`org.cncf.model.filepath` → source
/// path below the fixture's `src/`), sorted by filepath: the model's files at the top, the
/// safeguard at its bundle path; the data artifact is not part of it.
fn expected_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("bin/serve", "models/acme-7b/bin/serve"),
        ("config.json", "models/acme-7b/config.json"),
        ("model.safetensors", "models/acme-7b/model.safetensors"),
        (
            "safeguard/content-filter/content-filter.toml",
            "safeguards/content-filter.toml",
        ),
        ("tokenizer.json", "models/acme-7b/tokenizer.json"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Export: the layout, its determinism, its refusals.

/// Everything in the exported layout is what docs/format.md section 11 says, and exporting twice
/// (with other thread counts) gives byte-identical files; exporting again into the same
/// directory is a no-op that touches nothing.
#[test]
fn export_writes_a_deterministic_modelpack_layout_and_a_second_export_is_a_no_op() {
    let f = Fixture::new();
    let a = f.path("layout-a");
    let b = f.path("layout-b");
    let r = result(&export(&f, &f.bundle, &a, &[]));
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(r["artifacts"][0]["tag"], TAG, "{r}");
    // An empty directory counts as absent, like unpack's --dest.
    fs::create_dir(&b).unwrap();
    result(&export(&f, &f.bundle, &b, &["--threads", "1"]));
    assert_eq!(files_of(&a), files_of(&b), "two exports differ");
    assert_no_staging(f.tmp.path());

    let l = Layout::new(&a);
    assert_eq!(
        fs::read(a.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index = l.index();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["mediaType"], MANIFEST_TYPE);
    assert_eq!(
        index["manifests"][0]["annotations"],
        json!({"org.opencontainers.image.ref.name": TAG})
    );
    let m = l.manifest(None);
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], MANIFEST_TYPE);
    assert_eq!(
        m["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.cncf.model.config.v1+json"
    );
    let bundle = common::open(&f.bundle);
    assert_eq!(
        m["annotations"],
        json!({
            "io.github.airlock.artifact": "model/acme-7b",
            "io.github.airlock.manifest-sha256": hex(&bundle.manifest_sha256),
            "org.opencontainers.image.created": "2025-11-22T00:00:00Z",
        })
    );
    // The proof: the manifest frame's tar, byte for byte.
    let layers = m["layers"].as_array().unwrap();
    let tar = bundle.frame.to_tar();
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.cncf.model.doc.v1.tar"
    );
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", hex(&sha256(&tar)))
    );
    assert_eq!(l.blob(layers[0]["digest"].as_str().unwrap()), tar);
    assert_eq!(
        layers[0]["annotations"],
        json!({
            "io.github.airlock.manifest-frame": "v1",
            "org.cncf.model.file.mediatype.untested": "false",
            "org.cncf.model.filepath": "airlock",
            "org.opencontainers.image.title": "airlock.manifest-frame.tar",
        })
    );
    // One raw layer per file, sorted by filepath, each byte-identical to its source.
    let expected = expected_files();
    assert_eq!(layers.len(), expected.len() + 1);
    let kinds = [
        ("bin/serve", "code", "true", 0o755),
        ("config.json", "weight.config", "false", 0o644),
        ("model.safetensors", "weight", "false", 0o644),
        (
            "safeguard/content-filter/content-filter.toml",
            "doc",
            "false",
            0o644,
        ),
        ("tokenizer.json", "weight.config", "false", 0o644),
    ];
    for (i, ((filepath, source), (kfile, kind, untested, mode))) in
        expected.iter().zip(kinds).enumerate()
    {
        assert_eq!(filepath, &kfile);
        let layer = &layers[i + 1];
        let content = fs::read(f.path("src").join(source)).unwrap();
        assert_eq!(
            layer["mediaType"],
            format!("application/vnd.cncf.model.{kind}.v1.raw")
        );
        assert_eq!(
            layer["digest"],
            format!("sha256:{}", hex(&sha256(&content)))
        );
        assert_eq!(layer["size"], content.len());
        assert_eq!(
            l.blob(layer["digest"].as_str().unwrap()),
            content,
            "{filepath}"
        );
        let a = &layer["annotations"];
        assert_eq!(a["org.cncf.model.filepath"], *filepath);
        assert_eq!(a["org.opencontainers.image.title"], *filepath);
        assert_eq!(a["org.cncf.model.file.mediatype.untested"], untested);
        let meta: Value =
            serde_json::from_str(a["org.cncf.model.file.metadata+json"].as_str().unwrap()).unwrap();
        let name = filepath.rsplit('/').next().unwrap();
        assert_eq!(
            meta,
            json!({"name": name, "mode": mode, "uid": 0, "gid": 0, "size": content.len(),
                   "mtime": "2025-11-22T00:00:00Z", "typeflag": 0})
        );
    }
    // The config: the model's facts, one diffId per layer (each layer's own digest).
    let c = l.config(None);
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(
        c,
        json!({
            "descriptor": {"createdAt": "2025-11-22T00:00:00Z", "name": "acme-7b", "version": "1.0.0"},
            "modelfs": {"type": "layers", "diffIds": diff_ids},
            "config": {"format": "safetensors"},
        })
    );
    // Exactly these blobs: the proof, the files, the config and the manifest.
    assert_eq!(
        fs::read_dir(a.join("blobs/sha256")).unwrap().count(),
        layers.len() + 2
    );

    // Again into the same directory: nothing written, nothing touched (mtimes included).
    let before = snapshot(&a);
    let again = result(&export(&f, &f.bundle, &a, &[]));
    assert_eq!(again["outcome"], "already-present", "{again}");
    assert_eq!(snapshot(&a), before);
    assert_no_staging(f.tmp.path());
}

/// A destination holding something else, a bad or ambiguous tag, and a bundle without a model
/// are usage errors (exit 2); a tampered or untrusted bundle is rejected (exit 1) by the check
/// unpack would name. No layout and no staging directory is left behind by any of them.
#[test]
fn export_refuses_what_unpack_refuses_and_writes_nothing() {
    let f = Fixture::new();
    let layout = f.path("layout");
    // Another tree at the destination.
    fs::create_dir(&layout).unwrap();
    fs::write(layout.join("notes.txt"), b"mine").unwrap();
    let out = export(&f, &f.bundle, &layout, &[]);
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("does not hold this export")
    );
    assert_eq!(fs::read(layout.join("notes.txt")).unwrap(), b"mine");
    fs::remove_dir_all(&layout).unwrap();
    // A tag outside the OCI grammar.
    let out = export(&f, &f.bundle, &layout, &["--tag", "bad tag"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not a valid OCI ref name"),
        "{}",
        describe(&out)
    );
    // --tag overrides the default tag.
    let r = result(&export(
        &f,
        &f.bundle,
        &layout,
        &["--tag", "models/acme:stable"],
    ));
    assert_eq!(r["artifacts"][0]["tag"], "models/acme:stable");
    assert_eq!(
        Layout::new(&layout).index()["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "models/acme:stable"
    );
    fs::remove_dir_all(&layout).unwrap();

    // A corrupted payload frame: rejected before the layout appears.
    let bad = f.path("bad.airlock.tar.zst");
    fs::copy(&f.bundle, &bad).unwrap();
    flip_byte(&bad, 100);
    let out = export(&f, &bad, &layout, &[]);
    assert_rejected(&out, &["frame-digest", "tar-entry", "file-digest"]);
    assert!(!layout.exists());
    assert_no_staging(f.tmp.path());
    // A bundle signed by a key the trust file does not know.
    let stranger = keygen(f.tmp.path(), "stranger");
    let other = f.path("other.airlock.tar.zst");
    pack(&f.spec, &stranger, &other);
    assert_rejected(&export(&f, &other, &layout, &[]), &["threshold"]);
    assert!(!layout.exists());
    // Expired (--now after the bundle's expiry).
    assert_rejected(
        &export(&f, &f.bundle, &layout, &["--now", "2099-01-01T00:00:00Z"]),
        &["expiry"],
    );
    assert!(!layout.exists());
    // No model artifact at all.
    let data = f.path("data-only");
    write_file(&data.join("notes/README.md"), b"# notes\n", 0o644);
    let spec = data.join("data.toml");
    write_spec(&spec, "notes", "1", 1, &[("data", "notes", "notes")]);
    let notes = f.path("notes.airlock.tar.zst");
    pack(&spec, &f.key, &notes);
    let out = export(&f, &notes, &layout, &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no model artifact"),
        "{}",
        describe(&out)
    );
    assert!(!layout.exists());
    assert_no_staging(f.tmp.path());
}

/// Volumes (given as a set) and a delta with its base export exactly the layout their full
/// bundle exports.
#[test]
fn volumes_and_deltas_export_the_same_layout_as_their_bundle() {
    let f = Fixture::new();
    let src = f.path("src");
    // A 20 MiB shard, so the bundle needs two 17 MiB volumes.
    write_file(
        &src.join("models/acme-7b/extra.safetensors"),
        &safetensors(11, 20 << 20),
        0o644,
    );
    let v1 = f.path("acme-7b-1.0.0.airlock.tar.zst");
    // The fixture packed this bundle without the extra shard: replace it.
    assert_exit(&run(pack_cmd(&f.spec, &f.key, &v1).arg("--force")), 0);
    let whole = f.path("whole");
    result(&export(&f, &v1, &whole, &[]));

    let split = f.path("split/acme-7b-1.0.0.airlock.tar.zst");
    fs::create_dir_all(split.parent().unwrap()).unwrap();
    assert_exit(
        &run(pack_cmd(&f.spec, &f.key, &split).args(["--max-volume-size", "17MiB"])),
        0,
    );
    let vol1 = PathBuf::from(format!("{}.001", split.display()));
    let vol2 = PathBuf::from(format!("{}.002", split.display()));
    assert!(vol2.exists());
    // The split was packed separately, so its signature differs: compare with its own join.
    let joined = f.path("joined.airlock.tar.zst");
    assert_exit(
        &run(airlock()
            .arg("join")
            .arg(&vol1)
            .arg(&vol2)
            .arg("-o")
            .arg(&joined)),
        0,
    );
    let from_joined = f.path("from-joined");
    let from_volumes = f.path("from-volumes");
    result(&export(&f, &joined, &from_joined, &[]));
    let r = result(&export_in(
        &f.state,
        &vol1,
        &f.trust,
        &from_volumes,
        &[vol2.to_str().unwrap()],
    ));
    assert_eq!(r["container"], "volume", "{r}");
    assert_eq!(files_of(&from_volumes), files_of(&from_joined));

    // A delta 1.0.0 -> 1.0.1 with its base; compared with the bundle `patch` rebuilds from them
    // (byte-identical to the full pack, signatures included).
    let spec2 = example_release(&f.path("src2"), "1.0.1", 2);
    write_file(
        &f.path("src2/models/acme-7b/extra.safetensors"),
        &safetensors(11, 20 << 20),
        0o644,
    );
    let delta = f.path("acme-7b-1.0.1.airlock-delta");
    assert_exit(
        &run(pack_cmd(&spec2, &f.key, &delta).arg("--base").arg(&v1)),
        0,
    );
    let rebuilt = f.path("acme-7b-1.0.1.airlock.tar.zst");
    assert_exit(
        &run(airlock()
            .arg("patch")
            .arg(&v1)
            .arg(&delta)
            .arg("-o")
            .arg(&rebuilt)),
        0,
    );
    let from_delta = f.path("from-delta");
    let from_rebuilt = f.path("from-rebuilt");
    let r = result(&export(
        &f,
        &delta,
        &from_delta,
        &["--base", v1.to_str().unwrap()],
    ));
    assert_eq!(r["container"], "delta", "{r}");
    result(&export(&f, &rebuilt, &from_rebuilt, &[]));
    assert_eq!(files_of(&from_delta), files_of(&from_rebuilt));
    assert_eq!(
        Layout::new(&from_delta).index()["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "acme-7b:1.0.1"
    );
    // Without its base a delta is a usage error, as for unpack.
    assert_exit(&export(&f, &delta, &f.path("nope"), &[]), 2);
}

// ---------------------------------------------------------------------------------------------
// The registry round trip and the host side.

/// export → skopeo copy into a real registry → skopeo copy into a fresh layout on the "host"
/// (tag `1.0`, as `skopeo copy docker://REGISTRY/acme-7b:1.0.0 oci:DIR:1.0` writes it) → the
/// host verifies and unpacks it with the same trust file. The registry and skopeo keep every
/// byte; the unpacked tree is the model's files with the safeguard beside them, each the
/// bundle's own bytes and mode; a second unpack is a no-op; the decision is audit-logged.
#[test]
fn a_layout_pulled_through_a_real_registry_verifies_and_unpacks_on_the_host() {
    let f = Fixture::new();
    let exported = f.path("exported");
    result(&export(&f, &f.bundle, &exported, &[]));
    let reg = Registry::start();
    let skopeo = Skopeo::new();
    skopeo.push(&exported, TAG, &reg, TAG);
    let pulled = f.path("pulled");
    skopeo.pull(&reg, TAG, &pulled, "1.0");
    let (e, p) = (Layout::new(&exported), Layout::new(&pulled));
    assert_eq!(p.manifest_bytes(Some("1.0")), e.manifest_bytes(Some(TAG)));
    assert_eq!(
        skopeo.inspect_raw(&pulled, "1.0"),
        e.manifest_bytes(Some(TAG))
    );
    for layer in e.manifest(Some(TAG))["layers"].as_array().unwrap() {
        let d = layer["digest"].as_str().unwrap();
        assert_eq!(p.blob(d), e.blob(d), "{d} changed on the way");
    }

    let host = f.path("host-state");
    let audit = f.path("audit.log");
    let out = verify_layout(
        &host,
        &f.trust,
        &pulled,
        &["--tag", "1.0", "--audit-log", audit.to_str().unwrap()],
    );
    let r = result(&out);
    assert_eq!(r["container"], "oci-layout");
    assert_eq!(r["name"], "acme-7b");
    assert_eq!(r["oci"]["model"], "acme-7b");
    assert_eq!(r["oci"]["tag"], "1.0");
    assert_eq!(r["oci"]["manifest_digest"], p.manifest_digest(Some("1.0")));
    assert_eq!(r["files"], expected_files().len());
    let checks: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for c in [
        "threshold",
        "target",
        "expiry",
        "rollback",
        "policy",
        "oci-artifact",
        "file-digest",
    ] {
        assert!(checks.contains(&c), "{c} missing from {checks:?}");
    }
    let line: Value =
        serde_json::from_str(fs::read_to_string(&audit).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(line["outcome"], "accepted");
    assert_eq!(line["file"], pulled.display().to_string());
    // The only artifact is found without a tag too; a tag it does not hold is a usage error.
    result(&verify_layout(&host, &f.trust, &pulled, &[]));
    let out = verify_layout(&host, &f.trust, &pulled, &["--tag", "2.0"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("1.0"), "{}", describe(&out));
    // Another site's trust file refuses it as it refuses the bundle.
    let other = f.path("other-trust.toml");
    write_trust(&other, "azure-top-secret", &[("release", 1, &[&f.key])]);
    assert_rejected(&verify_layout(&host, &other, &pulled, &[]), &["target"]);

    let dest = f.path("models/acme-7b");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let r = result(&unpack_layout(
        &host,
        &f.trust,
        &pulled,
        &dest,
        &["--tag", "1.0"],
    ));
    assert_eq!(r["outcome"], "installed", "{r}");
    let tree = files_of(&dest);
    let expected: BTreeMap<String, (Vec<u8>, u32)> = expected_files()
        .into_iter()
        .map(|(filepath, source)| {
            let mode = if filepath == "bin/serve" {
                0o755
            } else {
                0o644
            };
            (
                filepath.to_string(),
                (fs::read(f.path("src").join(source)).unwrap(), mode),
            )
        })
        .collect();
    assert_eq!(tree, expected);
    // mtimes are the bundle's, as unpack sets them.
    let snap = snapshot(&dest);
    assert!(
        snap.values().all(|n| n.mtime == common::EPOCH as i64),
        "{snap:?}"
    );
    assert_no_staging(dest.parent().unwrap());
    let r = result(&unpack_layout(&host, &f.trust, &pulled, &dest, &[]));
    assert_eq!(r["outcome"], "already-present", "{r}");
    // The host's state now holds sequence 1: an older bundle's layout would be a rollback.
    assert!(
        fs::read_to_string(host.join("acme-7b.toml"))
            .unwrap()
            .contains("sequence = 1")
    );
}

/// A cnsa2 bundle (SHA-384 file digests, an ML-DSA-87 signature) exports to blobs named by
/// their sha256 as the OCI spec requires, its proof carrying SHA384SUMS and the `.mldsa87`
/// signature; the export is deterministic and a second one a no-op; through a real registry the
/// host verifies and unpacks it; and a layer swapped for other bytes of its size, with manifest,
/// config and index rewritten around the new sha256 (so every OCI digest checks out), is refused
/// by the SHA-384 of the signed manifest, naming the layer.
#[test]
fn a_cnsa2_bundle_exports_and_its_layers_are_checked_against_the_sha384_manifest() {
    let f = Fixture::new();
    let ml = keygen_ml_dsa(f.tmp.path(), "release-ml");
    let bundle = f.path("acme-7b-1.0.0-cnsa2.airlock.tar.zst");
    assert_exit(
        &run(pack_cmd(&f.spec, &ml, &bundle).args(["--suite", "cnsa2"])),
        0,
    );
    let trust = f.path("trust-pq.toml");
    fs::write(
        &trust,
        format!(
            "site = \"{SITE}\"\n\n[roles.release]\nthreshold = 1\nalgorithms = [\"ml-dsa-87\"]\nkeys = [\"{}\"]\n",
            ml.base64
        ),
    )
    .unwrap();
    let signed = common::open(&bundle);
    assert_eq!(signed.manifest.layout.suite.name(), "cnsa2");

    let a = f.path("layout-a");
    let r = result(&export_in(&f.state, &bundle, &trust, &a, &[]));
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(r["suite"], "cnsa2", "{r}");
    let l = Layout::new(&a);
    let m = l.manifest(None);
    assert_eq!(
        m["annotations"]["io.github.airlock.manifest-sha256"],
        hex(&signed.manifest_sha256)
    );
    let layers = m["layers"].as_array().unwrap();
    // The proof is the cnsa2 frame: SHA384SUMS and the ML-DSA-87 signature, byte for byte.
    let tar = signed.frame.to_tar();
    assert_eq!(l.blob(layers[0]["digest"].as_str().unwrap()), tar);
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "airlock/SHA384SUMS"), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".mldsa87")), "{names:?}");
    // Every file layer is named by the sha256 of its content, which the manifest does not
    // record; the manifest's SHA-384 of the same content is what the host checks it against.
    let expected = expected_files();
    assert_eq!(layers.len(), expected.len() + 1);
    for (i, (filepath, source)) in expected.iter().enumerate() {
        let content = fs::read(f.path("src").join(source)).unwrap();
        let layer = &layers[i + 1];
        assert_eq!(layer["annotations"]["org.cncf.model.filepath"], *filepath);
        assert_eq!(
            layer["digest"],
            format!("sha256:{}", hex(&sha256(&content))),
            "{filepath}"
        );
        assert_eq!(l.blob(layer["digest"].as_str().unwrap()), content);
    }
    let c = l.config(None);
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(c["modelfs"]["diffIds"], json!(diff_ids));
    // Exactly the proof, the files, the config and the manifest: no temporary blob left.
    let blobs: Vec<String> = fs::read_dir(a.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(blobs.len(), layers.len() + 2, "{blobs:?}");
    assert!(blobs.iter().all(|b| !b.starts_with('.')), "{blobs:?}");
    // Deterministic: another export with one thread is byte-identical; again into the same
    // directory (whose sha256s are found by hashing its blobs) nothing is touched.
    let b = f.path("layout-b");
    result(&export_in(
        &f.state,
        &bundle,
        &trust,
        &b,
        &["--threads", "1"],
    ));
    assert_eq!(files_of(&a), files_of(&b), "two cnsa2 exports differ");
    let before = snapshot(&a);
    let again = result(&export_in(&f.state, &bundle, &trust, &a, &[]));
    assert_eq!(again["outcome"], "already-present", "{again}");
    assert_eq!(snapshot(&a), before);
    assert_no_staging(f.tmp.path());

    // Through the registry to a host, which verifies and unpacks it.
    let reg = Registry::start();
    let skopeo = Skopeo::new();
    skopeo.push(&a, TAG, &reg, TAG);
    let pulled = f.path("pulled");
    skopeo.pull(&reg, TAG, &pulled, TAG);
    let host = f.path("host-state");
    let r = result(&verify_layout(&host, &trust, &pulled, &[]));
    assert_eq!(r["suite"], "cnsa2", "{r}");
    assert_eq!(r["oci"]["manifest_digest"], l.manifest_digest(None));
    let digest_check = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "file-digest")
        .unwrap_or_else(|| panic!("no file-digest check: {r}"));
    assert!(
        digest_check["detail"].as_str().unwrap().contains("sha384"),
        "{digest_check}"
    );
    let dest = f.path("models/acme-7b");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let r = result(&unpack_layout(&host, &trust, &pulled, &dest, &[]));
    assert_eq!(r["outcome"], "installed", "{r}");
    for (filepath, source) in &expected {
        assert_eq!(
            fs::read(dest.join(filepath)).unwrap(),
            fs::read(f.path("src").join(source)).unwrap(),
            "{filepath}"
        );
    }

    // The attack a sha256-only check would miss: other bytes of the same size, with the
    // layer's digest, the config's diffId, the manifest and the index all rewritten to the new
    // sha256 in airlock's own canonical encoding (a textual substitution of the digest). Every
    // OCI digest is consistent and the artifact is exactly what airlock would derive for that
    // content; only the signed SHA-384 is not.
    let i = l.layer(None, "config.json");
    let old_digest = layers[i]["digest"].as_str().unwrap().to_string();
    let mut forged = l.blob(&old_digest);
    forged[0] ^= 0x20;
    let substitute = |bytes: &[u8], from: &str, to: &str| -> Vec<u8> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains(from));
        text.replace(from, to).into_bytes()
    };
    for (what, run_it) in [("verify", true), ("unpack", false)] {
        let t = f.path(&format!("tampered-{what}"));
        copy_tree(&pulled, &t);
        let tl = Layout::new(&t);
        let (new_digest, _) = tl.put(&forged);
        let m = tl.manifest(None);
        let config = substitute(
            &tl.blob(m["config"]["digest"].as_str().unwrap()),
            &old_digest,
            &new_digest,
        );
        let (config_digest, _) = tl.put(&config);
        let manifest = substitute(
            &substitute(&tl.manifest_bytes(None), &old_digest, &new_digest),
            m["config"]["digest"].as_str().unwrap(),
            &config_digest,
        );
        let (manifest_digest, manifest_size) = tl.put(&manifest);
        let mut index = tl.index();
        index["manifests"][0]["digest"] = json!(manifest_digest);
        index["manifests"][0]["size"] = json!(manifest_size);
        tl.write_index(&index);
        let out = if run_it {
            verify_layout(&host, &trust, &t, &[])
        } else {
            unpack_layout(&host, &trust, &t, &f.path("models/tampered"), &[])
        };
        assert_eq!(assert_rejected(&out, &["file-digest"]), "file-digest");
        let msg = error(&out)["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("config.json") && msg.contains("sha384"),
            "{what}: {msg}"
        );
        assert!(!f.path("models/tampered").exists());
    }
    assert_no_staging(dest.parent().unwrap());
    // A dropped layer (everything rewritten) is named as one.
    let t = f.path("tampered-drop");
    copy_tree(&pulled, &t);
    let tl = Layout::new(&t);
    tl.rewrite_config(None, |c| {
        c["modelfs"]["diffIds"].as_array_mut().unwrap().remove(i);
    });
    tl.rewrite_manifest(None, |m| {
        m["layers"].as_array_mut().unwrap().remove(i);
    });
    let out = verify_layout(&host, &trust, &t, &[]);
    assert_eq!(assert_rejected(&out, &["oci-artifact"]), "oci-artifact");
    let msg = error(&out)["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("config.json") && msg.contains("a layer was dropped"),
        "{msg}"
    );
}

/// The README's fleet recipe, read from README.md between its markers, run with bash exactly as
/// written against a real registry: export, skopeo push, skopeo pull, verify, unpack.
#[test]
fn the_readme_fleet_recipe_runs_against_a_real_registry() {
    let f = Fixture::new();
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- fleet-recipe:begin -->")
        .expect("README marks the recipe");
    let end = readme
        .find("<!-- fleet-recipe:end -->")
        .expect("README marks the recipe's end");
    let recipe = readme[start..end]
        .split_once("```bash\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(body, _)| body.to_string())
        .expect("the recipe is a ```bash block");
    let reg = Registry::start();
    let bin = f.path("bin");
    fs::create_dir(&bin).unwrap();
    Skopeo::new().wrapper(&bin, &reg);
    let work = f.path("work");
    fs::create_dir(&work).unwrap();
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        airlock_path().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&recipe)
        .current_dir(&work)
        .env("PATH", path)
        .env("BUNDLE", &f.bundle)
        .env("TRUST", &f.trust)
        .env("REGISTRY", reg.addr())
        .env("AIRLOCK_STATE_DIR", &f.state)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let installed = files_of(&work.join("models/acme-7b"));
    let names: Vec<&str> = installed.keys().map(String::as_str).collect();
    let want: Vec<&str> = expected_files().iter().map(|(p, _)| *p).collect();
    assert_eq!(names, want);
}

/// The layout is readable by tools that are not airlock: skopeo (raw manifest and config
/// bytes), umoci (the tags), model-spec's config schemas at v0.0.7 and at `main`, and the
/// strict ModelPack reader modelpack-client, which pulls it from the registry checking every
/// size, digest and diffId and extracts the same files `unpack --oci-layout` writes (plus the
/// proof's `airlock/` entries).
#[test]
fn independent_readers_accept_the_exported_layout() {
    let f = Fixture::new();
    let layout = f.path("layout");
    result(&export(&f, &f.bundle, &layout, &[]));
    let l = Layout::new(&layout);
    let skopeo = Skopeo::new();
    assert_eq!(skopeo.inspect_raw(&layout, TAG), l.manifest_bytes(None));
    let m = l.manifest(None);
    assert_eq!(
        skopeo.inspect_config_raw(&layout, TAG),
        l.blob(m["config"]["digest"].as_str().unwrap())
    );
    assert_eq!(registry::umoci_ls(&layout), vec![TAG.to_string()]);

    let config_file = f.path("config.json");
    fs::write(
        &config_file,
        l.blob(m["config"]["digest"].as_str().unwrap()),
    )
    .unwrap();
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/data/modelpack");
    let v007 = schemas.join("config-schema-v0.0.7.json");
    let main = schemas.join("config-schema-main-d78bf32.json");
    let checked = registry::readers(&[
        "schema",
        config_file.to_str().unwrap(),
        v007.to_str().unwrap(),
        main.to_str().unwrap(),
    ]);
    assert_eq!(checked["ok"], true, "{checked}");

    let reg = Registry::start();
    skopeo.push(&layout, TAG, &reg, TAG);
    let out = f.path("modelpack-out");
    let pulled = registry::readers(&[
        "modelpack-pull",
        &format!("{}/{TAG}", reg.addr()),
        out.to_str().unwrap(),
    ]);
    assert_eq!(pulled["ok"], true, "{pulled}");
    let mut want: Vec<String> = expected_files()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    let frame = common::open(&f.bundle).frame.clone();
    want.push("airlock/manifest.toml".into());
    want.push("airlock/SHA256SUMS".into());
    want.push("airlock/copies/safeguard/content-filter/content-filter.toml".into());
    for (name, _) in &frame.signatures {
        want.push(format!("airlock/signatures/{name}"));
    }
    want.sort();
    let got: Vec<String> = pulled["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    for (filepath, source) in expected_files() {
        assert_eq!(
            fs::read(out.join(filepath)).unwrap(),
            fs::read(f.path("src").join(source)).unwrap(),
            "{filepath}"
        );
    }
    assert_eq!(
        fs::read(out.join("airlock/manifest.toml")).unwrap(),
        frame.manifest
    );
}

// ---------------------------------------------------------------------------------------------
// Tampering with a pulled layout.

/// One tampering: a name, the edit, the check expected, and words the message must contain.
type Tamper = (
    &'static str,
    Box<dyn Fn(&Layout)>,
    &'static str,
    Vec<String>,
);

/// Every tampering with a layout pulled through the registry is refused by `verify
/// --oci-layout` with exit 1, the check named and the message naming the layer (digest and
/// filepath) or document; `unpack --oci-layout` refuses it too and leaves no destination and no
/// staging directory.
#[test]
fn tampered_layouts_pulled_through_the_registry_are_refused_naming_the_layer() {
    let f = Fixture::new();
    let exported = f.path("exported");
    result(&export(&f, &f.bundle, &exported, &[]));
    let reg = Registry::start();
    let skopeo = Skopeo::new();
    skopeo.push(&exported, TAG, &reg, TAG);
    let pulled = f.path("pulled");
    skopeo.pull(&reg, TAG, &pulled, TAG);
    let p = Layout::new(&pulled);
    let m = p.manifest(None);
    let layer = |i: usize| m["layers"][i].clone();
    let config_i = p.layer(None, "config.json");
    let tokenizer_i = p.layer(None, "tokenizer.json");
    let config_layer = layer(config_i);
    let config_digest = config_layer["digest"].as_str().unwrap().to_string();
    let tokenizer_digest = layer(tokenizer_i)["digest"].as_str().unwrap().to_string();
    let manifest_digest = p.manifest_digest(None);

    // Another validly signed bundle (1.0.1) and one signed by a stranger, for their proofs.
    let spec2 = example_release(&f.path("src2"), "1.0.1", 2);
    let v2 = f.path("acme-7b-1.0.1.airlock.tar.zst");
    pack(&spec2, &f.key, &v2);
    let v2_tar = common::open(&v2).frame.to_tar();
    let v2_manifest = hex(&common::open(&v2).manifest_sha256);
    let stranger = keygen(f.tmp.path(), "stranger");
    let forged = f.path("forged.airlock.tar.zst");
    pack(&f.spec, &stranger, &forged);
    let forged_tar = common::open(&forged).frame.to_tar();
    let proof_swap = move |tar: Vec<u8>, annotation: Option<String>| {
        Box::new(move |l: &Layout| {
            let (digest, size) = l.put(&tar);
            l.rewrite_config(None, |c| c["modelfs"]["diffIds"][0] = json!(digest));
            let digest = digest.clone();
            let annotation = annotation.clone();
            l.rewrite_manifest(None, |m| {
                m["layers"][0]["digest"] = json!(digest);
                m["layers"][0]["size"] = json!(size);
                if let Some(a) = annotation {
                    m["annotations"]["io.github.airlock.manifest-sha256"] = json!(a);
                }
            });
        }) as Box<dyn Fn(&Layout)>
    };

    let cases: Vec<Tamper> = vec![
        (
            "a blob swapped for other bytes of the same size, under its old name",
            Box::new({
                let d = config_digest.clone();
                move |l: &Layout| {
                    let mut bytes = l.blob(&d);
                    bytes[0] ^= 1;
                    fs::write(l.blob_path(&d), bytes).unwrap();
                }
            }),
            "oci-layout",
            vec![
                config_digest.clone(),
                "filepath \"config.json\"".into(),
                "swapped or damaged".into(),
            ],
        ),
        (
            "a blob swapped with the manifest, config and index rewritten to match",
            Box::new(move |l: &Layout| {
                l.swap_layer(None, config_i, b"{\"model_type\": \"evil\"}\n")
            }),
            "oci-artifact",
            vec![
                "filepath \"config.json\"".into(),
                format!("`model/acme-7b/config.json` is {config_digest}"),
                "swapped for other content".into(),
            ],
        ),
        (
            "a layer added (manifest, config and index rewritten)",
            Box::new(|l: &Layout| {
                let (digest, size) = l.put(b"print('hi')\n");
                l.rewrite_config(None, |c| {
                    c["modelfs"]["diffIds"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!(digest))
                });
                l.rewrite_manifest(None, |m| {
                    m["layers"].as_array_mut().unwrap().push(json!({
                        "mediaType": "application/vnd.cncf.model.code.v1.raw",
                        "digest": digest, "size": size,
                        "annotations": {"org.cncf.model.filepath": "evil.py"}
                    }))
                });
            }),
            "oci-artifact",
            vec!["filepath \"evil.py\"".into(), "a layer was added".into()],
        ),
        (
            "a layer dropped (manifest, config and index rewritten)",
            Box::new(move |l: &Layout| {
                l.rewrite_config(None, |c| {
                    c["modelfs"]["diffIds"]
                        .as_array_mut()
                        .unwrap()
                        .remove(config_i);
                });
                l.rewrite_manifest(None, |m| {
                    m["layers"].as_array_mut().unwrap().remove(config_i);
                });
            }),
            "oci-artifact",
            vec![
                "`model/acme-7b/config.json`".into(),
                config_digest.clone(),
                "a layer was dropped".into(),
            ],
        ),
        (
            "the last layer dropped",
            Box::new(move |l: &Layout| {
                l.rewrite_config(None, |c| {
                    c["modelfs"]["diffIds"].as_array_mut().unwrap().pop();
                });
                l.rewrite_manifest(None, |m| {
                    m["layers"].as_array_mut().unwrap().pop();
                });
            }),
            "oci-artifact",
            vec![
                "`model/acme-7b/tokenizer.json`".into(),
                tokenizer_digest.clone(),
                "a layer was dropped".into(),
            ],
        ),
        (
            "the manifest frame of another validly signed bundle",
            proof_swap(v2_tar.clone(), None),
            "oci-artifact",
            vec![
                "layer 0".into(),
                "filepath \"airlock\"".into(),
                format!("acme-7b 1.0.1 (manifest sha256:{v2_manifest})"),
                "the manifest frame of another bundle".into(),
            ],
        ),
        (
            "the manifest frame of another bundle, the exported-from annotation edited to match",
            proof_swap(v2_tar, Some(v2_manifest.clone())),
            "oci-artifact",
            vec![
                "filepath \"config.json\"".into(),
                "swapped for other content".into(),
            ],
        ),
        (
            "the manifest frame of a bundle signed by an untrusted key",
            proof_swap(forged_tar, None),
            "threshold",
            vec!["release needs 1".into()],
        ),
        (
            "the config edited (manifest and index rewritten)",
            Box::new(|l: &Layout| {
                l.rewrite_config(None, |c| c["descriptor"]["name"] = json!("evil-7b"))
            }),
            "oci-artifact",
            vec![
                "not the config airlock derives".into(),
                "`descriptor.name` is \"evil-7b\"".into(),
            ],
        ),
        (
            "the config edited in place",
            Box::new(|l: &Layout| {
                let m = l.manifest(None);
                let d = m["config"]["digest"].as_str().unwrap().to_string();
                let text = String::from_utf8(l.blob(&d))
                    .unwrap()
                    .replace("acme-7b", "acme-7c");
                fs::write(l.blob_path(&d), text).unwrap();
            }),
            "oci-layout",
            vec![
                "config sha256:".into(),
                "not to the digest it is stored under".into(),
            ],
        ),
        (
            "a manifest annotation edited (index rewritten)",
            Box::new(|l: &Layout| {
                l.rewrite_manifest(None, |m| {
                    m["annotations"]["org.opencontainers.image.created"] =
                        json!("2030-01-01T00:00:00Z")
                })
            }),
            "oci-artifact",
            vec!["org.opencontainers.image.created".into()],
        ),
        (
            "a layer's media type relabelled (index rewritten)",
            Box::new(move |l: &Layout| {
                l.rewrite_manifest(None, |m| {
                    m["layers"][config_i]["mediaType"] =
                        json!("application/vnd.cncf.model.weight.v1.raw")
                })
            }),
            "oci-artifact",
            vec!["filepath \"config.json\"".into(), "media type".into()],
        ),
        (
            "index.json pointing at another blob (size kept)",
            Box::new({
                let d = tokenizer_digest.clone();
                move |l: &Layout| {
                    let mut index = l.index();
                    index["manifests"][0]["digest"] = json!(d);
                    l.write_index(&index);
                }
            }),
            "oci-layout",
            vec![
                format!("manifest {tokenizer_digest}"),
                "descriptor says".into(),
            ],
        ),
        (
            "index.json pointing at a manifest that is not there",
            Box::new(|l: &Layout| {
                let mut index = l.index();
                index["manifests"][0]["digest"] =
                    json!(format!("sha256:{}", hex(&sha256(b"nothing"))));
                l.write_index(&index);
            }),
            "oci-layout",
            vec!["is missing".into()],
        ),
        (
            "the manifest's bytes changed under its name (skopeo does not check this)",
            Box::new({
                let d = manifest_digest.clone();
                move |l: &Layout| {
                    let text = String::from_utf8(l.blob(&d)).unwrap().replacen(
                        "model/acme-7b",
                        "model/acme-7c",
                        1,
                    );
                    fs::write(l.blob_path(&d), text).unwrap();
                }
            }),
            "oci-layout",
            vec![
                format!("manifest {manifest_digest}"),
                "not to the digest it is stored under".into(),
            ],
        ),
        (
            "the proof layer removed",
            Box::new(|l: &Layout| {
                l.rewrite_config(None, |c| {
                    c["modelfs"]["diffIds"].as_array_mut().unwrap().remove(0);
                });
                l.rewrite_manifest(None, |m| {
                    m["layers"].as_array_mut().unwrap().remove(0);
                });
            }),
            "oci-artifact",
            vec!["not an airlock artifact".into()],
        ),
        (
            "a blob replaced by a symbolic link to an identical copy outside the layout",
            Box::new({
                let d = config_digest.clone();
                move |l: &Layout| {
                    let outside = l.dir.with_extension("outside");
                    fs::write(&outside, l.blob(&d)).unwrap();
                    fs::remove_file(l.blob_path(&d)).unwrap();
                    std::os::unix::fs::symlink(&outside, l.blob_path(&d)).unwrap();
                }
            }),
            "oci-layout",
            vec!["symbolic link".into(), "filepath \"config.json\"".into()],
        ),
        (
            "an index.json of 5 MiB",
            Box::new(|l: &Layout| {
                let mut text = fs::read(l.dir.join("index.json")).unwrap();
                text.extend(std::iter::repeat_n(b' ', 5 << 20));
                fs::write(l.dir.join("index.json"), text).unwrap();
            }),
            "oci-layout",
            vec!["index.json is".into(), "over the cap of 4194304".into()],
        ),
        (
            "a manifest of 4097 layers (index rewritten)",
            Box::new(move |l: &Layout| {
                let one = l.manifest(None)["layers"][config_i].clone();
                l.rewrite_manifest(None, |m| {
                    let layers = m["layers"].as_array_mut().unwrap();
                    while layers.len() < 4097 {
                        layers.push(one.clone());
                    }
                })
            }),
            "oci-layout",
            vec!["4097 layers, over the cap of 4096".into()],
        ),
        (
            "a proof layer declaring more than the manifest-frame cap",
            Box::new(|l: &Layout| {
                l.rewrite_manifest(None, |m| m["layers"][0]["size"] = json!(17u64 << 20))
            }),
            "oci-layout",
            vec!["over the cap of 16777216".into()],
        ),
        (
            "a duplicate annotation key in the manifest (index rewritten)",
            Box::new(|l: &Layout| {
                let text = String::from_utf8(l.manifest_bytes(None)).unwrap().replacen(
                    "\"org.cncf.model.filepath\":\"config.json\"",
                    "\"org.cncf.model.filepath\":\"config.json\",\"org.cncf.model.filepath\":\"other.json\"",
                    1,
                );
                let (digest, size) = l.put(text.as_bytes());
                let mut index = l.index();
                index["manifests"][0]["digest"] = json!(digest);
                index["manifests"][0]["size"] = json!(size);
                l.write_index(&index);
            }),
            "oci-layout",
            vec!["duplicate annotation key".into()],
        ),
    ];
    for (i, (name, tamper, check, needles)) in cases.iter().enumerate() {
        let dir = f.path(&format!("tampered-{i}"));
        copy_tree(&pulled, &dir);
        tamper(&Layout::new(&dir));
        let host = f.path(&format!("host-{i}"));
        let out = verify_layout(&host, &f.trust, &dir, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", describe(&out));
        let err = error(&out);
        assert_eq!(err["check"], *check, "{name}: {}", describe(&out));
        let message = err["message"].as_str().unwrap();
        // Shown with --nocapture: the refusals docs/security.md quotes.
        eprintln!("[{check}] {name}:\n    {message}");
        for n in needles {
            assert!(
                message.contains(n.as_str()),
                "{name}: the message lacks `{n}`:\n{message}"
            );
        }
        let dest = f.path(&format!("dest-{i}/model"));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let out = unpack_layout(&host, &f.trust, &dir, &dest, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: unpack {}",
            describe(&out)
        );
        assert_eq!(error(&out)["check"], *check, "{name}: unpack");
        assert!(!dest.exists(), "{name}: unpack left {}", dest.display());
        assert_no_staging(dest.parent().unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Several models, a policy, and which safeguards go where.

/// A bundle of two models under a policy that requires a content filter for acme-7b only and
/// audit logging for every model: acme-7b's artifact carries the content filter, tiny-1b's does
/// not; both carry the audit logging, the policy, and the human-review safeguard no requirement
/// names (so it is not dropped from the fleet). Each verifies by its tag; an index.json whose
/// default tag of one model points at the other's artifact is refused.
#[test]
fn safeguards_go_with_the_models_the_policy_says_they_govern() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let release = keygen(dir, "release");
    let policy_key = keygen(dir, "policy");
    let src = dir.join("src");
    let spec = example_release(&src, "1.0.0", 1);
    write_file(
        &src.join("models/tiny-1b/config.json"),
        b"{\"model_type\": \"tiny\"}\n",
        0o644,
    );
    write_file(
        &src.join("models/tiny-1b/model.safetensors"),
        &safetensors(5, 4096),
        0o644,
    );
    write_file(
        &src.join("safeguards/audit-logging.toml"),
        b"[audit_logging]\nenabled = true\nretention_days = 365\ndestination = \"syslog://audit.enclave.local\"\n",
        0o644,
    );
    write_file(
        &src.join("safeguards/human-review.toml"),
        b"[human_review]\nactions = [\"export-weights\"]\n",
        0o644,
    );
    let digest = |rel: &str| -> String {
        let out = run(airlock().arg("digest").arg(src.join(rel)).arg("--json"));
        result(&out)["tree_digest"].as_str().unwrap().to_string()
    };
    let policy = format!(
        "[policy]\nid = \"acme-policy\"\nversion = 1\nissued = \"2025-01-01T00:00:00Z\"\nexpires = \"2097-01-01T00:00:00Z\"\n\n\
         [[model]]\nname = \"acme-7b\"\ntree_digest = \"{}\"\ntargets = [\"{SITE}\"]\n\n\
         [[model]]\nname = \"tiny-1b\"\ntree_digest = \"{}\"\ntargets = [\"{SITE}\"]\n\n\
         [[required_safeguard]]\nmodel = \"acme-7b\"\nkind = \"content_filter\"\nmin_strength = \"high\"\n\n\
         [[required_safeguard]]\nkind = \"audit_logging\"\nmin_retention_days = 180\n",
        digest("models/acme-7b"),
        digest("models/tiny-1b")
    );
    write_file(&src.join("policy/policy.toml"), policy.as_bytes(), 0o644);
    assert_exit(
        &run(airlock()
            .arg("sign-policy")
            .arg(src.join("policy/policy.toml"))
            .arg("--key")
            .arg(&policy_key.secret)),
        0,
    );
    let mut text = fs::read_to_string(&spec).unwrap();
    for (kind, name, path) in [
        ("model", "tiny-1b", "models/tiny-1b"),
        (
            "safeguard",
            "audit-logging",
            "safeguards/audit-logging.toml",
        ),
        ("safeguard", "human-review", "safeguards/human-review.toml"),
        ("policy", "acme-policy", "policy"),
    ] {
        text.push_str(&format!(
            "\n[[artifact]]\nkind = \"{kind}\"\nname = \"{name}\"\npath = \"{path}\"\n"
        ));
    }
    fs::write(&spec, text).unwrap();
    let bundle = dir.join("fleet.airlock.tar.zst");
    pack(&spec, &release, &bundle);
    let trust = dir.join("trust.toml");
    write_trust(
        &trust,
        SITE,
        &[("release", 1, &[&release]), ("policy", 1, &[&policy_key])],
    );
    let state = dir.join("state");
    let layout = dir.join("layout");

    // Two models: --tag cannot name both.
    let out = export_in(&state, &bundle, &trust, &layout, &["--tag", "x:1"]);
    assert_exit(&out, 2);
    assert!(!layout.exists());
    let r = result(&export_in(&state, &bundle, &trust, &layout, &[]));
    let tags: Vec<&str> = r["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["acme-7b:1.0.0", "tiny-1b:1.0.0"]);
    let l = Layout::new(&layout);
    let filepaths = |tag: &str| -> Vec<String> {
        l.manifest(Some(tag))["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["annotations"]["org.cncf.model.filepath"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let governed = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "policy/acme-policy/policy.toml",
            "policy/acme-policy/policy.toml.minisig",
            "safeguard/audit-logging/audit-logging.toml",
            "safeguard/human-review/human-review.toml",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        v.push("airlock".into());
        v.sort();
        v
    };
    let acme = filepaths("acme-7b:1.0.0");
    let mut want = governed(&[
        "safeguard/content-filter/content-filter.toml",
        "bin/serve",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]);
    want.retain(|p| p != "airlock");
    assert_eq!(acme[0], "airlock");
    assert_eq!(acme[1..].to_vec(), want);
    let tiny = filepaths("tiny-1b:1.0.0");
    let mut want = governed(&["config.json", "model.safetensors"]);
    want.retain(|p| p != "airlock");
    assert_eq!(tiny[1..].to_vec(), want);
    assert!(!tiny.iter().any(|p| p.contains("content-filter")));
    // The proof (the whole bundle's manifest frame) is one blob shared by both artifacts.
    assert_eq!(
        l.manifest(Some("acme-7b:1.0.0"))["layers"][0],
        l.manifest(Some("tiny-1b:1.0.0"))["layers"][0]
    );

    let host = dir.join("host");
    for tag in tags {
        let r = result(&verify_layout(&host, &trust, &layout, &["--tag", tag]));
        assert_eq!(r["oci"]["model"], tag.split(':').next().unwrap());
        let policy = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "policy")
            .unwrap();
        assert!(
            policy["detail"].as_str().unwrap().contains("rules held"),
            "{policy}"
        );
    }
    let dest = dir.join("tiny");
    result(&unpack_layout(
        &host,
        &trust,
        &layout,
        &dest,
        &["--tag", "tiny-1b:1.0.0"],
    ));
    assert!(dest.join("model.safetensors").is_file());
    assert!(
        dest.join("safeguard/audit-logging/audit-logging.toml")
            .is_file()
    );
    assert!(!dest.join("safeguard/content-filter").exists());
    // Two artifacts and no tag: a usage error naming both.
    let out = verify_layout(&host, &trust, &layout, &[]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("acme-7b:1.0.0") && stderr(&out).contains("tiny-1b:1.0.0"));

    // Re-point tiny-1b's default tag at acme-7b's artifact.
    let repointed = dir.join("repointed");
    copy_tree(&layout, &repointed);
    let r = Layout::new(&repointed);
    let mut index = r.index();
    let (a, t) = (
        r.entry(Some("acme-7b:1.0.0")),
        r.entry(Some("tiny-1b:1.0.0")),
    );
    index["manifests"][t]["digest"] = index["manifests"][a]["digest"].clone();
    index["manifests"][t]["size"] = index["manifests"][a]["size"].clone();
    r.write_index(&index);
    let out = verify_layout(&host, &trust, &repointed, &["--tag", "tiny-1b:1.0.0"]);
    assert_rejected(&out, &["oci-artifact"]);
    assert!(stderr(&out).contains("re-pointed"), "{}", describe(&out));
}

/// The command line: exactly one of BUNDLE and --oci-layout, --tag only with --oci-layout, no
/// volumes or --base with it; a layout that is missing or not a layout is a usage error, and a
/// layout directory given as BUNDLE says to use --oci-layout.
#[test]
fn the_oci_layout_flags_are_a_contract_clap_enforces() {
    let f = Fixture::new();
    let layout = f.path("layout");
    result(&export(&f, &f.bundle, &layout, &[]));
    let usage = |args: &[&str]| {
        let out = run(airlock().args(args).arg("--trust").arg(&f.trust));
        assert_exit(&out, 2);
        out
    };
    let l = layout.to_str().unwrap();
    let b = f.bundle.to_str().unwrap();
    usage(&["verify", b, "--oci-layout", l]);
    usage(&["verify"]);
    usage(&["verify", b, "--tag", TAG]);
    usage(&["unpack", "--oci-layout", l, "--base", b, "--dest", "x"]);
    usage(&["unpack", b, "--oci-layout", l, "--dest", "x"]);
    usage(&["export", b]);
    let out = usage(&["verify", l]);
    assert!(stderr(&out).contains("--oci-layout"), "{}", describe(&out));
    let out = usage(&["verify", "--oci-layout", f.path("absent").to_str().unwrap()]);
    assert!(
        stderr(&out).contains("does not exist"),
        "{}",
        describe(&out)
    );
    let out = usage(&["verify", "--oci-layout", f.path("src").to_str().unwrap()]);
    assert!(
        stderr(&out).contains("not an OCI image layout"),
        "{}",
        describe(&out)
    );
    let out = run(airlock()
        .args(["verify", "--oci-layout", l, "--trust"])
        .arg(&f.trust)
        .arg("--json")
        .env("AIRLOCK_STATE_DIR", &f.state));
    assert_eq!(result(&out)["oci"]["tag"], TAG);
}
