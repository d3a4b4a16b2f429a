//! `airlock demo`: the whole job on the example release, as each side sees it — a throwaway
//! release key, pack (low side), inspect and verify (boundary), unpack (high side).
use crate::error::{IoContext, Result};
use crate::inspect::{render, sheet};
use crate::keys::{keygen, load_signing_key};
use crate::pack::{PackOptions, pack};
use crate::pipeline::default_threads;
use crate::reader::open;
use crate::spec::Spec;
use crate::timefmt::now_unix;
use crate::trust::Trust;
use crate::unpack::{UnpackOptions, unpack};
use crate::verify::{VerifyOptions, verify};
use std::io::Write;
use std::path::Path;

/// Runs the demo in `workdir`, writing a transcript to `out`.
pub fn run(spec_path: &Path, workdir: &Path, out: &mut impl Write) -> Result<()> {
    let w = |out: &mut dyn Write, text: String| {
        out.write_all(text.as_bytes())
            .ctx("write", Path::new("<stdout>"))
    };
    let spec = Spec::load(spec_path)?;
    w(
        out,
        format!(
            "== release engineer (low side): throwaway key, pack {}\n",
            spec_path.display()
        ),
    )?;
    let key = keygen(
        &workdir.join("release"),
        None,
        Some("airlock demo key"),
        true,
    )?;
    w(
        out,
        format!(
            "generated release key {} -> {}\n",
            key.id,
            key.public_path.display()
        ),
    )?;
    let signing = load_signing_key(&key.secret_path, None)?;
    let bundle_path = workdir.join(crate::pack::default_output_name(
        &spec.bundle.name,
        &spec.bundle.version,
    ));
    let now = now_unix();
    let report = pack(
        &spec,
        &PackOptions {
            key: signing,
            output: Some(bundle_path.clone()),
            threads: default_threads(),
            level: crate::format::DEFAULT_LEVEL,
            source_date_epoch: Some(
                std::env::var("SOURCE_DATE_EPOCH")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(now),
            ),
            now,
        },
    )?;
    w(
        out,
        format!(
            "packed {} files ({} bytes) into {} frames: {} ({} bytes)\n\n",
            report.files,
            report.bytes,
            report.frames,
            report.output.display(),
            report.bundle_bytes
        ),
    )?;

    let trust_path = workdir.join("trust.toml");
    let trust_text = format!(
        "site = \"{}\"\n\n[roles.release]\nthreshold = 1\nkeys = [\"{}\"]\n",
        spec.bundle.target, key.public_base64
    );
    std::fs::write(&trust_path, &trust_text).ctx("write", &trust_path)?;
    let trust = Trust::load(&trust_path)?;
    w(
        out,
        "== transfer officer (boundary): airlock inspect --trust trust.toml\n".into(),
    )?;
    let opened = open(&bundle_path)?;
    w(out, render(&sheet(&opened, Some(&trust), false)))?;
    w(out, "\n== transfer officer: airlock verify --deep\n".into())?;
    let v = verify(
        &opened,
        &trust,
        &VerifyOptions {
            now,
            deep: true,
            threads: default_threads(),
        },
    )?;
    for c in &v.checks {
        w(out, format!("  ok  {:<13} {}\n", c.check, c.detail))?;
    }
    w(
        out,
        "\n== install script (high side): airlock unpack --dest installed\n".into(),
    )?;
    let dest = workdir.join("installed");
    let u = unpack(
        &opened,
        &trust,
        &dest,
        &UnpackOptions {
            now,
            threads: default_threads(),
            replace: false,
        },
    )?;
    w(
        out,
        format!(
            "  {:?}: {} files into {}\n",
            u.outcome, u.verify.files, u.dest
        ),
    )?;
    let again = unpack(
        &opened,
        &trust,
        &dest,
        &UnpackOptions {
            now,
            threads: default_threads(),
            replace: false,
        },
    )?;
    w(
        out,
        format!("  second run: {:?} (idempotent)\n", again.outcome),
    )?;
    w(out, "\n== what the high side sees:\n".into())?;
    for entry in walkdir::WalkDir::new(&dest)
        .sort_by_file_name()
        .min_depth(1)
    {
        let entry = entry.map_err(|e| crate::Error::io("list", &dest, e.into()))?;
        if entry.file_type().is_file() {
            let meta = entry
                .metadata()
                .map_err(|e| crate::Error::io("read", entry.path(), e.into()))?;
            use std::os::unix::fs::PermissionsExt;
            w(
                out,
                format!(
                    "  {:o} {:>8}  {}\n",
                    meta.permissions().mode() & 0o7777,
                    meta.len(),
                    entry
                        .path()
                        .strip_prefix(&dest)
                        .unwrap_or(entry.path())
                        .display()
                ),
            )?;
        }
    }
    w(
        out,
        format!(
            "\nstock-tool check: tar --zstd -xf {} && sha256sum -c airlock/SHA256SUMS\n",
            bundle_path.display()
        ),
    )?;
    Ok(())
}
