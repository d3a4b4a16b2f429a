//! `airlock export`: the enclave's ingest into its registry. Every check `unpack` makes (the
//! signed manifest against the trust file, rollback, the policy; every frame and every file
//! against the manifest; the content gate on what is exported), then an OCI image layout with one
//! ModelPack artifact per model artifact, written into a staging directory beside `--oci-layout`
//! and renamed into place (`docs/format.md` section 10). The payload is decompressed once: each
//! exported file's bytes go straight into its blob, checked against the manifest on the way.
//! The layout is a pure function of the signed manifest frame and the tags, so an export into a
//! directory that already holds it is a no-op, and two enclaves get the same digests.
use crate::container::Payload;
use crate::container::oci::{ExpectedLayout, LayoutWriter, layout_matches};
use crate::container::payload::stream_payload;
use crate::error::{Check, Error, Result};
use crate::format::digest::{Digest, HashAlg, Hasher};
use crate::format::manifest::FileEntry;
use crate::format::oci::{
    self, ArtifactPlan, DerivedArtifact, LayerDigests, OciDigest, derive_artifact, layer_digest,
};
use crate::format::path::BundlePath;
use crate::format::time::Timestamp;
use crate::receive::oci::{OciInfo, plans, proof_layer};
use crate::receive::unpack::{Existing, Outcome, check_delta_base, install_atomically};
use crate::receive::verify::{CheckOutcome, VerifyReport, check_authenticity, report};
use crate::trust::Trust;
use crate::trust::enforce::gate_file;
use crate::trust::state::StateDir;
use crate::util::writer::{FileSink, with_writer};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

/// How to export.
pub struct ExportOptions {
    /// The time to judge expiry against.
    pub now: Timestamp,
    /// Worker threads.
    pub threads: usize,
    /// State directory: rollback check before, record after; `None` skips both.
    pub state: Option<StateDir>,
    /// The tag of the one artifact (a bundle with one model artifact only); default
    /// `NAME:VERSION` for each.
    pub tag: Option<String>,
}

/// What happened to the layout directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportOutcome {
    /// The directory did not exist (or was empty) and now holds the layout.
    Written,
    /// The directory already held exactly this layout: nothing was written.
    AlreadyPresent,
}

/// The result of a successful export.
#[derive(Debug, serde::Serialize)]
pub struct ExportReport {
    /// Everything verify reports about the bundle.
    #[serde(flatten)]
    pub verify: VerifyReport,
    /// The layout directory.
    pub layout: String,
    /// What happened to it.
    pub outcome: ExportOutcome,
    /// One per model artifact, sorted by tag.
    pub artifacts: Vec<OciInfo>,
}

/// A blob being written from the payload stream, or a file the layout does not need (a data
/// file, or content already written under its digest) read only to check it.
enum BlobSink<'w, 'a> {
    File {
        writer: FileSink<'w, 'a>,
        digest: OciDigest,
    },
    /// A blob whose sha256 is computed as it is written (a `cnsa2` file), named when it ends.
    Unnamed {
        writer: FileSink<'w, 'a>,
        sha256: Hasher,
    },
    Skip,
}

impl Write for BlobSink<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            BlobSink::File { writer, .. } => writer.write(buf),
            BlobSink::Unnamed { writer, sha256 } => {
                let n = writer.write(buf)?;
                sha256.update(&buf[..n]);
                Ok(n)
            }
            BlobSink::Skip => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            BlobSink::File { writer, .. } | BlobSink::Unnamed { writer, .. } => writer.flush(),
            BlobSink::Skip => Ok(()),
        }
    }
}

/// Exports the bundle whose payload `payload` holds (a bundle, its volumes, or a delta and its
/// base) as an OCI layout at `dir`, after every check `unpack` makes.
pub fn export(
    payload: &Payload,
    trust: &Trust,
    dir: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport> {
    let signed = payload.signed();
    let mut accepted = check_authenticity(signed, trust, opts.now, opts.state.as_ref())?;
    check_delta_base(payload, trust, &mut accepted)?;
    let m = &signed.manifest;
    let cannot = |e: String| {
        Error::config(
            &signed.path,
            format!("cannot be exported as an OCI layout: {e}"),
            "unpack it instead, or ask the release engineer for a bundle whose model files fit (see docs/format.md section 11)",
        )
    };
    let plans = plans(&accepted.auth).map_err(cannot)?;
    if plans.is_empty() {
        return Err(cannot(
            "it holds no model artifact (an export has one artifact per model)".into(),
        ));
    }
    if let Some(tag) = &opts.tag {
        if plans.len() > 1 {
            return Err(Error::config(
                "--tag",
                format!(
                    "the bundle holds {} model artifacts and a tag names one",
                    plans.len()
                ),
                "omit --tag: each artifact is tagged NAME:VERSION",
            ));
        }
        oci::check_ref_name(tag).map_err(|e| {
            Error::config(
                "--tag",
                e,
                "use letters, digits and - . _ : @ + only, e.g. acme-7b:1.0",
            )
        })?;
    }
    let (tar, proof) = proof_layer(signed);
    // The exported files, by bundle path: each goes into its blob as the payload streams past.
    let wanted: BTreeSet<&BundlePath> = plans
        .iter()
        .flat_map(|p| p.files.iter().map(|f| &f.entry.path))
        .collect();
    let derive = |sha256s: &LayerDigests| {
        derive_all(signed, &plans, &proof, opts.tag.as_ref(), sha256s).map_err(cannot)
    };
    // A classic manifest's sha256s are the layers' OCI digests, so the whole layout is known
    // before anything is written. A cnsa2 manifest records SHA-384: the layers' sha256s are
    // computed as the files stream into their blobs (or found in an existing export), and the
    // config, manifests and index derived after that.
    let known: OnceCell<Derived> = OnceCell::new();
    let sha256_known = m
        .files
        .iter()
        .filter(|f| wanted.contains(&f.path))
        .all(|f| OciDigest::from_digest(&f.digest).is_some());
    if sha256_known {
        let _ = known.set(derive(&LayerDigests::new())?);
    }
    let (allowed, weights) = crate::receive::unpack::content_rules(&accepted, m);
    let frames = payload.frames();
    let outcome = install_atomically(
        signed,
        dir,
        opts.state.as_ref(),
        &Existing {
            flag: "--oci-layout",
            matches: &|d| {
                if let Some(expected) = known.get() {
                    return layout_matches(d, &expected.layout());
                }
                let Some(sha256s) = existing_sha256s(d, m, &wanted)? else {
                    return Ok(false);
                };
                let expected = derive(&sha256s)?;
                let matches = layout_matches(d, &expected.layout())?;
                if matches {
                    let _ = known.set(expected);
                }
                Ok(matches)
            },
            refused: "already exists and does not hold this export",
            hint: "choose another --oci-layout directory, or remove this one first",
            replace: false,
        },
        &|staging| {
            let writer = LayoutWriter::create(staging)?;
            writer.put(&tar)?;
            let sha256s =
                write_file_blobs(&writer, payload, frames.as_ref(), &wanted, opts.threads)?;
            let expected = match known.get() {
                Some(e) => e,
                None => {
                    let _ = known.set(derive(&sha256s)?);
                    known
                        .get()
                        .ok_or_else(|| Error::Internal("the derived layout was not kept".into()))?
                }
            };
            for (_, d) in &expected.artifacts {
                writer.put(&d.config)?;
                writer.put(&d.manifest)?;
            }
            for entry in m.files.iter().filter(|f| wanted.contains(&f.path)) {
                let digest = layer_digest(entry, &sha256s).map_err(Error::Internal)?;
                gate_file(
                    &signed.path,
                    &entry.path,
                    &writer.blob_path(&digest),
                    &allowed,
                    weights.as_ref(),
                )?;
            }
            writer.finish(&expected.index)
        },
    )?;
    let Some(Derived {
        artifacts: derived,
        blobs,
        ..
    }) = known.into_inner()
    else {
        return Err(Error::Internal(
            "the export finished without its derived layout".into(),
        ));
    };
    let (outcome, detail) = match outcome {
        Outcome::AlreadyPresent => (
            ExportOutcome::AlreadyPresent,
            format!(
                "the layout at {} is this export: index.json and all {} blobs hashed and match, nothing else is there",
                dir.display(),
                blobs.len()
            ),
        ),
        Outcome::Installed | Outcome::Replaced => {
            accepted.checks.push(CheckOutcome {
                check: Check::FrameDigest.name(),
                detail: format!("{} frames match the manifest", m.frames.len()),
            });
            accepted.checks.push(CheckOutcome {
                check: Check::FileDigest.name(),
                detail: format!(
                    "{} files match size and {}",
                    m.files.len(),
                    m.layout.suite.hash().name()
                ),
            });
            accepted.checks.push(CheckOutcome {
                check: Check::ContentGate.name(),
                detail: format!("{} exported files passed the content gate", wanted.len()),
            });
            (
                ExportOutcome::Written,
                format!("wrote {} blobs into {}", blobs.len(), dir.display()),
            )
        }
    };
    accepted.checks.push(CheckOutcome {
        check: Check::OciArtifact.name(),
        detail: detail.clone(),
    });
    let layout = dir.display().to_string();
    let mut artifacts: Vec<OciInfo> = plans
        .iter()
        .zip(&derived)
        .map(|(plan, (tag, d))| OciInfo::new(layout.clone(), Some(tag.clone()), plan, d))
        .collect();
    artifacts.sort_by(|a, b| a.tag.cmp(&b.tag));
    let verify = report(
        &payload.describe(),
        payload.kind(),
        accepted,
        m.frames.len(),
        outcome == ExportOutcome::Written,
    );
    Ok(ExportReport {
        verify,
        layout,
        outcome,
        artifacts,
    })
}

/// Everything an export writes besides the file blobs: one artifact per model (with its tag),
/// `index.json`, and the size of every blob.
struct Derived {
    artifacts: Vec<(String, DerivedArtifact)>,
    index: Vec<u8>,
    blobs: BTreeMap<OciDigest, u64>,
}

impl Derived {
    fn layout(&self) -> ExpectedLayout {
        ExpectedLayout {
            index: self.index.clone(),
            blobs: self.blobs.clone(),
        }
    }
}

/// The artifacts of `plans` with the proof layer `proof`, tagged `tag` (one model) or
/// `NAME:VERSION`, for layers whose sha256s are the manifest's or `sha256s`.
fn derive_all(
    signed: &crate::container::SignedManifest,
    plans: &[ArtifactPlan<'_>],
    proof: &oci::Descriptor,
    tag: Option<&String>,
    sha256s: &LayerDigests,
) -> std::result::Result<Derived, String> {
    let m = &signed.manifest;
    let mut artifacts = Vec::new();
    let mut blobs: BTreeMap<OciDigest, u64> = BTreeMap::from([(proof.digest, proof.size)]);
    for plan in plans {
        let d = derive_artifact(m, &signed.manifest_sha256, plan, proof.clone(), sha256s)?;
        for l in &d.image.layers {
            blobs.insert(l.digest, l.size);
        }
        blobs.insert(d.image.config.digest, d.image.config.size);
        blobs.insert(d.descriptor.digest, d.descriptor.size);
        let tag = tag.cloned().unwrap_or_else(|| plan.default_tag(m));
        artifacts.push((tag, d));
    }
    let entries: Vec<(String, oci::Descriptor)> = artifacts
        .iter()
        .map(|(t, d)| (t.clone(), d.descriptor.clone()))
        .collect();
    let index = oci::index_json(&entries)?;
    Ok(Derived {
        artifacts,
        index,
        blobs,
    })
}

/// The sha256s of a `cnsa2` export already at `dir`, for the no-op check: every regular file in
/// `blobs/sha256/` whose size is a wanted file's is hashed once with both algorithms, and kept
/// when its sha256 is its name; `None` unless every wanted file (by its SHA-384) was found.
/// Whether the rest of `dir` is this export is then [`layout_matches`]' question.
fn existing_sha256s(
    dir: &Path,
    m: &crate::format::manifest::Manifest,
    wanted: &BTreeSet<&BundlePath>,
) -> Result<Option<LayerDigests>> {
    let files: Vec<&FileEntry> = m
        .files
        .iter()
        .filter(|f| wanted.contains(&f.path))
        .collect();
    let sizes: BTreeSet<u64> = files.iter().map(|f| f.size).collect();
    let alg = m.layout.suite.hash();
    let blobs = dir.join("blobs/sha256");
    let listing = match std::fs::read_dir(&blobs) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("list", &blobs, e)),
    };
    let mut found = LayerDigests::new();
    for item in listing {
        let item = item.map_err(|e| Error::io("list", &blobs, e))?;
        let path = item.path();
        let meta = path
            .symlink_metadata()
            .map_err(|e| Error::io("read", &path, e))?;
        let Some(name) = item.file_name().to_str().and_then(OciDigest::parse_hex) else {
            continue;
        };
        if !meta.is_file() || !sizes.contains(&meta.len()) {
            continue;
        }
        let mut file = crate::util::fs::open_input(&path, "blob")?;
        let (mut h256, mut other) = (HashAlg::Sha256.hasher(), alg.hasher());
        let mut buf = vec![0u8; crate::util::fs::CHUNK];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &path, e)),
            };
            h256.update(&buf[..n]);
            other.update(&buf[..n]);
        }
        if OciDigest::from_digest(&h256.finish()) == Some(name) {
            found.insert(other.finish(), name);
        }
    }
    Ok(files
        .iter()
        .all(|f| found.contains_key(&f.digest))
        .then_some(found))
}

/// Streams the payload once (every frame and file checked against the manifest, on `threads`
/// workers), writing each wanted file's bytes into its blob; the blobs are fsynced on a thread
/// of their own while the next file is written, all before this returns. A file whose manifest
/// digest is not a sha256 (`cnsa2`) is written under a temporary name while its sha256 is
/// computed, and renamed to it once the file matched the manifest: those sha256s are returned.
fn write_file_blobs(
    writer: &LayoutWriter,
    payload: &Payload,
    frames: &dyn crate::container::FrameSource,
    wanted: &BTreeSet<&BundlePath>,
    threads: usize,
) -> Result<LayerDigests> {
    let signed = payload.signed();
    let mut sha256s = LayerDigests::new();
    // Manifest digests of the unnamed blobs started: the same content twice is written once.
    let mut started: BTreeSet<Digest> = BTreeSet::new();
    // As `unpack`: the writes on a thread of their own (O_DIRECT for large blobs), every blob
    // fsynced before `with_writer` returns, the first I/O error winning.
    with_writer(|files| {
        stream_payload(
            &signed.path,
            &signed.manifest,
            frames,
            threads,
            |entry| {
                if !wanted.contains(&entry.path) {
                    return Ok(BlobSink::Skip);
                }
                let Some(digest) = OciDigest::from_digest(&entry.digest) else {
                    if !started.insert(entry.digest) {
                        return Ok(BlobSink::Skip);
                    }
                    let (file, path) = writer.create_unnamed_blob(started.len())?;
                    return Ok(BlobSink::Unnamed {
                        writer: files.start(file, path, entry.size)?,
                        sha256: HashAlg::Sha256.hasher(),
                    });
                };
                Ok(match writer.create_blob(&digest)? {
                    Some(file) => BlobSink::File {
                        writer: files.start(file, writer.blob_path(&digest), entry.size)?,
                        digest,
                    },
                    None => BlobSink::Skip,
                })
            },
            // Called only once the file's size and digest matched the manifest.
            |entry, sink| {
                let (sink, digest) = match sink {
                    BlobSink::Skip => return Ok(()),
                    BlobSink::File { writer: w, digest } => (w, digest),
                    BlobSink::Unnamed { writer: w, sha256 } => {
                        let digest = OciDigest::from_digest(&sha256.finish())
                            .ok_or_else(|| Error::Internal("sha256 is not a sha256".into()))?;
                        sha256s.insert(entry.digest, digest);
                        (w, digest)
                    }
                };
                files.finish(
                    sink,
                    Box::new(move |file, path| {
                        writer.finish_blob_at(file, path)?;
                        let named = writer.blob_path(&digest);
                        if path != named {
                            writer.name_blob(path, &digest)?;
                        }
                        Ok(named)
                    }),
                )
            },
        )
    })?;
    Ok(sha256s)
}
