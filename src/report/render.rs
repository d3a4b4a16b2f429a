//! Human renderings of every command's result (the `--json` rendering is the report itself,
//! serialised in the envelope the binary writes). One function per report type, so a report's
//! words live beside the others and plurals and layout agree everywhere.
use crate::container::delta::PatchReport;
use crate::container::volume::JoinReport;
use crate::format::manifest::FileSlice;
use crate::pack::PackReport;
use crate::pack::logistics::{DeltaReport, VolumesReport};
use crate::receive::unpack::UnpackReport;
use crate::receive::verify::VerifyReport;
use crate::util::size::format_size;
use std::fmt::Write as _;

pub use crate::util::text::count;

/// `count` for `usize` values.
pub fn count_of(n: usize, noun: &str) -> String {
    count(n, noun)
}

/// A plain pack.
pub fn pack(r: &PackReport) -> String {
    let mut s = format!(
        "packed {}, {} bytes, {} -> {} ({} bytes)\nmanifest sha256:{}\n",
        count_of(r.files, "file"),
        r.bytes,
        count_of(r.frames, "frame"),
        r.output.display(),
        r.bundle_bytes,
        r.manifest_sha256
    );
    s.push_str(&suite_note(r));
    for c in crate::pack::provenance::carried(&r.oms) {
        let _ = writeln!(s, "oms: {}", c.detail);
    }
    s.push_str(&clock_note(r.created_from));
    s
}

/// For a cnsa2 bundle: the suite, the SHA-384 the signatures bind, and who signed.
fn suite_note(r: &PackReport) -> String {
    match r.suite {
        crate::format::manifest::Suite::Classic => String::new(),
        suite => format!(
            "suite {}: signatures bind {}; signed {}\n",
            suite.name(),
            r.manifest_digest.prefixed(),
            r.signatures.join(", ")
        ),
    }
}

/// The note for a `created` time that came from the clock.
pub(crate) fn clock_note(created_from: &str) -> String {
    if created_from == "clock" {
        "note: `created` came from the clock; set SOURCE_DATE_EPOCH for a reproducible manifest\n"
            .into()
    } else {
        String::new()
    }
}

/// `pack --max-volume-size`.
pub fn volumes(r: &VolumesReport) -> String {
    let mut s = format!(
        "packed {} in {} into {} of at most {} bytes ({}); joined bundle {} bytes\nmanifest sha256:{}\n",
        count_of(r.files, "file"),
        count_of(r.frames, "frame"),
        count_of(r.volumes.len(), "volume"),
        r.max_volume_size,
        format_size(r.max_volume_size),
        r.bundle_bytes,
        r.manifest_sha256
    );
    for v in &r.volumes {
        let whole = v.files.iter().filter(|f| f.whole).count();
        let _ = writeln!(
            s,
            "  {}  {} bytes, frames {}..{}, {}, {} in part",
            v.path.display(),
            v.bytes,
            v.first_frame,
            v.first_frame + v.frames.saturating_sub(1),
            count_of(whole, "whole file"),
            v.files.len() - whole
        );
    }
    s.push_str(&clock_note(r.created_from));
    s
}

/// `pack --base`.
pub fn delta(r: &DeltaReport) -> String {
    let mut s = format!(
        "packed delta {} {} against {} -> {} ({} bytes, {:.3}% of the {}-byte full bundle)\n  carries {} of {} ({} bytes); the rest come from the base\n  base manifest sha256:{}\nmanifest sha256:{}\n",
        r.name,
        r.version,
        r.base_version,
        r.output.display(),
        r.delta_bytes,
        100.0 * r.delta_bytes as f64 / r.bundle_bytes.max(1) as f64,
        r.bundle_bytes,
        r.carried_frames,
        count_of(r.frames, "frame"),
        r.carried_bytes,
        r.base_manifest_sha256,
        r.manifest_sha256
    );
    if let Some(n) = &r.note {
        let _ = writeln!(s, "note: {n}");
    }
    s.push_str(&clock_note(r.created_from));
    s
}

/// `verify` of a bundle, a volume or a delta.
pub fn verify(v: &VerifyReport) -> String {
    let mut s = match (&v.volume, &v.delta) {
        (Some(info), _) => format!(
            "{}: verified volume {} of {} of {} {} (sequence {}) for {}\n",
            v.bundle, info.number, info.count, v.name, v.version, v.sequence, v.target
        ),
        (_, Some(_)) => format!(
            "{}: verified delta {} {} (sequence {}) for {}; install with `airlock unpack {} --base OLD` or `airlock patch OLD {} -o NEW`\n",
            v.bundle, v.name, v.version, v.sequence, v.target, v.bundle, v.bundle
        ),
        _ => format!(
            "{}: verified {} {} (sequence {}) for {}\n",
            v.bundle, v.name, v.version, v.sequence, v.target
        ),
    };
    for c in &v.checks {
        let _ = writeln!(s, "  ok  {:<13} {}", c.check, c.detail);
    }
    for sig in &v.signers {
        let _ = writeln!(
            s,
            "  signer {} ({}) as {}: {}",
            sig.key_id,
            sig.algorithm,
            sig.role,
            sig.status.describe()
        );
    }
    if let Some(info) = &v.volume {
        let whole = info.holds.iter().filter(|f| f.whole).count();
        let _ = writeln!(
            s,
            "  holds {} and {} in part:",
            count_of(whole, "whole file"),
            info.holds.len() - whole
        );
        s.push_str(&slices(&info.holds, "    "));
    }
    s
}

/// Lists file slices: partial ones with their byte ranges; long runs of whole files shortened.
pub(crate) fn slices(slices: &[FileSlice], indent: &str) -> String {
    let mut s = String::new();
    let n = slices.len();
    for (i, f) in slices.iter().enumerate() {
        if n > 8 && (3..n - 3).contains(&i) {
            if i == 3 {
                let _ = writeln!(s, "{indent}... {} more ...", count_of(n - 6, "file"));
            }
            continue;
        }
        let _ = writeln!(s, "{indent}{}", f.describe());
    }
    s
}

/// `unpack`: one line, and where the tree is.
pub fn unpack(r: &UnpackReport) -> String {
    let mut s = format!(
        "{}: {} {} -> {}: {} ({})\n",
        r.verify.bundle,
        r.verify.name,
        r.verify.version,
        r.dest,
        r.outcome.describe(),
        count_of(r.verify.files, "file")
    );
    if let Some(bom) = &r.bom {
        let _ = writeln!(s, "CycloneDX 1.6 ML-BOM of the installed tree -> {bom}");
    }
    s
}

/// `join`.
pub fn join(r: &JoinReport) -> String {
    format!(
        "joined {} of {} {} ({} checked) -> {} ({} bytes)\nmanifest sha256:{}\n",
        count_of(r.volumes.len(), "volume"),
        r.name,
        r.version,
        count_of(r.frames, "frame"),
        r.output.display(),
        r.bundle_bytes,
        r.manifest_sha256
    )
}

/// `patch`.
pub fn patch(r: &PatchReport) -> String {
    format!(
        "patched {} {}: {} from {}, {} from {} ({} checked) -> {} ({} bytes)\nmanifest sha256:{}\n",
        r.name,
        r.version,
        count_of(r.stats.from_base, "frame"),
        r.base.display(),
        count_of(r.stats.from_delta, "frame"),
        r.delta.display(),
        count(r.stats.base_unused_checked, "unused base frame"),
        r.output.display(),
        r.stats.bundle_bytes,
        r.manifest_sha256
    )
}
