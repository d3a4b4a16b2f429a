//! Packing for constrained crossings (`docs/format.md` section 7): `pack --max-volume-size` cuts
//! the bundle it packs into volumes, and `pack --base` writes a delta against an older bundle.
//! Both pack exactly as a plain `pack` does, into a scratch file beside the output, and hand the
//! bundle they built (not a re-read copy) to the container writers.
use super::spec::Spec;
use super::{PackOptions, default_output_name, pack_to_scratch};
use crate::container::delta::{frames_to_carry, open_base, write_delta};
use crate::container::volume::{VolumeOut, split};
use crate::error::{Error, Result};
use crate::format::digest::hex;
use std::path::{Path, PathBuf};

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
        PathBuf::from(default_output_name(&spec.bundle.name, &spec.bundle.version))
    });
    let mut first = output.as_os_str().to_owned();
    first.push(".001");
    crate::pack::refuse_existing(Path::new(&first), opts.force)?;
    let (_scratch, packed, bundle) = pack_to_scratch(spec, opts, &output)?;
    let volumes = split(&bundle, &output, size)?;
    Ok(VolumesReport {
        name: bundle.signed.manifest.bundle.name.clone(),
        version: bundle.signed.manifest.bundle.version.clone(),
        manifest_sha256: hex(&bundle.signed.manifest_sha256),
        max_volume_size: size,
        bundle_bytes: bundle.len,
        files: bundle.signed.manifest.files.len(),
        frames: bundle.signed.manifest.frames.len(),
        volumes,
        created_from: packed.created_from,
    })
}

/// What `pack --base` produced.
#[derive(Debug, serde::Serialize)]
pub struct DeltaReport {
    /// The delta written.
    pub output: PathBuf,
    /// The base bundle.
    pub base: PathBuf,
    /// Base name, version and sequence.
    pub base_version: String,
    /// sha256 of the base's manifest, recorded in the delta.
    pub base_manifest_sha256: String,
    /// New name.
    pub name: String,
    /// New version.
    pub version: String,
    /// sha256 of the new manifest.
    pub manifest_sha256: String,
    /// Payload frames of the new bundle.
    pub frames: usize,
    /// Frames the delta carries.
    pub carried_frames: usize,
    /// Compressed bytes of those frames.
    pub carried_bytes: u64,
    /// Size of the delta file.
    pub delta_bytes: u64,
    /// Size of the full new bundle.
    pub bundle_bytes: u64,
    /// Where `created` came from.
    pub created_from: &'static str,
    /// A warning, when the delta saves nothing for a fixable reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Default delta file name: `NAME-VERSION.from-BASEVERSION.airlock-delta`.
pub(crate) fn default_delta_name(name: &str, version: &str, base_version: &str) -> String {
    format!("{name}-{version}.from-{base_version}.airlock-delta")
}

/// `airlock pack SPEC --base OLD`: packs the spec as usual into a temporary single-file bundle
/// beside the output (so its manifest and frames are exactly a full pack's), then writes the delta
/// against `base_path` and removes the temporary bundle.
pub fn pack_delta(spec: &Spec, opts: PackOptions, base_path: &Path) -> Result<DeltaReport> {
    let base = open_base(base_path).map_err(|e| match e {
        // The receive-side wording of `open_base` speaks of "the bundle the delta was made
        // against"; the packer is choosing that bundle.
        Error::Config { file, detail, .. } => Error::config(
            file,
            detail,
            "pass as --base the single-file bundle the receiving site already has (the previous release, NAME-VERSION.airlock.tar.zst); join its volumes first with `airlock join`",
        ),
        other => other,
    })?;
    let suite = crate::pack::resolve_suite(spec, &opts)?;
    let base_suite = base.signed.manifest.layout.suite;
    if suite != base_suite {
        return Err(Error::config(
            base_path,
            format!(
                "the base bundle is {}, this release {}: frames are matched by their {} digest, so a delta would carry every frame",
                base_suite.name(),
                suite.name(),
                suite.hash().name()
            ),
            "send the full bundle (pack without --base) for the first release in the new suite; later deltas can use it as their base",
        ));
    }
    let (old, new) = (&base.signed.manifest.bundle, &spec.bundle);
    if old.name != new.name {
        return Err(Error::config(
            base_path,
            format!(
                "--base is bundle `{}` {}, but the spec packs `{}`: a delta is made against an earlier release of the same bundle",
                old.name, old.version, new.name
            ),
            format!(
                "pass as --base the `{}` bundle the receiving site has installed (e.g. {}-OLDVERSION.airlock.tar.zst)",
                new.name, new.name
            ),
        ));
    }
    if old.sequence >= new.sequence {
        return Err(Error::config(
            base_path,
            format!(
                "--base is {} {} with sequence {}, not below the spec's sequence {}: the receiving site would refuse the new bundle as a rollback",
                old.name, old.version, old.sequence, new.sequence
            ),
            format!(
                "pass an older release of `{}` as --base, or raise [bundle] sequence in the spec above {}",
                new.name, old.sequence
            ),
        ));
    }
    let output = opts.output.clone().unwrap_or_else(|| {
        PathBuf::from(default_delta_name(
            &spec.bundle.name,
            &spec.bundle.version,
            &base.signed.manifest.bundle.version,
        ))
    });
    crate::pack::refuse_existing(&output, opts.force)?;
    let (_scratch, packed, new) = pack_to_scratch(spec, opts, &output)?;
    let delta_bytes = write_delta(&new, &base.signed, &output)?;
    let carried = frames_to_carry(&new.signed.manifest, &base.signed.manifest);
    let carried_bytes = carried
        .iter()
        .map(|&i| new.signed.manifest.frames[i].compressed_size)
        .sum();
    let note = (carried.len() == new.signed.manifest.frames.len()).then(|| {
        "no frame is shared with the base: every file of 1 MiB or more changed, and the small files' frames differ (content, neighbours or SOURCE_DATE_EPOCH)".to_string()
    });
    Ok(DeltaReport {
        output,
        base: base_path.to_path_buf(),
        base_version: format!(
            "{} {} (sequence {})",
            base.signed.manifest.bundle.name,
            base.signed.manifest.bundle.version,
            base.signed.manifest.bundle.sequence
        ),
        base_manifest_sha256: hex(&base.signed.manifest_sha256),
        name: new.signed.manifest.bundle.name.clone(),
        version: new.signed.manifest.bundle.version.clone(),
        manifest_sha256: hex(&new.signed.manifest_sha256),
        frames: new.signed.manifest.frames.len(),
        carried_frames: carried.len(),
        carried_bytes,
        delta_bytes,
        bundle_bytes: new.len,
        created_from: packed.created_from,
        note,
    })
}
