//! `airlock pack`: spec → signed bundle. Files are read once, sequentially, hashed as they stream
//! into frames; frames are compressed and hashed on a worker pool and written in order; the
//! manifest, checksum file and release signature go into the final frame, then the footer. The
//! output appears atomically (temporary file in the same directory, then rename).
use crate::bundle_path::BundlePath;
use crate::digest::collect;
use crate::error::{Error, IoContext, Result};
use crate::format::{self, Footer, FrameSpan};
use crate::hashing::{Digest, hex, sha256};
use crate::keys::SigningKey;
use crate::manifest::{
    Artifact, BundleInfo, FileEntry, FrameRecord, Layout, Manifest, check_file_set, tree_digest,
};
use crate::manifest_frame::{ManifestFrame, compress_frame};
use crate::payload::{PackFile, PayloadStream, unwrap_io};
use crate::pipeline;
use crate::signature::{Role, sign_manifest};
use crate::spec::Spec;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How to pack.
pub struct PackOptions {
    /// The release key.
    pub key: SigningKey,
    /// Output path; default `NAME-VERSION.airlock.tar.zst` in the current directory.
    pub output: Option<PathBuf>,
    /// Worker threads for compression.
    pub threads: usize,
    /// zstd level.
    pub level: i32,
    /// SOURCE_DATE_EPOCH, if set: entry mtimes and `created`.
    pub source_date_epoch: Option<u64>,
    /// The current time: signing time, and `created` when nothing fixes it.
    pub now: u64,
}

/// What `pack` produced.
#[derive(Debug, serde::Serialize)]
pub struct PackReport {
    /// The bundle written.
    pub output: PathBuf,
    /// sha256 of the manifest.
    pub manifest_sha256: String,
    /// Files packed.
    pub files: usize,
    /// Content bytes packed.
    pub bytes: u64,
    /// Payload frames.
    pub frames: usize,
    /// Bundle size in bytes.
    pub bundle_bytes: u64,
    /// Where `created` came from: "SOURCE_DATE_EPOCH", "spec" or "clock".
    pub created_from: &'static str,
}

/// Default output file name for a bundle.
pub fn default_output_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.airlock.tar.zst")
}

/// An artifact's kind, name and directory in the bundle.
pub type ArtifactRoot = (crate::manifest::Kind, String, BundlePath);

/// Lists the spec's files as sorted manifest entries (digests not yet known).
pub fn plan_files(spec: &Spec) -> Result<(Vec<PackFile>, Vec<ArtifactRoot>)> {
    let mut files = Vec::new();
    let mut artifacts = Vec::new();
    for a in &spec.artifacts {
        let root = BundlePath::parse(&format!("{}/{}", a.kind.as_str(), a.name)).map_err(|e| {
            Error::config(
                &spec.path,
                format!("artifact `{}`: {e}", a.name),
                "rename the artifact",
            )
        })?;
        for f in collect(&a.source)? {
            let path = root.join(&f.relative).map_err(|e| {
                Error::config(
                    &f.source,
                    format!("cannot be bundled as `{}/{}`: {e}", root, f.relative.escape_debug()),
                    "rename the file to portable characters (A-Z a-z 0-9 . _ - + @ = , ~ %), or shorten its path",
                )
            })?;
            files.push(PackFile {
                entry: FileEntry {
                    path,
                    size: f.size,
                    mode: f.mode,
                    sha256: [0; 32],
                },
                source: f.source,
            });
        }
        artifacts.push((a.kind, a.name.clone(), root));
    }
    files.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    let entries: Vec<FileEntry> = files.iter().map(|f| f.entry.clone()).collect();
    check_file_set(&entries)
        .map_err(|e| Error::config(&spec.path, e, "rename or remove the clashing files"))?;
    if files.is_empty() {
        return Err(Error::config(
            &spec.path,
            "the artifacts contain no files",
            "check the artifact paths",
        ));
    }
    if files.len() > format::MAX_ENTRIES {
        return Err(Error::config(
            &spec.path,
            format!("more than {} files", format::MAX_ENTRIES),
            "split the release into several bundles",
        ));
    }
    artifacts.sort_by(|a, b| a.2.cmp(&b.2));
    Ok((files, artifacts))
}

/// Packs `spec` into a bundle.
pub fn pack(spec: &Spec, opts: &PackOptions) -> Result<PackReport> {
    let b = &spec.bundle;
    let (created, created_from) = match (opts.source_date_epoch, b.created) {
        (Some(t), _) => (t, "SOURCE_DATE_EPOCH"),
        (None, Some(t)) => (t, "spec"),
        (None, None) => (opts.now, "clock"),
    };
    let expires = b.expires.unwrap_or(created + b.valid_days * 86_400);
    if expires <= created {
        return Err(Error::config(
            &spec.path,
            "`expires` is not after the creation time",
            "set a later expires",
        ));
    }
    if !(1..=22).contains(&opts.level) {
        return Err(Error::config(
            "--level",
            format!("{} is out of range", opts.level),
            "use a zstd level from 1 to 22",
        ));
    }
    let mtime = opts.source_date_epoch.unwrap_or(0);
    let (mut files, artifact_roots) = plan_files(spec)?;
    let spans = format::plan_frames(files.iter().map(|f| f.entry.size));

    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_output_name(&b.name, &b.version)));
    let out_dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".airlock-pack-")
        .tempfile_in(&out_dir)
        .ctx("create a temporary file in", &out_dir)?;
    let temp_path = temp.path().to_path_buf();
    let mut writer =
        BufWriter::with_capacity(1 << 20, temp.as_file().try_clone().ctx("open", &temp_path)?);

    let frames = write_payload(&mut files, &spans, mtime, opts, &mut writer, &temp_path)?;
    let payload_bytes: u64 = frames.iter().map(|f| f.compressed_size).sum();

    let entries: Vec<FileEntry> = files.into_iter().map(|f| f.entry).collect();
    let artifacts = artifact_roots
        .into_iter()
        .map(|(kind, name, path)| artifact_record(kind, name, path, &entries))
        .collect();
    let sums = crate::manifest::checksum_file(&entries);
    let manifest = Manifest {
        bundle: BundleInfo {
            name: b.name.clone(),
            version: b.version.clone(),
            sequence: b.sequence,
            target: b.target.clone(),
            created,
            expires,
            mtime,
        },
        layout: Layout {
            zstd_level: opts.level,
            payload_bytes,
            checksums_sha256: sha256(sums.as_bytes()),
        },
        artifacts,
        frames,
        files: entries,
    };
    let manifest_text = manifest.to_canonical();
    debug_assert!(manifest.check_consistency().is_ok());
    let (sig_name, sig_text) = sign_manifest(
        &opts.key,
        manifest_text.as_bytes(),
        &manifest.bundle,
        Role::Release,
        opts.now,
    )
    .map_err(Error::Environment)?;
    let frame = ManifestFrame {
        manifest: manifest_text.clone().into_bytes(),
        sums: sums.into_bytes(),
        signatures: vec![(sig_name, sig_text.into_bytes())],
        mtime,
    };
    let bundle_bytes = write_tail(&mut writer, &frame, payload_bytes, opts.level, &temp_path)?;
    let file = writer
        .into_inner()
        .map_err(|e| Error::io("write", &temp_path, e.into_error()))?;
    file.sync_all().ctx("sync", &temp_path)?;
    temp.persist(&output)
        .map_err(|e| Error::io("rename into place", &output, e.error))?;
    sync_dir(&out_dir)?;
    Ok(PackReport {
        output,
        manifest_sha256: hex(&sha256(manifest_text.as_bytes())),
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        frames: manifest.frames.len(),
        bundle_bytes,
        created_from,
    })
}

/// Writes the manifest frame and footer after `payload_bytes` of payload; returns the bundle size.
pub fn write_tail(
    writer: &mut impl Write,
    frame: &ManifestFrame,
    payload_bytes: u64,
    level: i32,
    path: &Path,
) -> Result<u64> {
    let compressed = frame
        .encode(level)
        .ctx("compress the manifest frame for", path)?;
    if compressed.len() as u64 > format::MANIFEST_FRAME_CAP {
        return Err(Error::config(
            path,
            "the manifest frame exceeds its 64 MiB cap",
            "split the release into several bundles",
        ));
    }
    let footer = Footer {
        manifest_offset: payload_bytes,
        manifest_len: compressed.len() as u64,
    };
    writer.write_all(&compressed).ctx("write", path)?;
    writer.write_all(&footer.encode()).ctx("write", path)?;
    writer.flush().ctx("write", path)?;
    Ok(payload_bytes + compressed.len() as u64 + format::FOOTER_LEN)
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("sync directory", dir)
}

fn artifact_record(
    kind: crate::manifest::Kind,
    name: String,
    path: BundlePath,
    entries: &[FileEntry],
) -> Artifact {
    let files: Vec<&FileEntry> = entries
        .iter()
        .filter(|f| f.path.is_below(path.as_str()))
        .collect();
    let prefix = path.as_str().len() + 1;
    Artifact {
        kind,
        tree_digest: tree_digest(
            files
                .iter()
                .map(|f| (&f.path.as_str()[prefix..], f.size, f.mode, f.sha256)),
        ),
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        name,
        path,
    }
}

fn write_payload(
    files: &mut [PackFile],
    spans: &[FrameSpan],
    mtime: u64,
    opts: &PackOptions,
    writer: &mut impl Write,
    out_path: &Path,
) -> Result<Vec<FrameRecord>> {
    let level = opts.level;
    let threads = opts.threads.max(1);
    let (_, frames) = pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            let mut stream = PayloadStream::new(files, mtime);
            for span in spans {
                let mut buf = vec![0u8; span.len as usize];
                stream
                    .read_exact(&mut buf)
                    .map_err(|e| unwrap_io(e, "read", out_path))?;
                if !emitter.emit(buf) {
                    break;
                }
            }
            Ok(())
        },
        |raw: Vec<u8>| {
            let compressed = compress_frame(&raw, level)
                .map_err(|e| Error::Environment(format!("zstd compression failed: {e}")))?;
            let digest: Digest = sha256(&compressed);
            Ok((compressed, digest, raw.len() as u64))
        },
        |ordered| {
            let mut records = Vec::with_capacity(spans.len());
            let mut offset = 0u64;
            for result in ordered {
                let (compressed, digest, raw_len) = result?;
                writer.write_all(&compressed).ctx("write", out_path)?;
                records.push(FrameRecord {
                    offset,
                    compressed_size: compressed.len() as u64,
                    uncompressed_size: raw_len,
                    sha256: digest,
                });
                offset += compressed.len() as u64;
            }
            Ok(records)
        },
    )?;
    Ok(frames)
}
