//! `airlock demo`: the whole job on the example release, as each side sees it — the model
//! provider signs its policy, the release engineer packs (low side), the transfer officer inspects,
//! verifies and countersigns (boundary), the install script unpacks (high side), the enclave
//! exports an OCI layout for its registry and an inference host verifies and installs from it.
//! Every key is a throwaway made here; the example is copied so the repository is never written to.
use crate::container::open;
use crate::error::{Error, IoContext, Result};
use crate::format::signature::Role;
use crate::format::time::Timestamp;
use crate::pack::spec::Spec;
use crate::pack::{PackOptions, pack};
use crate::receive::unpack::{UnpackOptions, unpack};
use crate::receive::verify::{VerifyOptions, verify};
use crate::report::inspect::{render, sheet};
use crate::trust::keys::{GeneratedKey, Signer, keygen, load_signing_key};
use crate::trust::state::StateDir;
use crate::trust::trust_file::Trust;
use crate::util::pipeline::default_threads;
use crate::util::text::count;
use std::fs;
use std::io::Write;
use std::path::Path;

fn say(out: &mut dyn Write, text: String) -> Result<()> {
    out.write_all(text.as_bytes())
        .ctx("write", Path::new("<stdout>"))
}

/// Copies the tree `from` to `to`, leaving out `skip` (the work directory, when the user put it
/// inside the example directory: it would otherwise be copied into itself).
fn copy_tree(from: &Path, to: &Path, skip: &Path) -> Result<()> {
    let walk = walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| fs::canonicalize(e.path()).map_or(true, |p| p != skip));
    for entry in walk {
        let entry = entry.map_err(|e| Error::io("list", from, e.into()))?;
        let target = to.join(entry.path().strip_prefix(from).expect("below root"));
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).ctx("create", &target)?;
        } else {
            fs::copy(entry.path(), &target).ctx("copy to", &target)?;
        }
    }
    Ok(())
}

fn key(workdir: &Path, name: &str) -> Result<GeneratedKey> {
    keygen(
        &workdir.join(name),
        None,
        Some("airlock demo throwaway key"),
        true,
    )
}

/// Runs the demo in `workdir`, writing a transcript to `out`. `kept` says whether `workdir`
/// outlives the run (`--workdir`): only then does the transcript end with commands that use its
/// files.
pub fn run(spec_path: &Path, workdir: &Path, kept: bool, out: &mut impl Write) -> Result<()> {
    let out: &mut dyn Write = out;
    let example = match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let release_dir = workdir.join("release");
    let skip = fs::canonicalize(workdir).ctx("resolve", workdir)?;
    copy_tree(example, &release_dir, &skip)?;
    let spec_copy = release_dir.join(spec_path.file_name().unwrap_or_default());
    let now = Timestamp::now();

    say(
        out,
        "== model provider: sign the policy with a throwaway policy key\n".into(),
    )?;
    let policy_key = key(workdir, "policy")?;
    let policy_file = release_dir.join("policy/policy.toml");
    let sig = crate::pack::sign::sign_policy(
        &policy_file,
        &Signer::Minisign(load_signing_key(&policy_key.secret_path, None)?),
        now,
        None,
    )?;
    say(
        out,
        format!("policy key {}; wrote {}\n\n", policy_key.id, sig.display()),
    )?;

    let spec = Spec::load(&spec_copy)?;
    say(
        out,
        format!(
            "== release engineer (low side): pack {}\n",
            spec_path.display()
        ),
    )?;
    let release_key = key(workdir, "release")?;
    let bundle_path = workdir.join(crate::pack::default_output_name(
        &spec.bundle.name,
        &spec.bundle.version,
    ));
    let report = pack(
        &spec,
        &PackOptions {
            signers: vec![Signer::Minisign(load_signing_key(
                &release_key.secret_path,
                None,
            )?)],
            suite: None,
            output: Some(bundle_path.clone()),
            force: true,
            threads: default_threads(),
            level: crate::format::DEFAULT_LEVEL,
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.parse().ok()),
            now,
        },
    )?;
    say(
        out,
        format!(
            "release key {}; packed {} ({} bytes) into {}: {} ({} bytes)\n\n",
            release_key.id,
            count(report.files, "file"),
            report.bytes,
            count(report.frames, "frame"),
            report.output.display(),
            report.bundle_bytes
        ),
    )?;

    say(
        out,
        "== transfer officer (boundary): inspect, verify --deep, countersign\n".into(),
    )?;
    let officer_key = key(workdir, "officer")?;
    let trust_path = workdir.join("trust.toml");
    let trust_text = format!(
        "site = \"{}\"\n\n[roles.release]\nthreshold = 1\nkeys = [\"{}\"]\n\n[roles.policy]\nthreshold = 1\nkeys = [\"{}\"]\n\n[roles.transfer]\nthreshold = 1\nkeys = [\"{}\"]\n",
        spec.bundle.target,
        release_key.public_base64,
        policy_key.public_base64,
        officer_key.public_base64
    );
    fs::write(&trust_path, &trust_text).ctx("write", &trust_path)?;
    let trust = Trust::load(&trust_path)?;
    let opened = open(&bundle_path)?;
    say(out, render(&sheet(&opened, Some(&trust), false, now)?))?;
    let added = crate::pack::sign::countersign(
        &bundle_path,
        &[Signer::Minisign(load_signing_key(
            &officer_key.secret_path,
            None,
        )?)],
        Role::Transfer,
        now,
        None,
    )?;
    say(
        out,
        format!(
            "countersigned: added {} (key {})\n\n",
            added.signature, added.key_id
        ),
    )?;

    let opened = open(&bundle_path)?;
    let state = StateDir {
        path: workdir.join("state"),
    };
    let v = verify(
        &opened,
        &trust,
        &VerifyOptions {
            now,
            deep: true,
            threads: default_threads(),
            state: Some(state.clone()),
        },
    )?;
    say(
        out,
        "== install script (high side): verify --deep, then unpack --dest installed\n".into(),
    )?;
    for c in &v.checks {
        say(out, format!("  ok  {:<13} {}\n", c.check, c.detail))?;
    }
    let dest = workdir.join("installed");
    let opts = UnpackOptions {
        now,
        threads: default_threads(),
        replace: false,
        state: Some(state),
        apply_trust: None,
        model_configs: false,
    };
    let payload = crate::container::Payload::open(&bundle_path, &[], None)?;
    let u = unpack(&payload, &trust, &dest, &opts)?;
    say(
        out,
        format!(
            "  {}: {} into {}\n",
            u.outcome.describe(),
            count(u.verify.files, "file"),
            u.dest
        ),
    )?;
    let again = unpack(&payload, &trust, &dest, &opts)?;
    say(
        out,
        format!(
            "  second run: {} (idempotent)\n\n== what the high side sees:\n",
            again.outcome.describe()
        ),
    )?;
    for entry in walkdir::WalkDir::new(&dest)
        .sort_by_file_name()
        .min_depth(1)
    {
        let entry = entry.map_err(|e| Error::io("list", &dest, e.into()))?;
        if entry.file_type().is_file() {
            use std::os::unix::fs::PermissionsExt;
            let meta = entry
                .metadata()
                .map_err(|e| Error::io("read", entry.path(), e.into()))?;
            let rel = entry.path().strip_prefix(&dest).unwrap_or(entry.path());
            say(
                out,
                format!(
                    "  {:o} {:>8}  {}\n",
                    meta.permissions().mode() & 0o7777,
                    meta.len(),
                    rel.display()
                ),
            )?;
        }
    }
    // The fleet: the enclave exports what it ingested for its registry; each inference host
    // verifies and installs what it pulls. (The registry is the enclave's; here the host reads
    // the exported layout directly, which is byte for byte what `skopeo copy` pulls.)
    let layout = workdir.join("acme-oci");
    let exported = crate::receive::export::export(
        &payload,
        &trust,
        &layout,
        &crate::receive::export::ExportOptions {
            now,
            threads: default_threads(),
            state: Some(StateDir {
                path: workdir.join("state"),
            }),
            tag: None,
        },
    )?;
    say(
        out,
        "\n== enclave ingest: export --oci-layout (one ModelPack artifact per model)\n".into(),
    )?;
    for a in &exported.artifacts {
        say(
            out,
            format!(
                "  {}: {} files, manifest {}\n  push with: skopeo copy --preserve-digests oci:{}:{} docker://REGISTRY/{}\n",
                a.tag.as_deref().unwrap_or(""),
                a.files.len(),
                a.manifest_digest,
                layout.display(),
                a.tag.as_deref().unwrap_or(""),
                a.tag.as_deref().unwrap_or("")
            ),
        )?;
    }
    let host_state = StateDir {
        path: workdir.join("host-state"),
    };
    let pulled = crate::container::oci::open_layout(&layout, None)?;
    let checked = crate::receive::oci::verify_layout(
        &pulled,
        &trust,
        &VerifyOptions {
            now,
            deep: true,
            threads: default_threads(),
            state: Some(host_state.clone()),
        },
    )?;
    let host_dest = workdir.join("host-model");
    let host = crate::receive::oci::unpack_layout(
        &pulled,
        &trust,
        &host_dest,
        &UnpackOptions {
            now,
            threads: default_threads(),
            replace: false,
            state: Some(host_state),
            model_configs: false,
            apply_trust: None,
        },
    )?;
    say(
        out,
        format!(
            "== inference host: verify --oci-layout ({} checks passed), unpack --oci-layout: {} files into {}\n",
            checked.checks.len(),
            host.verify.files,
            host.dest
        ),
    )?;
    if kept {
        say(
            out,
            format!(
                "\nthe bundle and the installed tree are kept in {}; check the bundle with stock tools:\n  mkdir {x} && tar -C {x} --zstd -xf {} && (cd {x} && sha256sum -c airlock/SHA256SUMS)\n",
                workdir.display(),
                bundle_path.display(),
                x = workdir.join("stock").display(),
            ),
        )
    } else {
        say(
            out,
            "\nthe work directory is removed now; run `airlock demo --workdir DIR` to keep the bundle, the keys and the installed tree, and to get the stock-tools commands for them\n".into(),
        )
    }
}
