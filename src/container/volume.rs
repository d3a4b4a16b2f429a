//! Volumes (`docs/format.md` section 7.2): a bundle cut at frame boundaries into files
//! `NAME-VERSION.airlock.tar.zst.001`, `.002`, ... of at most a given size, each carrying a copy of
//! the signed manifest frame and a volume footer, so each volume verifies on its own and the set
//! joins back into the exact single-file bundle. Also the helpers volumes and deltas share:
//! telling containers apart by their footer, reading a manifest frame at a given place, and
//! mapping frames to the files they hold.
use crate::container::bundle::OpenedBundle;
use crate::container::payload::{open_frame, read_frames, verify_frame_digest};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{Digest, hex};
use crate::format::footer::{
    FOOTER_LEN, Footer, FooterReader, FooterWriter, check_manifest_len, skippable_header,
};
use crate::format::manifest::Manifest;
use crate::pack::PackOptions;
use crate::pack::spec::Spec;
use crate::receive::unpack::{UnpackOptions, UnpackReport};
use crate::receive::verify::FrameSource;
use crate::receive::verify::{
    CheckOutcome, VerifyOptions, VerifyReport, check_authenticity, report,
};
use crate::trust::trust_file::Trust;
use crate::util::output::AtomicOutput;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Length of the volume footer at the end of every volume.
pub const VOLUME_FOOTER_LEN: u64 = 96;
/// Tag of the volume footer.
pub const VOLUME_TAG: &[u8; 8] = b"AIRLVOL1";
/// Length of the skippable-frame header that wraps the manifest frame copy in all volumes but the last.
pub const WRAPPER_LEN: u64 = 8;
/// Most volumes one bundle may be cut into (three-digit suffixes).
pub const MAX_VOLUMES: u32 = 999;

/// What kind of airlock file a path holds, judged from its last bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Container {
    /// A single-file bundle (or anything without a volume or delta footer: `crate::container::bundle::open` judges it).
    Bundle,
    /// One volume of a split bundle.
    Volume,
    /// A delta bundle.
    Delta,
}

/// Reads the tail of `path` and says which footer it ends with. Anything unrecognised is reported
/// as [`Container::Bundle`], so that the bundle reader's precise error messages apply.
pub fn sniff(path: &Path) -> Result<Container> {
    if path.as_os_str() == "-" {
        return Ok(Container::Bundle);
    }
    let file = crate::util::fs::open_input(path, "bundle")?;
    let len = file.metadata().ctx("read", path)?.len();
    let tag_at = |footer_len: u64, content: u32| -> Result<Option<[u8; 8]>> {
        if len < footer_len {
            return Ok(None);
        }
        let mut head = [0u8; 16];
        file.read_exact_at(&mut head, len - footer_len)
            .ctx("read", path)?;
        Ok((head[0..8] == skippable_header(content))
            .then(|| head[8..16].try_into().expect("8 bytes")))
    };
    if tag_at(FOOTER_LEN, 32)?.is_some_and(|t| &t == b"AIRLOCK1") {
        return Ok(Container::Bundle);
    }
    if tag_at(VOLUME_FOOTER_LEN, (VOLUME_FOOTER_LEN - 8) as u32)?.is_some_and(|t| &t == VOLUME_TAG)
    {
        return Ok(Container::Volume);
    }
    let delta_len = crate::container::delta::DELTA_FOOTER_LEN;
    if tag_at(delta_len, (delta_len - 8) as u32)?
        .is_some_and(|t| &t == crate::container::delta::DELTA_TAG)
    {
        return Ok(Container::Delta);
    }
    Ok(Container::Bundle)
}

/// Opens any airlock file far enough to read its signed manifest: a bundle, a volume or a delta.
/// For `inspect` and `diff`, which look at the manifest only.
pub fn open_any(path: &Path) -> Result<(Container, OpenedBundle)> {
    let kind = sniff(path)?;
    let bundle = match kind {
        Container::Bundle => crate::container::bundle::open(path)?,
        Container::Volume => open_volume(path)?.bundle,
        Container::Delta => crate::container::delta::open_delta(path)?.bundle,
    };
    Ok((kind, bundle))
}

/// Parses a size: plain bytes (`123456`), or a number (decimals allowed) with a suffix:
/// `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` are powers of 1024 (as in GNU `split -b`);
/// `KB`, `MB`, `GB`, `TB` are powers of 1000; `B` is bytes. Suffixes are case-insensitive.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size suffix `{other}` in `{text}`: use bytes, or K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 4GiB or 700MB"
            ));
        }
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let bad = || format!("`{text}` is not a size: use e.g. 4GiB, 700MB, 4.7GB or 1048576");
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !fraction.bytes().all(|c| c.is_ascii_digit())
        || fraction.len() > 9
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut value = whole.checked_mul(unit).ok_or_else(bad)?;
    if !fraction.is_empty() {
        let digits = fraction.len() as u32;
        let f: u128 = fraction.parse().map_err(|_| bad())?;
        let extra = f * unit as u128 / 10u128.pow(digits);
        value = value
            .checked_add(u64::try_from(extra).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    if value == 0 {
        return Err(format!("`{text}` is zero bytes"));
    }
    Ok(value)
}

/// A size as the shortest exact binary-suffixed text (`17MiB`), else plain bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, name) in [
        (1u64 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

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
    /// sha256 of the manifest (`airlock/manifest.toml`) the volume belongs to.
    pub manifest_sha256: Digest,
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
        self.first_frame as usize..(self.first_frame + self.frame_count) as usize
    }
}

/// A volume whose footer and manifest copy have been read and checked for form.
pub struct OpenedVolume {
    /// The manifest copy, as a bundle opened for trust checks. Its `path` and `file` are the
    /// volume's; its payload frames are NOT at the offsets the manifest gives.
    pub bundle: OpenedBundle,
    /// The volume footer.
    pub footer: VolumeFooter,
    /// The compressed manifest frame, byte for byte.
    pub manifest_frame: Vec<u8>,
}

impl OpenedVolume {
    /// "volume 2 of 3".
    pub fn label(&self) -> String {
        format!("volume {} of {}", self.footer.number, self.footer.count)
    }
}

/// Reads exactly `len` bytes at `offset` of `file` into a new buffer.
pub(crate) fn read_region(file: &File, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut buf =
        vec![0u8; usize::try_from(len).map_err(|_| Error::Environment("region too large".into()))?];
    file.read_exact_at(&mut buf, offset).ctx("read", path)?;
    Ok(buf)
}

/// Opens the file at `path`, refusing anything but a regular file. Returns it with its length.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64)> {
    let file = crate::util::fs::open_input(path, "bundle")?;
    let len = file.metadata().ctx("read", path)?.len();
    Ok((file, len))
}

/// Opens a volume: footer, wrapper, manifest copy, and the frame range against the manifest.
pub fn open_volume(path: &Path) -> Result<OpenedVolume> {
    let (file, len) = open_regular(path)?;
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
    let (bundle, compressed) = open_carried_manifest(
        path,
        file,
        len,
        footer.manifest_offset,
        footer.manifest_len,
        &footer.manifest_sha256,
        "volume",
    )?;
    let frames = &bundle.manifest.frames;
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
        bundle,
        footer,
        manifest_frame: compressed,
    })
}

/// The part of one file a range of frames holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSlice {
    /// Bundle path.
    pub path: String,
    /// File size.
    pub size: u64,
    /// First content byte held.
    pub from: u64,
    /// One past the last content byte held.
    pub to: u64,
    /// Whether the whole tar entry (header, content, padding) is held.
    pub whole: bool,
}

impl FileSlice {
    /// `path` or `path (bytes A..B of N)`.
    pub fn describe(&self) -> String {
        if self.whole {
            self.path.clone()
        } else {
            format!(
                "{} (bytes {}..{} of {})",
                self.path, self.from, self.to, self.size
            )
        }
    }
}

/// The files (or parts of files) held by frames `frames` of `m`.
pub fn files_in_frames(m: &Manifest, frames: std::ops::Range<usize>) -> Vec<FileSlice> {
    let spans = m.frame_spans();
    if frames.is_empty() || frames.end > spans.len() {
        return Vec::new();
    }
    let start = spans[frames.start].start;
    let last = spans[frames.end - 1];
    let end = last.start.saturating_add(last.len);
    let mut out = Vec::new();
    let mut offset = 0u64;
    for f in &m.files {
        let entry = crate::format::entry_len(f.size);
        let (a, b) = (offset, offset.saturating_add(entry));
        offset = b;
        if b <= start {
            continue;
        }
        if a >= end {
            break;
        }
        let content = a.saturating_add(crate::format::BLOCK);
        let clamp = |x: u64| x.saturating_sub(content).min(f.size);
        out.push(FileSlice {
            path: f.path.to_string(),
            size: f.size,
            from: clamp(start.max(a)),
            to: clamp(end.min(b)),
            whole: start <= a && end >= b,
        });
    }
    out
}

/// Names the files of `slices` in one line, shortening long lists.
pub fn describe_slices(slices: &[FileSlice]) -> String {
    const SHOW: usize = 4;
    let mut parts: Vec<String> = slices.iter().take(SHOW).map(FileSlice::describe).collect();
    if slices.len() > SHOW {
        parts.push(format!("and {} more", slices.len() - SHOW));
    }
    parts.join(", ")
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
pub fn volume_reserve(bundle: &OpenedBundle) -> u64 {
    let tar_len = bundle.frame.to_tar().len();
    zstd::zstd_safe::compress_bound(tar_len) as u64 + WRAPPER_LEN + VOLUME_FOOTER_LEN
}

/// The deterministic cut: volumes filled greedily with whole frames in order, each volume's frames
/// at most `size - reserve` bytes.
pub fn plan_volumes(m: &Manifest, reserve: u64, size: u64) -> Result<Vec<VolumePlan>> {
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
pub fn volume_name(base: &Path, number: u32) -> PathBuf {
    let mut name: OsString = base.as_os_str().to_owned();
    name.push(format!(".{number:03}"));
    PathBuf::from(name)
}

/// Reads the manifest frame a volume or delta carries at `offset..+len`, applies every manifest
/// frame check (`crate::container::bundle::open_embedded`), and requires the manifest sha256 its footer names.
/// Returns the opened manifest and the compressed frame's bytes.
pub(crate) fn open_carried_manifest(
    path: &Path,
    file: File,
    len: u64,
    offset: u64,
    manifest_len: u64,
    expected_sha256: &[u8; 32],
    container: &str,
) -> Result<(OpenedBundle, Vec<u8>)> {
    let compressed = read_region(&file, path, offset, manifest_len)?;
    let footer = Footer {
        manifest_offset: offset,
        manifest_len,
    };
    let bundle = crate::container::bundle::open_embedded(path, file, len, footer, &compressed)?;
    if bundle.manifest_sha256 != *expected_sha256 {
        return Err(Error::rejected(
            path,
            Check::Footer,
            format!(
                "the {container} footer names manifest sha256 {}, the manifest in the {container} is {}",
                hex(expected_sha256),
                hex(&bundle.manifest_sha256)
            ),
        ));
    }
    Ok((bundle, compressed))
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

/// What `pack --max-volume-size` produced.
#[derive(Debug, serde::Serialize)]
pub struct VolumesReport {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// sha256 of the manifest.
    pub manifest_sha256: String,
    /// The size limit.
    pub max_volume_size: u64,
    /// Size of the single-file bundle `join` rebuilds.
    pub bundle_bytes: u64,
    /// Files packed.
    pub files: usize,
    /// Payload frames.
    pub frames: usize,
    /// The volumes, in order.
    pub volumes: Vec<VolumeOut>,
    /// Where `created` came from.
    pub created_from: &'static str,
}

/// Packs `spec` as usual into a temporary single-file bundle beside the output, then cuts it into
/// volumes of at most `size` bytes named `OUTPUT.001`, `.002`, ... (OUTPUT defaults to
/// `NAME-VERSION.airlock.tar.zst`).
pub fn pack_volumes(spec: &Spec, opts: PackOptions, size: u64) -> Result<VolumesReport> {
    let output = opts.output.clone().unwrap_or_else(|| {
        PathBuf::from(crate::pack::default_output_name(
            &spec.bundle.name,
            &spec.bundle.version,
        ))
    });
    let (_scratch, packed, bundle) = crate::pack::pack_to_scratch(spec, opts, &output)?;
    let volumes = split(&bundle, &output, size)?;
    Ok(VolumesReport {
        name: bundle.manifest.bundle.name.clone(),
        version: bundle.manifest.bundle.version.clone(),
        manifest_sha256: hex(&bundle.manifest_sha256),
        max_volume_size: size,
        bundle_bytes: bundle.len,
        files: bundle.manifest.files.len(),
        frames: bundle.manifest.frames.len(),
        volumes,
        created_from: packed.created_from,
    })
}

/// Cuts the (trusted, just written) bundle into volumes `OUTPUT.001`, ...; copies frames with
/// `copy_file_range` where the kernel offers it. All volumes are written to temporary files first,
/// then renamed into place.
pub fn split(bundle: &OpenedBundle, output: &Path, size: u64) -> Result<Vec<VolumeOut>> {
    let m = &bundle.manifest;
    let reserve = volume_reserve(bundle);
    let plans = plan_volumes(m, reserve, size)?;
    let count = plans.len() as u32;
    let manifest_frame = read_region(
        &bundle.file,
        &bundle.path,
        bundle.footer.manifest_offset,
        bundle.footer.manifest_len,
    )?;
    let mut written = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let number = i as u32 + 1;
        let temp = AtomicOutput::create(&volume_name(output, number))?;
        let temp_path = temp.temp_path().to_path_buf();
        let mut dest = temp.handle()?;
        let mut source = bundle.file.try_clone().ctx("open", &bundle.path)?;
        source
            .seek(SeekFrom::Start(m.frames[plan.first_frame].offset))
            .ctx("seek in", &bundle.path)?;
        let copied = std::io::copy(&mut source.take(plan.payload_bytes), &mut dest)
            .ctx("write", &temp_path)?;
        if copied != plan.payload_bytes {
            return Err(Error::io(
                "read",
                &bundle.path,
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        let mut w = BufWriter::new(dest);
        let last = number == count;
        if !last {
            w.write_all(&skippable_header(manifest_frame.len() as u32))
                .ctx("write", &temp_path)?;
        }
        let manifest_offset = plan.payload_bytes + if last { 0 } else { WRAPPER_LEN };
        w.write_all(&manifest_frame).ctx("write", &temp_path)?;
        let footer = VolumeFooter {
            number,
            count,
            first_frame: plan.first_frame as u64,
            frame_count: plan.frame_count as u64,
            manifest_offset,
            manifest_len: manifest_frame.len() as u64,
            manifest_sha256: bundle.manifest_sha256,
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

/// Where a volume sits in its set and what it holds.
#[derive(Debug, serde::Serialize)]
pub struct VolumeInfo {
    /// Its number.
    pub number: u32,
    /// How many volumes the bundle has.
    pub count: u32,
    /// First frame held (index in the manifest).
    pub first_frame: usize,
    /// Frames held and checked.
    pub frames: usize,
    /// Frames in the whole bundle.
    pub total_frames: usize,
    /// The files (or parts) this volume holds.
    pub holds: Vec<FileSlice>,
}

/// What `verify VOLUME` established: the usual verify report (its `bundle` is the volume file,
/// its `frames` the frames this volume holds), plus where the volume sits and what it holds.
#[derive(Debug, serde::Serialize)]
pub struct VolumeVerifyReport {
    /// As for a bundle.
    #[serde(flatten)]
    pub verify: VerifyReport,
    /// The volume.
    pub volume: VolumeInfo,
}

/// Verifies one volume on its own: the signed manifest copy against the trust file (everything
/// `verify` decides from the manifest frame: signatures, thresholds, target, expiry, rollback,
/// policy), then its frames against that manifest.
pub fn verify_volume(
    vol: &OpenedVolume,
    trust: &Trust,
    opts: &VerifyOptions,
) -> Result<VolumeVerifyReport> {
    let mut auth = check_authenticity(&vol.bundle, trust, opts.now, opts.state.as_ref())?;
    let m = &vol.bundle.manifest;
    let range = vol.footer.frames();
    crate::receive::verify::check_frames(
        &vol.bundle.path,
        &vol.bundle.file,
        &m.frames,
        &range.clone().collect::<Vec<_>>(),
        &format!("{} (re-transfer this volume only)", vol.label()),
        opts.deep,
        opts.threads,
    )?;
    auth.checks.push(CheckOutcome {
        check: Check::FrameDigest.name(),
        detail: format!(
            "{}: frames {}..{} ({} of {}) match the manifest{}",
            vol.label(),
            range.start,
            range.end - 1,
            range.len(),
            m.frames.len(),
            if opts.deep {
                " and decompress to their declared sizes"
            } else {
                ""
            }
        ),
    });
    let mut verify = report(&vol.bundle, auth, false);
    verify.frames = range.len();
    Ok(VolumeVerifyReport {
        verify,
        volume: VolumeInfo {
            number: vol.footer.number,
            count: vol.footer.count,
            first_frame: range.start,
            frames: range.len(),
            total_frames: m.frames.len(),
            holds: files_in_frames(m, range),
        },
    })
}

/// Human-readable rendering of a volume verification.
pub fn render_verify(r: &VolumeVerifyReport) -> String {
    let (v, info) = (&r.verify, &r.volume);
    let mut s = format!(
        "{}: verified volume {} of {} of {} {} (sequence {}) for {}\n",
        v.bundle, info.number, info.count, v.name, v.version, v.sequence, v.target
    );
    for c in &v.checks {
        s.push_str(&format!("  ok  {:<13} {}\n", c.check, c.detail));
    }
    for sig in &v.signers {
        s.push_str(&format!(
            "  signer {} as {}: {}\n",
            sig.key_id, sig.role, sig.status
        ));
    }
    let whole = info.holds.iter().filter(|f| f.whole).count();
    s.push_str(&format!(
        "  holds {} files whole and {} in part:\n",
        whole,
        info.holds.len() - whole
    ));
    s.push_str(&render_slices(&info.holds, "    "));
    s
}

/// Lists file slices: partial ones with their byte ranges; long runs of whole files shortened.
pub fn render_slices(slices: &[FileSlice], indent: &str) -> String {
    let mut s = String::new();
    let n = slices.len();
    for (i, f) in slices.iter().enumerate() {
        if n > 8 && (3..n - 3).contains(&i) {
            if i == 3 {
                s.push_str(&format!("{indent}... {} more files ...\n", n - 6));
            }
            continue;
        }
        s.push_str(&format!("{indent}{}\n", f.describe()));
    }
    s
}

/// Opens the volumes at `paths` and checks they form one complete set: same manifest (byte-identical
/// manifest frame), same cut, every number from 1 to the count exactly once. A single path whose
/// name ends in `.NNN` stands for its whole set: the siblings are found by number.
pub fn open_set(paths: &[PathBuf]) -> Result<Vec<OpenedVolume>> {
    if paths.is_empty() {
        return Err(Error::config(
            "VOLUMES",
            "no volumes given",
            "pass every volume, e.g. NAME-VERSION.airlock.tar.zst.0*",
        ));
    }
    let mut volumes = Vec::new();
    for path in paths {
        match sniff(path)? {
            Container::Volume => volumes.push(open_volume(path)?),
            Container::Bundle => {
                // Let the bundle reader explain what is wrong, if anything.
                crate::container::bundle::open(path)?;
                return Err(Error::config(
                    path,
                    "is a single-file bundle, not a volume",
                    "use the bundle as it is; join only takes the .001, .002, ... volumes of one bundle",
                ));
            }
            Container::Delta => {
                return Err(Error::config(
                    path,
                    "is a delta bundle, not a volume",
                    "rebuild it with `airlock patch OLD DELTA -o NEW`",
                ));
            }
        }
    }
    if volumes.len() == 1 && volumes[0].footer.count > 1 {
        let first = &volumes[0];
        let base = strip_number(&first.bundle.path, first.footer.number).ok_or_else(|| {
            Error::config(
                &first.bundle.path,
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
    let mut tally: BTreeMap<Digest, (usize, usize)> = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let e = tally.entry(v.bundle.manifest_sha256).or_insert((0, i));
        e.0 += 1;
    }
    let (reference, _) = tally
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
        .map(|(d, c)| (*d, *c))
        .expect("at least one volume");
    let describe = |v: &OpenedVolume| {
        let b = &v.bundle.manifest.bundle;
        format!(
            "{} {} (sequence {}, manifest sha256 {})",
            b.name,
            b.version,
            b.sequence,
            &hex(&v.bundle.manifest_sha256)[..16]
        )
    };
    let reference_vol = volumes
        .iter()
        .find(|v| v.bundle.manifest_sha256 == reference)
        .expect("reference exists");
    for v in &volumes {
        if v.bundle.manifest_sha256 != reference {
            return Err(Error::rejected(
                &v.bundle.path,
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
        if v.manifest_frame != reference_vol.manifest_frame {
            return Err(Error::rejected(
                &v.bundle.path,
                Check::ManifestFrame,
                format!(
                    "the volume carries the same manifest as {} but other signatures (was the bundle countersigned between splits?)",
                    reference_vol.bundle.path.display()
                ),
            ));
        }
        if v.footer.count != reference_vol.footer.count {
            return Err(Error::rejected(
                &v.bundle.path,
                Check::Footer,
                format!(
                    "{} comes from a different cut than {} ({}): the volumes were split with different sizes",
                    v.label(),
                    reference_vol.bundle.path.display(),
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
                &pair[1].bundle.path,
                Check::Footer,
                format!(
                    "duplicate volume: both {} and {} are {}",
                    pair[0].bundle.path.display(),
                    pair[1].bundle.path.display(),
                    pair[1].label()
                ),
            ));
        }
    }
    for n in 1..=count {
        if volumes.get(n as usize - 1).map(|v| v.footer.number) != Some(n) {
            let hint_base = strip_number(&volumes[0].bundle.path, volumes[0].footer.number);
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
                &v.bundle.path,
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
pub fn join_into(
    volumes: &[OpenedVolume],
    writer: &mut impl Write,
    out_path: &Path,
    threads: usize,
) -> Result<u64> {
    let m = &volumes[0].bundle.manifest;
    let source = VolumeFrames(volumes);
    crate::util::pipeline::run(
        threads,
        threads + 2,
        |emitter| source.read(&mut |i, bytes| emitter.emit((i, bytes))),
        |(i, bytes): (usize, Vec<u8>)| {
            source.check(i, &bytes)?;
            Ok(bytes)
        },
        |ordered| {
            let mut n = 0usize;
            for r in ordered {
                writer.write_all(&r?).ctx("write", out_path)?;
                n += 1;
            }
            if n != m.frames.len() {
                return Err(Error::Environment(format!(
                    "only {n} of {} frames were joined",
                    m.frames.len()
                )));
            }
            Ok(())
        },
    )?;
    let manifest_frame = &volumes[0].manifest_frame;
    let footer = Footer {
        manifest_offset: m.layout.payload_bytes,
        manifest_len: manifest_frame.len() as u64,
    };
    writer.write_all(manifest_frame).ctx("write", out_path)?;
    writer.write_all(&footer.encode()).ctx("write", out_path)?;
    writer.flush().ctx("write", out_path)?;
    Ok(m.layout.payload_bytes + manifest_frame.len() as u64 + FOOTER_LEN)
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
    let m = &volumes[0].bundle.manifest;
    let output = output.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(crate::pack::default_output_name(
            &m.bundle.name,
            &m.bundle.version,
        ))
    });
    if volumes.iter().any(|v| same_file(&v.bundle.path, &output)) {
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
        volumes: volumes.iter().map(|v| v.bundle.path.clone()).collect(),
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        manifest_sha256: hex(&volumes[0].bundle.manifest_sha256),
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
            .expect("a checked set holds every frame");
        (v, format!("{} (re-transfer this volume)", v.label()))
    }

    /// Checks frame `index`'s sha256, naming its volume if it is wrong.
    fn check(&self, index: usize, bytes: &[u8]) -> Result<()> {
        let (v, place) = self.holder(index);
        verify_frame_digest(
            &v.bundle.path,
            &place,
            index,
            &v.bundle.manifest.frames[index],
            bytes,
        )
    }
}

impl FrameSource for VolumeFrames<'_> {
    fn read(&self, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()> {
        let m = &self.0[0].bundle.manifest;
        let mut go_on = true;
        for v in self.0 {
            let path = &v.bundle.path;
            let reader = crate::receive::verify::rewound(&v.bundle.file, path)?;
            let reader = std::io::BufReader::with_capacity(1 << 20, reader);
            read_frames(path, reader, &m.frames, v.footer.frames(), |i, bytes| {
                go_on = emit(i, bytes);
                go_on
            })?;
            if !go_on {
                break;
            }
        }
        Ok(())
    }

    fn open(&self, index: usize, bytes: &[u8]) -> Result<Vec<u8>> {
        let (v, place) = self.holder(index);
        open_frame(
            &v.bundle.path,
            &place,
            index,
            &v.bundle.manifest.frames[index],
            bytes,
        )
    }
}

/// `airlock unpack VOLUMES...`: checks the set (complete, one bundle, one cut), then unpacks it
/// as usual, streaming the payload frames straight from the volumes: no joined copy is written.
pub fn unpack_volumes(
    paths: &[PathBuf],
    trust: &Trust,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport> {
    let volumes = open_set(paths)?;
    let first = &volumes[0].bundle;
    let mut report =
        crate::receive::unpack::unpack_from(first, &VolumeFrames(&volumes), trust, dest, opts)?;
    report.verify.bundle = format!(
        "{} (+{} more volumes)",
        first.path.display(),
        volumes.len() - 1
    );
    Ok(report)
}

/// Human-readable summary of `pack --max-volume-size`.
pub fn render_pack(r: &VolumesReport) -> String {
    let mut s = format!(
        "packed {} files in {} frames into {} volumes of at most {} bytes ({}); joined bundle {} bytes\nmanifest sha256:{}\n",
        r.files,
        r.frames,
        r.volumes.len(),
        r.max_volume_size,
        format_size(r.max_volume_size),
        r.bundle_bytes,
        r.manifest_sha256
    );
    for v in &r.volumes {
        let whole = v.files.iter().filter(|f| f.whole).count();
        s.push_str(&format!(
            "  {}  {} bytes, frames {}..{}, {} files whole, {} in part\n",
            v.path.display(),
            v.bytes,
            v.first_frame,
            v.first_frame + v.frames - 1,
            whole,
            v.files.len() - whole
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_documented_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("700MB"), Ok(700_000_000));
        assert_eq!(parse_size("700M"), Ok(700 << 20));
        assert_eq!(parse_size("700mib"), Ok(700 << 20));
        assert_eq!(parse_size("4.7GB"), Ok(4_700_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("12B"), Ok(12));
        assert!(parse_size("0").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("4 XB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.2.3G").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000TiB").is_err());
    }

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

    #[test]
    fn format_size_is_exact() {
        assert_eq!(format_size(17 << 20), "17MiB");
        assert_eq!(format_size(4 << 30), "4GiB");
        assert_eq!(format_size(1000), "1000");
    }
}
