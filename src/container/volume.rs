//! Volumes (`docs/format.md` section 7.2): a bundle cut at frame boundaries into files
//! `NAME-VERSION.airlock.tar.zst.001`, `.002`, ... of at most a given size, each carrying a copy of
//! the signed manifest frame and a volume footer, so each volume verifies on its own and the set
//! joins back into the exact single-file bundle. Opening one volume or a whole set, cutting a
//! bundle into volumes, and joining them.
use super::bundle::OpenedBundle;
use super::payload::{FrameSource, open_frame, read_frames, verify_frame_digest};
use super::write::{copy_range, write_tail};
use super::{Container, SignedManifest, read_region, sniff};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::hex;
use crate::format::footer::{FooterReader, FooterWriter, check_manifest_len, skippable_header};
use crate::format::manifest::{FileSlice, Manifest, describe_slices, files_in_frames};
use crate::util::output::AtomicOutput;
use crate::util::size::format_size;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Length of the volume footer at the end of every volume.
pub const VOLUME_FOOTER_LEN: u64 = 96;
/// Tag of the volume footer.
pub const VOLUME_TAG: &[u8; 8] = b"AIRLVOL1";
/// Length of the skippable-frame header that wraps the manifest frame copy in all volumes but the last.
pub const WRAPPER_LEN: u64 = 8;
/// Most volumes one bundle may be cut into (three-digit suffixes).
pub const MAX_VOLUMES: u32 = 999;

/// The volume footer (`docs/format.md` section 7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeFooter {
    /// This volume's number, 1-based.
    pub number: u32,
    /// How many volumes the bundle was cut into.
    pub count: u32,
    /// Index (in the manifest's frame list) of the first payload frame in this volume.
    pub first_frame: u64,
    /// Number of payload frames in this volume.
    pub frame_count: u64,
    /// Offset of the manifest frame copy in this volume.
    pub manifest_offset: u64,
    /// Length of the manifest frame.
    pub manifest_len: u64,
    /// SHA-256 of the manifest (`airlock/manifest.toml`) the volume belongs to (its identifier).
    pub manifest_sha256: [u8; 32],
}

impl VolumeFooter {
    /// The 96 footer bytes.
    pub fn encode(&self) -> [u8; VOLUME_FOOTER_LEN as usize] {
        FooterWriter::<{ VOLUME_FOOTER_LEN as usize }>::new(VOLUME_TAG)
            .put(16, &self.number.to_le_bytes())
            .put(20, &self.count.to_le_bytes())
            .put(24, &self.first_frame.to_le_bytes())
            .put(32, &self.frame_count.to_le_bytes())
            .put(40, &self.manifest_offset.to_le_bytes())
            .put(48, &self.manifest_len.to_le_bytes())
            .put(56, &self.manifest_sha256)
            .0
    }

    /// Parses and bounds-checks the last 96 bytes of a file of `file_len` bytes.
    pub fn decode(bytes: &[u8], file_len: u64) -> std::result::Result<VolumeFooter, String> {
        if bytes.len() != VOLUME_FOOTER_LEN as usize {
            return Err(format!(
                "the volume footer must be {VOLUME_FOOTER_LEN} bytes"
            ));
        }
        let r = FooterReader::open(bytes, file_len, VOLUME_TAG, 88, "volume footer")?;
        let f = VolumeFooter {
            number: r.u32(16),
            count: r.u32(20),
            first_frame: r.u64(24),
            frame_count: r.u64(32),
            manifest_offset: r.u64(40),
            manifest_len: r.u64(48),
            manifest_sha256: r.digest(56),
        };
        if f.count == 0 || f.count > MAX_VOLUMES || f.number == 0 || f.number > f.count {
            return Err(format!(
                "the volume footer says volume {} of {}; it must be 1 to {} of at most {MAX_VOLUMES}",
                f.number, f.count, f.count
            ));
        }
        if f.frame_count == 0 {
            return Err("the volume footer declares a volume without payload frames".into());
        }
        check_manifest_len(f.manifest_len, "volume footer")?;
        let end = f
            .manifest_offset
            .checked_add(f.manifest_len)
            .and_then(|e| e.checked_add(VOLUME_FOOTER_LEN));
        if end != Some(file_len) {
            return Err(format!(
                "the volume footer places the manifest frame at {}..+{} but the file is {file_len} bytes long (truncated, appended to, or a forged footer)",
                f.manifest_offset, f.manifest_len
            ));
        }
        if f.number < f.count && f.manifest_offset < WRAPPER_LEN {
            return Err("the volume footer leaves no room for the manifest copy's wrapper".into());
        }
        Ok(f)
    }

    /// Bytes of payload frames at the start of the volume.
    pub fn payload_len(&self) -> u64 {
        if self.number < self.count {
            self.manifest_offset - WRAPPER_LEN
        } else {
            self.manifest_offset
        }
    }

    /// The frame index range this volume holds.
    pub fn frames(&self) -> std::ops::Range<usize> {
        self.first_frame as usize..self.first_frame.saturating_add(self.frame_count) as usize
    }
}

/// A volume whose footer and manifest copy have been read and checked for form.
pub struct OpenedVolume {
    /// The manifest frame copy it carries (its payload frames are a range of that manifest's).
    pub signed: SignedManifest,
    /// The open file.
    pub file: File,
    /// File length.
    pub len: u64,
    /// The volume footer.
    pub footer: VolumeFooter,
}

impl OpenedVolume {
    /// "volume 2 of 3".
    pub fn label(&self) -> String {
        format!("volume {} of {}", self.footer.number, self.footer.count)
    }
}

/// Opens a volume: footer, wrapper, manifest copy, and the frame range against the manifest.
pub(crate) fn open_volume(path: &Path) -> Result<OpenedVolume> {
    let file = crate::util::fs::open_input(path, "volume")?;
    let len = file.metadata().ctx("read", path)?.len();
    let reject = |check: Check, detail: String| Error::rejected(path, check, detail);
    if len < VOLUME_FOOTER_LEN {
        return Err(reject(
            Check::Footer,
            format!("the file is {len} bytes long, too short for a volume"),
        ));
    }
    let tail = read_region(&file, path, len - VOLUME_FOOTER_LEN, VOLUME_FOOTER_LEN)?;
    let footer = VolumeFooter::decode(&tail, len).map_err(|e| reject(Check::Footer, e))?;
    if footer.number < footer.count {
        let wrapper = read_region(
            &file,
            path,
            footer.manifest_offset - WRAPPER_LEN,
            WRAPPER_LEN,
        )?;
        if wrapper != skippable_header(footer.manifest_len as u32) {
            return Err(reject(
                Check::Footer,
                "the manifest copy is not wrapped in the skippable frame the footer implies".into(),
            ));
        }
    }
    let signed = SignedManifest::read_carried(
        path,
        &file,
        footer.manifest_offset,
        footer.manifest_len,
        &footer.manifest_sha256,
        "volume",
    )?;
    let frames = &signed.manifest.frames;
    let label = format!("volume {} of {}", footer.number, footer.count);
    let end = footer.first_frame.checked_add(footer.frame_count);
    if end.is_none_or(|e| e > frames.len() as u64) {
        return Err(reject(
            Check::Footer,
            format!(
                "{label} claims frames {}..+{} but the manifest lists {}",
                footer.first_frame,
                footer.frame_count,
                frames.len()
            ),
        ));
    }
    if footer.number == 1 && footer.first_frame != 0 {
        return Err(reject(
            Check::Footer,
            format!("{label} must start at frame 0, not {}", footer.first_frame),
        ));
    }
    if footer.number == footer.count && end != Some(frames.len() as u64) {
        return Err(reject(
            Check::Footer,
            format!("{label} is the last but does not hold the last frame"),
        ));
    }
    let range = footer.frames();
    let payload: u64 = frames[range].iter().map(|f| f.compressed_size).sum();
    if payload != footer.payload_len() {
        return Err(reject(
            Check::Footer,
            format!(
                "{label} holds {} bytes of payload, its frames are {payload} bytes in the manifest (truncated or extended)",
                footer.payload_len()
            ),
        ));
    }
    Ok(OpenedVolume {
        signed,
        file,
        len,
        footer,
    })
}

/// One planned volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumePlan {
    /// Index of the first frame.
    pub first_frame: usize,
    /// Number of frames.
    pub frame_count: usize,
    /// Compressed bytes of those frames.
    pub payload_bytes: u64,
}

/// Bytes every volume reserves besides its payload frames: the worst-case compressed size of the
/// manifest frame (zstd's compress bound of its uncompressed tar length, which does not depend on
/// signature bytes), its 8-byte wrapper, and the volume footer.
pub fn volume_reserve(signed: &SignedManifest) -> u64 {
    let tar_len = signed.frame.to_tar().len();
    zstd::zstd_safe::compress_bound(tar_len) as u64 + WRAPPER_LEN + VOLUME_FOOTER_LEN
}

/// The deterministic cut: volumes filled greedily with whole frames in order, each volume's frames
/// at most `size - reserve` bytes.
pub(crate) fn plan_volumes(m: &Manifest, reserve: u64, size: u64) -> Result<Vec<VolumePlan>> {
    let largest = m
        .frames
        .iter()
        .map(|f| f.compressed_size)
        .max()
        .unwrap_or(0);
    let needed = largest + reserve;
    let granule: u64 = if needed >= 1 << 20 { 1 << 20 } else { 1 << 10 };
    let suggestion = format_size(needed.div_ceil(granule) * granule);
    let budget = size.saturating_sub(reserve);
    if let Some((i, frame)) = m
        .frames
        .iter()
        .enumerate()
        .find(|(_, f)| f.compressed_size > budget)
    {
        let held = files_in_frames(m, i..i + 1);
        return Err(Error::config(
            "--max-volume-size",
            format!(
                "{size} bytes cannot hold payload frame {i} ({} compressed bytes, holding {}) plus the {reserve} bytes every volume reserves for its manifest copy and footer",
                frame.compressed_size,
                describe_slices(&held)
            ),
            format!(
                "use --max-volume-size {suggestion} or more (frames are at most 16 MiB of tar data, so volumes of 17MiB or more always fit frames of incompressible data plus a small manifest)"
            ),
        ));
    }
    let mut plans: Vec<VolumePlan> = Vec::new();
    for (i, frame) in m.frames.iter().enumerate() {
        match plans.last_mut() {
            Some(p) if p.payload_bytes + frame.compressed_size <= budget => {
                p.frame_count += 1;
                p.payload_bytes += frame.compressed_size;
            }
            _ => plans.push(VolumePlan {
                first_frame: i,
                frame_count: 1,
                payload_bytes: frame.compressed_size,
            }),
        }
    }
    if plans.len() > MAX_VOLUMES as usize {
        let total = m.layout.payload_bytes;
        let per = total.div_ceil(MAX_VOLUMES as u64) + reserve;
        return Err(Error::config(
            "--max-volume-size",
            format!(
                "{size} bytes per volume would need {} volumes; at most {MAX_VOLUMES} are allowed",
                plans.len()
            ),
            format!(
                "use --max-volume-size {} or more",
                format_size(per.div_ceil(1 << 20) << 20)
            ),
        ));
    }
    Ok(plans)
}

/// `OUT.001`-style name of volume `number`.
pub(crate) fn volume_name(base: &Path, number: u32) -> PathBuf {
    let mut name: OsString = base.as_os_str().to_owned();
    name.push(format!(".{number:03}"));
    PathBuf::from(name)
}

/// One volume written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeOut {
    /// Where.
    pub path: PathBuf,
    /// Volume number.
    pub number: u32,
    /// Size in bytes.
    pub bytes: u64,
    /// First frame index.
    pub first_frame: usize,
    /// Frames held.
    pub frames: usize,
    /// Files wholly or partly held.
    pub files: Vec<FileSlice>,
}

/// Cuts the (trusted, just written) bundle into volumes `OUTPUT.001`, ...; copies frames with
/// `copy_file_range` where the kernel offers it. All volumes are written to temporary files first,
/// then renamed into place.
pub fn split(bundle: &OpenedBundle, output: &Path, size: u64) -> Result<Vec<VolumeOut>> {
    let m = &bundle.signed.manifest;
    let reserve = volume_reserve(&bundle.signed);
    let plans = plan_volumes(m, reserve, size)?;
    let count = plans.len() as u32;
    let manifest_frame = bundle.signed.compressed_frame()?;
    let mut written = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let number = i as u32 + 1;
        let temp = AtomicOutput::create(&volume_name(output, number))?;
        let temp_path = temp.temp_path().to_path_buf();
        let mut dest = temp.handle()?;
        copy_range(
            &bundle.file,
            &bundle.signed.path,
            m.frames[plan.first_frame].offset,
            plan.payload_bytes,
            &mut dest,
            &temp_path,
        )?;
        let mut w = BufWriter::new(dest);
        let last = number == count;
        if !last {
            w.write_all(&skippable_header(manifest_frame.len() as u32))
                .ctx("write", &temp_path)?;
        }
        let manifest_offset = plan.payload_bytes + if last { 0 } else { WRAPPER_LEN };
        w.write_all(manifest_frame).ctx("write", &temp_path)?;
        let footer = VolumeFooter {
            number,
            count,
            first_frame: plan.first_frame as u64,
            frame_count: plan.frame_count as u64,
            manifest_offset,
            manifest_len: manifest_frame.len() as u64,
            manifest_sha256: bundle.signed.manifest_sha256,
        };
        w.write_all(&footer.encode()).ctx("write", &temp_path)?;
        w.into_inner()
            .map_err(|e| Error::io("write", &temp_path, e.into_error()))?;
        let bytes = manifest_offset + manifest_frame.len() as u64 + VOLUME_FOOTER_LEN;
        debug_assert!(bytes <= size);
        written.push((
            temp,
            VolumeOut {
                path: volume_name(output, number),
                number,
                bytes,
                first_frame: plan.first_frame,
                frames: plan.frame_count,
                files: files_in_frames(m, plan.first_frame..plan.first_frame + plan.frame_count),
            },
        ));
    }
    let mut out = Vec::new();
    for (temp, v) in written {
        temp.commit()?;
        out.push(v);
    }
    Ok(out)
}

/// Opens the volumes at `paths` and checks they form one complete set: same manifest (byte-identical
/// manifest frame), same cut, every number from 1 to the count exactly once. A single path whose
/// name ends in `.NNN` stands for its whole set: the siblings are found by number.
pub(crate) fn open_set(paths: &[PathBuf]) -> Result<Vec<OpenedVolume>> {
    if paths.is_empty() {
        return Err(Error::config(
            "VOLUMES",
            "no volumes given",
            "pass every volume, e.g. NAME-VERSION.airlock.tar.zst.0*",
        ));
    }
    let mut volumes = Vec::new();
    for path in paths {
        let hint = match sniff(path)? {
            Container::Volume => {
                volumes.push(open_volume(path)?);
                continue;
            }
            Container::Bundle => "use the bundle as it is, on its own",
            Container::Delta => "rebuild the bundle with `airlock patch OLD DELTA -o NEW`",
            Container::OciLayout => "pass the volumes of one split bundle, not a layout directory",
        };
        super::open_kind(
            path,
            Container::Volume,
            "a set of volumes holds only the .001, .002, ... files of one split bundle",
            hint,
        )?;
    }
    if volumes.len() == 1 && volumes[0].footer.count > 1 {
        let first = &volumes[0];
        let base = strip_number(&first.signed.path, first.footer.number).ok_or_else(|| {
            Error::config(
                &first.signed.path,
                format!(
                    "is {}; the other volumes cannot be found because its name does not end in .{:03}",
                    first.label(),
                    first.footer.number
                ),
                "pass every volume of the set",
            )
        })?;
        let count = first.footer.count;
        let number = first.footer.number;
        for n in (1..=count).filter(|&n| n != number) {
            let sibling = volume_name(&base, n);
            if !sibling.exists() {
                return Err(missing(&sibling, n, count));
            }
            volumes.push(open_volume(&sibling)?);
        }
    }
    // Foreign volumes: the manifest held by most volumes (the first given on a tie) defines the set.
    let mut tally: BTreeMap<[u8; 32], (usize, usize)> = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let e = tally.entry(v.signed.manifest_sha256).or_insert((0, i));
        e.0 += 1;
    }
    let (reference, _) = tally
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
        .map(|(d, c)| (*d, *c))
        .expect("at least one volume");
    let describe = |v: &OpenedVolume| {
        let b = &v.signed.manifest.bundle;
        format!(
            "{} {} (sequence {}, manifest sha256 {})",
            b.name,
            b.version,
            b.sequence,
            &hex(&v.signed.manifest_sha256)[..16]
        )
    };
    let reference_vol = volumes
        .iter()
        .find(|v| v.signed.manifest_sha256 == reference)
        .expect("reference exists");
    for v in &volumes {
        if v.signed.manifest_sha256 != reference {
            return Err(Error::rejected(
                &v.signed.path,
                Check::Manifest,
                format!(
                    "foreign volume: it belongs to {}, the other volumes to {}",
                    describe(v),
                    describe(reference_vol)
                ),
            ));
        }
    }
    for v in &volumes {
        if v.signed.compressed != reference_vol.signed.compressed {
            return Err(Error::rejected(
                &v.signed.path,
                Check::ManifestFrame,
                format!(
                    "the volume carries the same manifest as {} but other signatures (was the bundle countersigned between splits?)",
                    reference_vol.signed.path.display()
                ),
            ));
        }
        if v.footer.count != reference_vol.footer.count {
            return Err(Error::rejected(
                &v.signed.path,
                Check::Footer,
                format!(
                    "{} comes from a different cut than {} ({}): the volumes were split with different sizes",
                    v.label(),
                    reference_vol.signed.path.display(),
                    reference_vol.label()
                ),
            ));
        }
    }
    let count = reference_vol.footer.count;
    volumes.sort_by_key(|v| v.footer.number);
    for pair in volumes.windows(2) {
        if pair[0].footer.number == pair[1].footer.number {
            return Err(Error::rejected(
                &pair[1].signed.path,
                Check::Footer,
                format!(
                    "duplicate volume: both {} and {} are {}",
                    pair[0].signed.path.display(),
                    pair[1].signed.path.display(),
                    pair[1].label()
                ),
            ));
        }
    }
    for n in 1..=count {
        if volumes.get(n as usize - 1).map(|v| v.footer.number) != Some(n) {
            let hint_base = strip_number(&volumes[0].signed.path, volumes[0].footer.number);
            let name = hint_base
                .map(|b| volume_name(&b, n))
                .unwrap_or_else(|| PathBuf::from(format!("volume {n}")));
            return Err(missing(&name, n, count));
        }
    }
    let mut next = 0u64;
    for v in &volumes {
        if v.footer.first_frame != next {
            return Err(Error::rejected(
                &v.signed.path,
                Check::Footer,
                format!(
                    "{} starts at frame {}, the previous volume ends before frame {next}: the volumes come from different cuts",
                    v.label(),
                    v.footer.first_frame
                ),
            ));
        }
        next += v.footer.frame_count;
    }
    Ok(volumes)
}

fn missing(path: &Path, number: u32, count: u32) -> Error {
    Error::rejected(
        path,
        Check::Footer,
        format!("missing volume: volume {number} of {count} was not given or not found"),
    )
}

/// `X.airlock.tar.zst` from `X.airlock.tar.zst.002` when `number` is 2.
fn strip_number(path: &Path, number: u32) -> Option<PathBuf> {
    let text = path.to_str()?;
    text.strip_suffix(&format!(".{number:03}"))
        .map(PathBuf::from)
}

/// Writes the single-file bundle of a complete, checked volume set to `writer`: every frame's
/// sha256 is checked against the manifest as it passes (the volume at fault is named), then the
/// manifest frame and the bundle footer. Returns the bundle's length.
pub(crate) fn join_into(
    volumes: &[OpenedVolume],
    writer: &mut impl Write,
    out_path: &Path,
    threads: usize,
) -> Result<u64> {
    let m = &volumes[0].signed.manifest;
    let source = VolumeFrames(volumes);
    let pool = crate::util::pipeline::BufferPool::for_run(threads);
    crate::util::pipeline::run(
        threads,
        threads + 2,
        |emitter| source.read(&pool, &mut |i, bytes| emitter.emit((i, bytes))),
        |(i, bytes): (usize, Vec<u8>)| {
            source.check(i, &bytes)?;
            Ok(bytes)
        },
        |ordered| {
            let mut n = 0usize;
            for r in ordered {
                let bytes = r?;
                writer.write_all(&bytes).ctx("write", out_path)?;
                pool.give(bytes);
                n += 1;
            }
            if n != m.frames.len() {
                return Err(Error::Internal(format!(
                    "only {n} of {} frames were joined",
                    m.frames.len()
                )));
            }
            Ok(())
        },
    )?;
    write_tail(
        writer,
        volumes[0].signed.compressed_frame()?,
        m.layout.payload_bytes,
        out_path,
    )
}

/// What `join` did.
#[derive(Debug, serde::Serialize)]
pub struct JoinReport {
    /// The bundle written.
    pub output: PathBuf,
    /// The volumes read, in order.
    pub volumes: Vec<PathBuf>,
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// sha256 of the manifest.
    pub manifest_sha256: String,
    /// Frames checked and joined.
    pub frames: usize,
    /// Bundle size.
    pub bundle_bytes: u64,
}

/// `airlock join`: rebuilds the single-file bundle from its volumes, atomically (temporary file
/// beside `output`, then rename). The result is byte-identical to the bundle that was split.
pub fn join(paths: &[PathBuf], output: Option<&Path>, threads: usize) -> Result<JoinReport> {
    let volumes = open_set(paths)?;
    let m = &volumes[0].signed.manifest;
    let output = output.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(super::bundle::default_output_name(
            &m.bundle.name,
            &m.bundle.version,
        ))
    });
    if volumes.iter().any(|v| same_file(&v.signed.path, &output)) {
        return Err(Error::config(
            &output,
            "is one of the volumes being joined",
            "choose another -o",
        ));
    }
    let temp = AtomicOutput::create(&output)?;
    let temp_path = temp.temp_path().to_path_buf();
    let mut w = BufWriter::with_capacity(1 << 20, temp.handle()?);
    let bytes = join_into(&volumes, &mut w, &temp_path, threads)?;
    w.into_inner()
        .map_err(|e| Error::io("write", &temp_path, e.into_error()))?;
    temp.commit()?;
    Ok(JoinReport {
        output,
        volumes: volumes.iter().map(|v| v.signed.path.clone()).collect(),
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        manifest_sha256: hex(&volumes[0].signed.manifest_sha256),
        frames: m.frames.len(),
        bundle_bytes: bytes,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The payload frames of a complete, checked volume set, read volume after volume; a bad frame
/// names its volume, so that one disc can be re-burned.
pub struct VolumeFrames<'a>(pub &'a [OpenedVolume]);

impl VolumeFrames<'_> {
    /// The volume holding frame `index`, with the words that name it in messages.
    fn holder(&self, index: usize) -> (&OpenedVolume, String) {
        let v = self
            .0
            .iter()
            .find(|v| v.footer.frames().contains(&index))
            .unwrap_or(&self.0[0]);
        (v, format!("{} (re-transfer this volume)", v.label()))
    }

    /// Checks frame `index`'s sha256, naming its volume if it is wrong.
    fn check(&self, index: usize, bytes: &[u8]) -> Result<()> {
        let (v, place) = self.holder(index);
        verify_frame_digest(
            &v.signed.path,
            &place,
            index,
            &v.signed.manifest.frames[index],
            bytes,
        )
    }
}

impl FrameSource for VolumeFrames<'_> {
    fn read(
        &self,
        pool: &crate::util::pipeline::BufferPool,
        emit: &mut dyn FnMut(usize, Vec<u8>) -> bool,
    ) -> Result<()> {
        let m = &self.0[0].signed.manifest;
        let mut go_on = true;
        for v in self.0 {
            read_frames(
                &v.signed.path,
                &v.file,
                0,
                &m.frames,
                v.footer.frames(),
                pool,
                &mut |i, bytes| {
                    go_on = emit(i, bytes);
                    go_on
                },
            )?;
            if !go_on {
                break;
            }
        }
        Ok(())
    }

    fn open(&self, index: usize, bytes: &[u8], into: Vec<u8>) -> Result<Vec<u8>> {
        let (v, place) = self.holder(index);
        open_frame(
            &v.signed.path,
            &place,
            index,
            &v.signed.manifest.frames[index],
            bytes,
            into,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trip_and_bounds() {
        let f = VolumeFooter {
            number: 2,
            count: 3,
            first_frame: 4,
            frame_count: 5,
            manifest_offset: 1008,
            manifest_len: 200,
            manifest_sha256: [9; 32],
        };
        let bytes = f.encode();
        let len = 1008 + 200 + VOLUME_FOOTER_LEN;
        assert_eq!(VolumeFooter::decode(&bytes, len), Ok(f));
        assert_eq!(f.payload_len(), 1000);
        assert!(VolumeFooter::decode(&bytes, len + 1).is_err());
        let mut bad = bytes;
        bad[95] = 1;
        assert!(VolumeFooter::decode(&bad, len).is_err());
        let zero = VolumeFooter { number: 0, ..f };
        assert!(VolumeFooter::decode(&zero.encode(), len).is_err());
        let past = VolumeFooter { number: 4, ..f };
        assert!(VolumeFooter::decode(&past.encode(), len).is_err());
    }
}
