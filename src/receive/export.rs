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
use crate::container::payload::{stream_payload, unwrap_io};
use crate::error::{Check, Error, Result};
use crate::format::oci::{self, DerivedArtifact, OciDigest, derive_artifact, layer_digest};
use crate::format::path::BundlePath;
use crate::format::time::Timestamp;
use crate::receive::oci::{OciInfo, plans, proof_layer};
use crate::receive::unpack::{Existing, Outcome, check_delta_base, install_atomically};
use crate::receive::verify::{CheckOutcome, VerifyReport, check_authenticity, report};
use crate::trust::Trust;
use crate::trust::enforce::{WeightsRule, gate_file};
use crate::trust::state::StateDir;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
enum BlobSink {
    File {
        writer: BufWriter<File>,
        path: PathBuf,
    },
    Skip,
}

impl Write for BlobSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            BlobSink::File { writer, path } => writer
                .write(buf)
                .map_err(|e| std::io::Error::other(Error::io("write", &*path, e))),
            BlobSink::Skip => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            BlobSink::File { writer, path } => writer
                .flush()
                .map_err(|e| std::io::Error::other(Error::io("write", &*path, e))),
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
            "unpack it instead, or ask the release engineer for a bundle whose model files fit (see docs/format.md section 10)",
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
    let mut derived: Vec<(String, DerivedArtifact)> = Vec::new();
    let mut blobs: BTreeMap<OciDigest, u64> = BTreeMap::from([(proof.digest, proof.size)]);
    for plan in &plans {
        let d = derive_artifact(m, &signed.manifest_sha256, plan, proof.clone()).map_err(cannot)?;
        for l in &d.image.layers {
            blobs.insert(l.digest, l.size);
        }
        blobs.insert(d.image.config.digest, d.image.config.size);
        blobs.insert(d.descriptor.digest, d.descriptor.size);
        let tag = opts.tag.clone().unwrap_or_else(|| plan.default_tag(m));
        derived.push((tag, d));
    }
    let entries: Vec<(String, oci::Descriptor)> = derived
        .iter()
        .map(|(t, d)| (t.clone(), d.descriptor.clone()))
        .collect();
    let index = oci::index_json(&entries).map_err(cannot)?;
    // The exported files, by bundle path: each goes into its blob as the payload streams past.
    let wanted: BTreeSet<&BundlePath> = plans
        .iter()
        .flat_map(|p| p.files.iter().map(|f| &f.entry.path))
        .collect();
    let allowed = accepted.policy.allowed_files.clone();
    let weights = accepted
        .auth
        .governed()
        .policy
        .as_ref()
        .filter(|_| accepted.policy.enforced)
        .map(|carried| WeightsRule {
            policy: &carried.policy,
            manifest: m,
        });
    let expected = ExpectedLayout {
        index: index.clone(),
        blobs: blobs.clone(),
    };
    let frames = payload.frames();
    let outcome = install_atomically(
        signed,
        dir,
        opts.state.as_ref(),
        &Existing {
            flag: "--oci-layout",
            matches: &|d| layout_matches(d, &expected),
            refused: "already exists and does not hold this export",
            hint: "choose another --oci-layout directory, or remove this one first",
            replace: false,
        },
        &|staging| {
            let writer = LayoutWriter::create(staging)?;
            writer.put(&tar)?;
            for (_, d) in &derived {
                writer.put(&d.config)?;
                writer.put(&d.manifest)?;
            }
            write_file_blobs(&writer, payload, frames.as_ref(), &wanted, opts.threads)?;
            for entry in m.files.iter().filter(|f| wanted.contains(&f.path)) {
                gate_file(
                    &signed.path,
                    &entry.path,
                    &writer.blob_path(&layer_digest(entry)),
                    &allowed,
                    weights.as_ref(),
                )?;
            }
            writer.finish(&index)
        },
    )?;
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
                detail: format!("{} files match size and sha256", m.files.len()),
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

/// Streams the payload once (every frame and file checked against the manifest, on `threads`
/// workers), writing each wanted file's bytes into its blob; the blobs are fsynced on a thread
/// of their own while the next file is written, all before this returns.
fn write_file_blobs(
    writer: &LayoutWriter,
    payload: &Payload,
    frames: &dyn crate::container::FrameSource,
    wanted: &BTreeSet<&BundlePath>,
    threads: usize,
) -> Result<()> {
    let signed = payload.signed();
    let (to_sync, synced) = crossbeam_channel::bounded::<(File, PathBuf)>(64);
    std::thread::scope(|scope| {
        let syncer = scope.spawn(move || -> Result<()> {
            let mut first_error = None;
            for (file, path) in synced {
                if first_error.is_none()
                    && let Err(e) = file.sync_all()
                {
                    first_error = Some(Error::io("sync", &path, e));
                }
            }
            first_error.map_or(Ok(()), Err)
        });
        let streamed = stream_payload(
            &signed.path,
            &signed.manifest,
            frames,
            threads,
            |entry| {
                if !wanted.contains(&entry.path) {
                    return Ok(BlobSink::Skip);
                }
                let digest = layer_digest(entry);
                Ok(match writer.create_blob(&digest)? {
                    Some(file) => BlobSink::File {
                        writer: BufWriter::with_capacity(1 << 20, file),
                        path: writer.blob_path(&digest),
                    },
                    None => BlobSink::Skip,
                })
            },
            // Called only once the file's size and sha256 matched the manifest.
            |entry, sink| match sink {
                BlobSink::Skip => Ok(()),
                BlobSink::File { writer: w, path } => {
                    let file = w
                        .into_inner()
                        .map_err(|e| unwrap_io(e.into_error(), "write", &path))?;
                    writer.finish_blob(&file, &layer_digest(entry))?;
                    to_sync
                        .send((file, path))
                        .map_err(|_| Error::Internal("the fsync thread stopped".into()))
                }
            },
        );
        drop(to_sync);
        let flushed = syncer
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the fsync thread panicked".into())));
        streamed.and(flushed)
    })
}
