//! Delta bundles (`docs/format.md` section 7.3): the full signed manifest frame of a new bundle
//! plus only the payload frames an older bundle (the base) does not have, matched by the frames'
//! sha256. `patch` (or `unpack --base`) rebuilds the new single-file bundle byte for byte, taking
//! the other frames from the base; every frame is checked against the new signed manifest before
//! it is written, and the base's unused frames against the base's own manifest.
use super::bundle::OpenedBundle;
use super::payload::{FrameSource, open_frame, read_frame, verify_frame_digest};
use super::write::{copy_range, write_tail};
use super::{Container, SignedManifest, read_region};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::MAX_ENTRIES;
use crate::format::digest::{Digest, hex};
use crate::format::footer::{FooterReader, FooterWriter, check_manifest_len, skippable_header};
use crate::format::manifest::{FrameRecord, Manifest};
use crate::util::output::AtomicOutput;
use crate::util::pipeline::BufferPool;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Length of the delta footer.
pub const DELTA_FOOTER_LEN: u64 = 112;
/// Tag of the delta footer.
pub const DELTA_TAG: &[u8; 8] = b"AIRLDLT1";

/// The delta footer (`docs/format.md` section 7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaFooter {
    /// Number of payload frames the delta carries.
    pub carried: u64,
    /// Offset of the manifest frame (= bytes of carried frames).
    pub manifest_offset: u64,
    /// Length of the manifest frame.
    pub manifest_len: u64,
    /// SHA-256 of the base bundle's manifest (its identifier, whatever the suite).
    pub base_manifest_sha256: [u8; 32],
    /// SHA-256 of the new bundle's manifest (the one in this delta).
    pub manifest_sha256: [u8; 32],
}

impl DeltaFooter {
    /// The 112 footer bytes.
    pub fn encode(&self) -> [u8; DELTA_FOOTER_LEN as usize] {
        FooterWriter::<{ DELTA_FOOTER_LEN as usize }>::new(DELTA_TAG)
            .put(16, &self.carried.to_le_bytes())
            .put(24, &self.manifest_offset.to_le_bytes())
            .put(32, &self.manifest_len.to_le_bytes())
            .put(40, &self.base_manifest_sha256)
            .put(72, &self.manifest_sha256)
            .0
    }

    /// Parses and bounds-checks the last 112 bytes of a file of `file_len` bytes.
    pub fn decode(bytes: &[u8], file_len: u64) -> std::result::Result<DeltaFooter, String> {
        if bytes.len() != DELTA_FOOTER_LEN as usize {
            return Err(format!("the delta footer must be {DELTA_FOOTER_LEN} bytes"));
        }
        let r = FooterReader::open(bytes, file_len, DELTA_TAG, 104, "delta footer")?;
        let f = DeltaFooter {
            carried: r.u64(16),
            manifest_offset: r.u64(24),
            manifest_len: r.u64(32),
            base_manifest_sha256: r.digest(40),
            manifest_sha256: r.digest(72),
        };
        if f.carried > MAX_ENTRIES as u64 {
            return Err(format!(
                "the delta footer declares {} carried frames, over the cap of {MAX_ENTRIES}",
                f.carried
            ));
        }
        check_manifest_len(f.manifest_len, "delta footer")?;
        let end = f
            .manifest_offset
            .checked_add(f.manifest_len)
            .and_then(|e| e.checked_add(8 + 8 * f.carried + DELTA_FOOTER_LEN));
        if end != Some(file_len) {
            return Err(format!(
                "the delta footer places the manifest frame at {}..+{} and {} index entries, but the file is {file_len} bytes long (truncated, appended to, or a forged footer)",
                f.manifest_offset, f.manifest_len, f.carried
            ));
        }
        Ok(f)
    }

    /// Offset of the index frame.
    pub fn index_offset(&self) -> u64 {
        self.manifest_offset + self.manifest_len
    }
}

/// A delta whose footer, manifest frame and index have been read and checked for form.
pub struct OpenedDelta {
    /// The new bundle's manifest frame, which the delta carries byte for byte.
    pub signed: SignedManifest,
    /// The open delta file.
    pub file: std::fs::File,
    /// File length.
    pub len: u64,
    /// The footer.
    pub footer: DeltaFooter,
    /// Indices (in the new manifest) of the frames the delta carries, increasing; they are stored
    /// back to back from the start of the file.
    pub carried: Vec<usize>,
}

/// Opens a delta: footer, manifest frame, index, and the index against the manifest.
pub fn open_delta(path: &Path) -> Result<OpenedDelta> {
    let file = crate::util::fs::open_input(path, "delta")?;
    let len = file.metadata().ctx("read", path)?.len();
    let reject = |check: Check, detail: String| Error::rejected(path, check, detail);
    if len < DELTA_FOOTER_LEN {
        return Err(reject(
            Check::Footer,
            format!("the file is {len} bytes long, too short for a delta"),
        ));
    }
    let tail = read_region(&file, path, len - DELTA_FOOTER_LEN, DELTA_FOOTER_LEN)?;
    let footer = DeltaFooter::decode(&tail, len).map_err(|e| reject(Check::Footer, e))?;
    let index = read_region(&file, path, footer.index_offset(), 8 + 8 * footer.carried)?;
    if index[0..8] != skippable_header((8 * footer.carried) as u32) {
        return Err(reject(
            Check::Footer,
            "the frame index is not the skippable frame the footer implies".into(),
        ));
    }
    let carried: Vec<usize> = index[8..]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
        .collect();
    let signed = SignedManifest::read_carried(
        path,
        &file,
        footer.manifest_offset,
        footer.manifest_len,
        &footer.manifest_sha256,
        "delta",
    )?;
    let frames = &signed.manifest.frames;
    if !carried.windows(2).all(|w| w[0] < w[1])
        || carried.last().is_some_and(|&i| i >= frames.len())
    {
        return Err(reject(
            Check::Footer,
            format!(
                "the frame index must list increasing frame numbers below {}",
                frames.len()
            ),
        ));
    }
    let payload: u64 = carried.iter().map(|&i| frames[i].compressed_size).sum();
    if payload != footer.manifest_offset {
        return Err(reject(
            Check::Footer,
            format!(
                "the delta holds {} bytes of frames, the {} frames its index lists are {payload} bytes in the manifest (truncated or extended)",
                footer.manifest_offset,
                carried.len()
            ),
        ));
    }
    Ok(OpenedDelta {
        signed,
        file,
        len,
        footer,
        carried,
    })
}

/// The frames of `new` a delta against `base` must carry: those whose sha256 no base frame has.
pub(crate) fn frames_to_carry(new: &Manifest, base: &Manifest) -> Vec<usize> {
    let have: BTreeSet<Digest> = base.frames.iter().map(|f| f.digest).collect();
    new.frames
        .iter()
        .enumerate()
        .filter(|(_, f)| !have.contains(&f.digest))
        .map(|(i, _)| i)
        .collect()
}

/// Writes the delta of the (trusted, just written) bundle `new` against `base` to `output`,
/// atomically. Frames are copied with `copy_file_range` where the kernel offers it.
pub fn write_delta(new: &OpenedBundle, base: &SignedManifest, output: &Path) -> Result<u64> {
    let m = &new.signed.manifest;
    let carried = frames_to_carry(m, &base.manifest);
    let temp = AtomicOutput::create(output)?;
    let temp_path = temp.temp_path().to_path_buf();
    let mut dest = temp.handle()?;
    let mut payload = 0u64;
    // Copy runs of consecutive carried frames in one go.
    let mut i = 0;
    while i < carried.len() {
        let mut j = i;
        while j + 1 < carried.len() && carried[j + 1] == carried[j] + 1 {
            j += 1;
        }
        let start = m.frames[carried[i]].offset;
        let last = &m.frames[carried[j]];
        let len = last.offset + last.compressed_size - start;
        copy_range(
            &new.file,
            &new.signed.path,
            start,
            len,
            &mut dest,
            &temp_path,
        )?;
        payload += len;
        i = j + 1;
    }
    let manifest_frame = new.signed.compressed_frame()?;
    let mut w = BufWriter::new(dest);
    w.write_all(manifest_frame).ctx("write", &temp_path)?;
    w.write_all(&skippable_header((8 * carried.len()) as u32))
        .ctx("write", &temp_path)?;
    for &c in &carried {
        w.write_all(&(c as u64).to_le_bytes())
            .ctx("write", &temp_path)?;
    }
    let footer = DeltaFooter {
        carried: carried.len() as u64,
        manifest_offset: payload,
        manifest_len: manifest_frame.len() as u64,
        base_manifest_sha256: base.manifest_sha256,
        manifest_sha256: new.signed.manifest_sha256,
    };
    w.write_all(&footer.encode()).ctx("write", &temp_path)?;
    w.into_inner()
        .map_err(|e| Error::io("write", &temp_path, e.into_error()))?;
    temp.commit()?;
    Ok(payload + manifest_frame.len() as u64 + 8 + 8 * carried.len() as u64 + DELTA_FOOTER_LEN)
}

/// Checks that `base` is the bundle `delta` was made against.
pub(crate) fn check_base(delta: &OpenedDelta, base: &OpenedBundle) -> Result<()> {
    if base.signed.manifest_sha256 != delta.footer.base_manifest_sha256 {
        let b = &base.signed.manifest.bundle;
        return Err(Error::rejected(
            &base.signed.path,
            Check::Manifest,
            format!(
                "not the base of delta {}: this bundle ({} {}, sequence {}) has manifest sha256 {}, the delta was made against {}",
                delta.signed.path.display(),
                b.name,
                b.version,
                b.sequence,
                hex(&base.signed.manifest_sha256),
                hex(&delta.footer.base_manifest_sha256)
            ),
        )
        .with_hint(format!(
            "this bundle may be fine, it is just not this delta's base: pass the bundle whose manifest sha256 is {} (`airlock inspect BUNDLE` shows it), or use the full new bundle",
            hex(&delta.footer.base_manifest_sha256)
        )));
    }
    let expected = frames_to_carry(&delta.signed.manifest, &base.signed.manifest);
    if expected != delta.carried {
        return Err(Error::rejected(
            &delta.signed.path,
            Check::Footer,
            format!(
                "the delta carries frames {:?}..., but against this base it must carry exactly the {} frames the base lacks",
                &delta.carried[..delta.carried.len().min(8)],
                expected.len()
            ),
        ));
    }
    Ok(())
}

/// How a rebuild went.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RebuildStats {
    /// Frames taken from the base.
    pub from_base: usize,
    /// Frames taken from the delta.
    pub from_delta: usize,
    /// Base frames not used, checked against the base's manifest.
    pub base_unused_checked: usize,
    /// Length of the rebuilt bundle.
    pub bundle_bytes: u64,
}

enum Source {
    /// Frame `i` of the new bundle, from the delta.
    Delta(usize),
    /// A frame of the new bundle, from base frame `j`.
    Base(usize),
    /// Base frame `j`, not used, checked only.
    BaseUnused(usize),
}

/// Where each frame of the new bundle comes from, in the new manifest's order, then the base frames
/// the new bundle does not use (checked only). `check_base` must have passed: every frame the delta
/// does not carry is in the base (matched by sha256).
fn plan_sources(delta: &OpenedDelta, base: &OpenedBundle) -> Vec<Source> {
    let m = &delta.signed.manifest;
    let bm = &base.signed.manifest;
    let mut by_digest: HashMap<Digest, usize> = HashMap::new();
    for (j, f) in bm.frames.iter().enumerate() {
        by_digest.entry(f.digest).or_insert(j);
    }
    let carried: BTreeSet<usize> = delta.carried.iter().copied().collect();
    let mut used = vec![false; bm.frames.len()];
    let mut plan: Vec<Source> = Vec::with_capacity(m.frames.len());
    for (i, f) in m.frames.iter().enumerate() {
        if carried.contains(&i) {
            plan.push(Source::Delta(i));
        } else {
            let j = by_digest[&f.digest];
            used[j] = true;
            plan.push(Source::Base(j));
        }
    }
    plan.extend(
        (0..bm.frames.len())
            .filter(|&j| !used[j])
            .map(Source::BaseUnused),
    );
    plan
}

/// The file a planned frame is read from, the words that name it in messages, its index there
/// and the record (in that file's signed manifest) it must match.
fn planned<'a>(
    delta: &'a OpenedDelta,
    base: &'a OpenedBundle,
    source: &Source,
) -> (&'a Path, &'static str, usize, &'a FrameRecord) {
    match *source {
        Source::Delta(i) => (
            &delta.signed.path,
            DELTA_PLACE,
            i,
            &delta.signed.manifest.frames[i],
        ),
        Source::Base(j) | Source::BaseUnused(j) => (
            &base.signed.path,
            "the base bundle",
            j,
            &base.signed.manifest.frames[j],
        ),
    }
}

/// How a bad carried frame names the delta.
pub const DELTA_PLACE: &str = "the delta (re-transfer it)";

/// Reads the frames of `plan` in order, from the delta (its carried frames are back to back, in
/// index order) or the base; hands each (position in the plan, bytes) to `emit`.
fn read_planned(
    delta: &OpenedDelta,
    base: &OpenedBundle,
    plan: &[Source],
    pool: &BufferPool,
    emit: &mut dyn FnMut(usize, Vec<u8>) -> bool,
) -> Result<()> {
    let mut dfile = delta.file.try_clone().ctx("open", &delta.signed.path)?;
    dfile
        .seek(SeekFrom::Start(0))
        .ctx("seek in", &delta.signed.path)?;
    let mut dreader = std::io::BufReader::with_capacity(1 << 20, dfile);
    let mut breader = base.file.try_clone().ctx("open", &base.signed.path)?;
    for (k, source) in plan.iter().enumerate() {
        let (path, _, index, record) = planned(delta, base, source);
        let bytes = if matches!(source, Source::Delta(_)) {
            read_frame(path, &mut dreader, index, record, pool.take())?
        } else {
            breader
                .seek(SeekFrom::Start(record.offset))
                .ctx("seek in", path)?;
            read_frame(path, &mut breader, index, record, pool.take())?
        };
        if !emit(k, bytes) {
            break;
        }
    }
    Ok(())
}

/// The new bundle's payload frames, read from the delta or the base in the new manifest's order.
pub struct DeltaFrames<'a> {
    delta: &'a OpenedDelta,
    base: &'a OpenedBundle,
    plan: Vec<Source>,
}

impl<'a> DeltaFrames<'a> {
    /// The frames of the bundle `delta` rebuilds from `base` (`check_base` has passed).
    pub fn new(delta: &'a OpenedDelta, base: &'a OpenedBundle) -> DeltaFrames<'a> {
        DeltaFrames {
            delta,
            base,
            plan: plan_sources(delta, base),
        }
    }

    /// Checks the base frames the new bundle does not use against the base's own signed
    /// manifest, so the whole base is verified whichever frames are taken from it.
    pub fn check_unused_base_frames(&self) -> Result<usize> {
        let unused = &self.plan[self.delta.signed.manifest.frames.len()..];
        let mut checked = Ok(());
        let pool = BufferPool::new(1);
        read_planned(self.delta, self.base, unused, &pool, &mut |k, bytes| {
            let (path, place, at, record) = planned(self.delta, self.base, &unused[k]);
            checked = verify_frame_digest(path, place, at, record, &bytes);
            pool.give(bytes);
            checked.is_ok()
        })?;
        checked.map(|()| unused.len())
    }
}

impl FrameSource for DeltaFrames<'_> {
    fn read(&self, pool: &BufferPool, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()> {
        let new_frames = self.delta.signed.manifest.frames.len();
        read_planned(self.delta, self.base, &self.plan[..new_frames], pool, emit)
    }

    fn open(&self, index: usize, bytes: &[u8], into: Vec<u8>) -> Result<Vec<u8>> {
        // A base frame matches the new frame by sha256; its record in the (signed) base manifest
        // must also give the new manifest's length.
        let (path, place, at, record) = planned(self.delta, self.base, &self.plan[index]);
        let expected = self.delta.signed.manifest.frames[index].uncompressed_size;
        if record.uncompressed_size != expected {
            return Err(Error::rejected(
                path,
                Check::FrameDigest,
                format!(
                    "{place}: frame {at} is {} bytes decompressed, the new manifest says {expected}",
                    record.uncompressed_size
                ),
            ));
        }
        open_frame(path, place, at, record, bytes, into)
    }
}

/// Rebuilds the new single-file bundle from `base` and `delta` into `writer`: frames in the new
/// manifest's order, each checked against the new signed manifest before it is written (a base frame
/// also thereby against the base's manifest, whose record has the same sha256); base frames the
/// new bundle does not use are checked against the base's manifest too. Then the manifest frame and
/// the bundle footer. The result is byte-identical to the bundle the delta was made from.
pub fn rebuild(
    delta: &OpenedDelta,
    base: &OpenedBundle,
    writer: &mut impl Write,
    out_path: &Path,
    threads: usize,
) -> Result<RebuildStats> {
    let m = &delta.signed.manifest;
    let plan = plan_sources(delta, base);
    let unused: Vec<usize> = plan
        .iter()
        .filter_map(|s| match s {
            Source::BaseUnused(j) => Some(*j),
            _ => None,
        })
        .collect();
    let from_base = m.frames.len() - delta.carried.len();
    let pool = BufferPool::for_run(threads);
    crate::util::pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            read_planned(delta, base, &plan, &pool, &mut |k, bytes| {
                emitter.emit((k, bytes))
            })
        },
        |(k, bytes): (usize, Vec<u8>)| {
            let (path, place, at, record) = planned(delta, base, &plan[k]);
            verify_frame_digest(path, place, at, record, &bytes)?;
            Ok((k, bytes))
        },
        |ordered| {
            let mut written = 0usize;
            for r in ordered {
                let (k, bytes) = r?;
                if !matches!(plan[k], Source::BaseUnused(_)) {
                    writer.write_all(&bytes).ctx("write", out_path)?;
                    written += 1;
                }
                pool.give(bytes);
            }
            if written != m.frames.len() {
                return Err(Error::Internal(format!(
                    "only {written} of {} frames were rebuilt",
                    m.frames.len()
                )));
            }
            Ok(())
        },
    )?;
    let bundle_bytes = write_tail(
        writer,
        delta.signed.compressed_frame()?,
        m.layout.payload_bytes,
        out_path,
    )?;
    Ok(RebuildStats {
        from_base,
        from_delta: delta.carried.len(),
        base_unused_checked: unused.len(),
        bundle_bytes,
    })
}

/// Opens the base bundle of a delta: it must be a full single-file bundle.
pub(crate) fn open_base(path: &Path) -> Result<OpenedBundle> {
    let hint = "pass the single-file bundle the delta was made against (join its volumes first with `airlock join`, or rebuild it with `airlock patch`)";
    match super::open_kind(
        path,
        Container::Bundle,
        "a delta's base must be a single-file bundle",
        hint,
    )? {
        super::Opened::Bundle(b) => Ok(b),
        _ => Err(Error::Internal("open_kind returned another kind".into())),
    }
}

/// What `patch` did.
#[derive(Debug, serde::Serialize)]
pub struct PatchReport {
    /// The bundle written.
    pub output: PathBuf,
    /// The base bundle.
    pub base: PathBuf,
    /// The delta.
    pub delta: PathBuf,
    /// New name.
    pub name: String,
    /// New version.
    pub version: String,
    /// sha256 of the new manifest.
    pub manifest_sha256: String,
    /// How the frames were assembled.
    #[serde(flatten)]
    pub stats: RebuildStats,
}

/// `airlock patch OLD DELTA -o NEW`: rebuilds the new single-file bundle atomically (temporary
/// file beside NEW, then rename). No trust file is involved: every frame is checked against the
/// signed manifests, and NEW is verified like any bundle where it is used.
pub fn patch(
    base_path: &Path,
    delta_path: &Path,
    output: Option<&Path>,
    threads: usize,
) -> Result<PatchReport> {
    let delta = match super::open_kind(
        delta_path,
        Container::Delta,
        "patch rebuilds a bundle from a delta made by `airlock pack --base`",
        "use a full bundle as it is (no patch needed), or pass the delta",
    )? {
        super::Opened::Delta(d) => d,
        _ => return Err(Error::Internal("open_kind returned another kind".into())),
    };
    let base = open_base(base_path)?;
    check_base(&delta, &base)?;
    let m = &delta.signed.manifest;
    let output = output.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(super::bundle::default_output_name(
            &m.bundle.name,
            &m.bundle.version,
        ))
    });
    let temp = AtomicOutput::create(&output)?;
    let temp_path = temp.temp_path().to_path_buf();
    let mut w = BufWriter::with_capacity(1 << 20, temp.handle()?);
    let stats = rebuild(&delta, &base, &mut w, &temp_path, threads)?;
    w.into_inner()
        .map_err(|e| Error::io("write", &temp_path, e.into_error()))?;
    temp.commit()?;
    Ok(PatchReport {
        output,
        base: base_path.to_path_buf(),
        delta: delta_path.to_path_buf(),
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        manifest_sha256: hex(&delta.signed.manifest_sha256),
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trip_and_bounds() {
        let f = DeltaFooter {
            carried: 2,
            manifest_offset: 1000,
            manifest_len: 300,
            base_manifest_sha256: [1; 32],
            manifest_sha256: [2; 32],
        };
        let len = 1000 + 300 + 8 + 16 + DELTA_FOOTER_LEN;
        assert_eq!(DeltaFooter::decode(&f.encode(), len), Ok(f));
        assert!(DeltaFooter::decode(&f.encode(), len - 1).is_err());
        let mut bad = f.encode();
        bad[111] = 1;
        assert!(DeltaFooter::decode(&bad, len).is_err());
        let huge = DeltaFooter {
            carried: u64::MAX / 4,
            ..f
        };
        assert!(DeltaFooter::decode(&huge.encode(), len).is_err());
    }
}
