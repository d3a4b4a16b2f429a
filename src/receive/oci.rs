//! The fleet side of OCI export (`docs/format.md` section 10): which policy and safeguard files
//! go with which model ([`governed_files`]), the artifact plans `export` writes ([`plans`]), and
//! `verify --oci-layout` / `unpack --oci-layout` on an inference host: the proof layer's signed
//! manifest is authenticated exactly as `verify` authenticates a bundle's, the artifact airlock
//! would export from it is derived, and the layout's artifact must be that artifact — every
//! layer exactly one of its files, with that size and digest, nothing missing or extra, the
//! config and manifest byte for byte — before any layer's content is hashed or installed.
use crate::container::oci::OpenedLayout;
use crate::container::{Container, SignedManifest};
use crate::error::{Check, Error, Result};
use crate::format::digest::{Digest, HashAlg, hex, sha256};
use crate::format::manifest::{Artifact, FileEntry, Kind, files_below};
use crate::format::oci::{
    self, ANNOTATION_ARTIFACT, ANNOTATION_MANIFEST_SHA256, ArtifactPlan, DerivedArtifact,
    Descriptor, LayerDigests, OciDigest, clean, derive_artifact, proof_descriptor,
};
use crate::receive::unpack::{
    Outcome, Placed, UnpackOptions, UnpackReport, extract, install_files,
};
use crate::receive::verify::{
    Accepted, CheckOutcome, VerifyOptions, VerifyReport, check_authenticity, report,
};
use crate::trust::{Authenticated, Trust};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a layout's artifact is, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OciInfo {
    /// The layout directory.
    pub layout: String,
    /// The `index.json` tag of the artifact read (or written, for `export`).
    pub tag: Option<String>,
    /// The model's name.
    pub model: String,
    /// Its artifact path in the bundle (`model/NAME`).
    pub artifact: String,
    /// The OCI manifest's digest (pin it: `docker://REGISTRY/REPO@DIGEST`).
    pub manifest_digest: String,
    /// The config's digest.
    pub config_digest: String,
    /// Layers, the proof included.
    pub layers: usize,
    /// Every file layer's `org.cncf.model.filepath`, in layer order.
    pub files: Vec<String>,
    /// Content bytes of the file layers.
    pub bytes: u64,
}

impl OciInfo {
    pub(crate) fn new(
        layout: String,
        tag: Option<String>,
        plan: &ArtifactPlan<'_>,
        d: &DerivedArtifact,
    ) -> OciInfo {
        OciInfo {
            layout,
            tag,
            model: plan.artifact.name.clone(),
            artifact: plan.artifact.path.to_string(),
            manifest_digest: d.descriptor.digest.to_string(),
            config_digest: d.image.config.digest.to_string(),
            layers: d.image.layers.len(),
            files: plan.files.iter().map(|f| f.filepath.to_string()).collect(),
            bytes: plan.files.iter().map(|f| f.entry.size).sum(),
        }
    }
}

/// The policy and safeguard files that go with `model` (`docs/format.md` 10.2): every policy
/// file (the policy governs every model of the bundle); and every file of each safeguard
/// artifact that some `[[required_safeguard]]` applying to this target and this model asks for
/// by kind — or, when no requirement applying to this target asks for any of its kinds for any
/// model of the bundle (or no policy is carried), every safeguard artifact. So no model leaves
/// the layout without the safeguards its policy requires, and no safeguard is dropped from the
/// fleet for want of a requirement naming it.
pub fn governed_files<'a>(auth: &Authenticated<'a>, model: &Artifact) -> Vec<&'a FileEntry> {
    let m = auth.manifest();
    let governed = auth.governed();
    let policy = governed.policy.as_ref().map(|p| &p.policy);
    let kinds_of = |a: &Artifact| -> BTreeSet<&'static str> {
        let prefix = format!("{}/", a.path);
        governed
            .safeguards
            .iter()
            .filter(|(path, _)| path.starts_with(&prefix))
            .map(|(_, s)| s.kind())
            .collect()
    };
    let requires = |model_name: &str, kinds: &BTreeSet<&str>| -> bool {
        policy.is_some_and(|p| {
            p.requirements.iter().any(|r| {
                (r.target == "*" || r.target == m.bundle.target)
                    && (r.model == "*" || r.model == model_name)
                    && kinds.contains(r.minimum.kind())
            })
        })
    };
    let mut out = Vec::new();
    for a in &m.artifacts {
        let goes = match a.kind {
            Kind::Policy => true,
            Kind::Safeguard => {
                let kinds = kinds_of(a);
                let claimed_by_any = m
                    .artifacts
                    .iter()
                    .filter(|x| x.kind == Kind::Model)
                    .any(|x| requires(&x.name, &kinds));
                requires(&model.name, &kinds) || !claimed_by_any
            }
            // A trust update changes a site's trust file; it is applied at the boundary
            // (`unpack --apply-trust`), not shipped to hosts with a model.
            Kind::Model | Kind::Data | Kind::Trust => false,
        };
        if goes {
            out.extend(files_below(&m.files, &a.path));
        }
    }
    out
}

/// The plan of every model artifact of an authenticated bundle, in manifest order.
pub fn plans<'a>(auth: &Authenticated<'a>) -> std::result::Result<Vec<ArtifactPlan<'a>>, String> {
    let m = auth.manifest();
    m.artifacts
        .iter()
        .filter(|a| a.kind == Kind::Model)
        .map(|a| ArtifactPlan::new(m, a, &governed_files(auth, a)))
        .collect()
}

/// The proof layer of a signed manifest: the manifest frame's tar, and its descriptor.
pub fn proof_layer(signed: &SignedManifest) -> (Vec<u8>, Descriptor) {
    let tar = signed.frame.to_tar();
    let desc = proof_descriptor(sha256(&tar), tar.len() as u64);
    (tar, desc)
}

/// Verifies the artifact `layout` selected: the proof's signed manifest as `verify` judges a
/// bundle's (signatures, thresholds, target, expiry, rollback, policy), then the artifact against
/// the one derived from it, then every file layer's content (hashed on `threads` workers).
pub fn verify_layout(
    layout: &OpenedLayout,
    trust: &Trust,
    opts: &VerifyOptions,
) -> Result<VerifyReport> {
    let mut accepted = check_authenticity(&layout.signed, trust, opts.now, opts.state.as_ref())?;
    let (plan, derived) = check_artifact(layout, &accepted)?;
    accepted.checks.push(artifact_check(&plan, &derived));
    check_layers(layout, &plan, opts.threads)?;
    accepted.checks.push(CheckOutcome {
        check: Check::FileDigest.name(),
        detail: format!(
            "{} file layers match their digests and the signed manifest's size and {}",
            plan.files.len(),
            layout.signed.manifest.layout.suite.hash().name()
        ),
    });
    Ok(layout_report(layout, accepted, &plan, &derived))
}

/// Installs the artifact `layout` selected into `dest`, with `unpack`'s atomicity: the checks of
/// [`verify_layout`] up to the derived artifact, then each layer copied into the staging
/// directory and hashed on the way (so what is installed is what was checked), the content gate,
/// one rename. `dest` receives the files at their `org.cncf.model.filepath`.
pub fn unpack_layout(
    layout: &OpenedLayout,
    trust: &Trust,
    dest: &std::path::Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport> {
    let mut accepted = check_authenticity(&layout.signed, trust, opts.now, opts.state.as_ref())?;
    let (plan, derived) = check_artifact(layout, &accepted)?;
    accepted.checks.push(artifact_check(&plan, &derived));
    let placed: Vec<Placed<'_>> = plan
        .files
        .iter()
        .map(|f| Placed {
            rel: f.filepath.clone(),
            entry: f.entry,
        })
        .collect();
    let mtime = layout.signed.manifest.bundle.mtime;
    let outcome: Outcome = install_files(
        &layout.signed,
        &mut accepted,
        dest,
        opts,
        &placed,
        &|staging| {
            extract(staging, mtime, |begin, end| {
                for (i, f) in plan.files.iter().enumerate() {
                    let mut written = begin(&f.filepath, f.entry.size)?;
                    // Layer i + 1: the comparison with the derived artifact put the proof first and
                    // the files in plan order.
                    check_layer(layout, i + 1, f.entry, &mut written)?;
                    end(f.entry.mode, written)?;
                }
                Ok(())
            })
        },
    )?;
    Ok(UnpackReport {
        verify: layout_report(layout, accepted, &plan, &derived),
        dest: dest.display().to_string(),
        outcome,
        bom: None,
        model_configs: Default::default(),
        trust_update: None,
        carries_trust_update: false,
    })
}

fn artifact_check(plan: &ArtifactPlan<'_>, derived: &DerivedArtifact) -> CheckOutcome {
    CheckOutcome {
        check: Check::OciArtifact.name(),
        detail: format!(
            "the artifact of model `{}` is the one airlock derives from the signed manifest: {} layers (the proof and {} files), config and manifest {}",
            plan.artifact.name,
            derived.image.layers.len(),
            plan.files.len(),
            derived.descriptor.digest
        ),
    }
}

fn layout_report(
    layout: &OpenedLayout,
    accepted: Accepted<'_>,
    plan: &ArtifactPlan<'_>,
    derived: &DerivedArtifact,
) -> VerifyReport {
    let dir = layout.dir.display().to_string();
    let mut r = report(&dir, Container::OciLayout, accepted, 0, true);
    r.files = plan.files.len();
    r.bytes = plan.files.iter().map(|f| f.entry.size).sum();
    r.oci = Some(OciInfo::new(dir, layout.tag.clone(), plan, derived));
    r
}

/// The artifact `layout` holds must be the one airlock derives from the authenticated manifest
/// its proof carries: refusals name the layer (position, digest, filepath).
fn check_artifact<'a>(
    layout: &OpenedLayout,
    accepted: &Accepted<'a>,
) -> Result<(ArtifactPlan<'a>, DerivedArtifact)> {
    let dir = &layout.dir;
    let reject = |detail: String| Error::rejected(dir, Check::OciArtifact, detail);
    let auth = &accepted.auth;
    let m = auth.manifest();
    let signed = auth.signed();
    let proof_hex = hex(&signed.manifest_sha256);
    let bundle = format!(
        "bundle {} {} (manifest sha256:{proof_hex})",
        m.bundle.name, m.bundle.version
    );
    let annotations = &layout.manifest.annotations;
    // A proof layer swapped in from another bundle is named as such, before anything else.
    match annotations.get(ANNOTATION_MANIFEST_SHA256) {
        Some(h) if *h == proof_hex => {}
        Some(h) => {
            return Err(reject(format!(
                "{} carries the signed manifest of {bundle}, but the artifact was exported from manifest sha256:{}: the manifest frame of another bundle",
                layout.layer_name(layout.proof),
                clean(h)
            )));
        }
        None => {
            return Err(reject(format!(
                "the manifest has no {ANNOTATION_MANIFEST_SHA256} annotation: it is not an artifact airlock exported"
            )));
        }
    }
    let named = annotations.get(ANNOTATION_ARTIFACT).ok_or_else(|| {
        reject(format!(
            "the manifest has no {ANNOTATION_ARTIFACT} annotation: it is not an artifact airlock exported"
        ))
    })?;
    let models: Vec<&'a Artifact> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == Kind::Model)
        .collect();
    let artifact = *models
        .iter()
        .find(|a| a.path.as_str() == named)
        .ok_or_else(|| {
            reject(format!(
                "the manifest says it exports `{}`, which is not a model artifact of {bundle}",
                clean(named)
            ))
        })?;
    // Tags are not signed, but a default tag (`NAME:VERSION`) of one model pointing at the
    // artifact of another is an index.json that was re-pointed.
    if let Some(tag) = &layout.tag
        && let Some(other) = models
            .iter()
            .find(|a| a.path != artifact.path && *tag == format!("{}:{}", a.name, m.bundle.version))
    {
        return Err(reject(format!(
            "the tag \"{}\" is the one airlock gives model `{}` of {bundle}, but it points at the artifact of model `{}` (manifest {}): index.json was re-pointed",
            clean(tag),
            other.name,
            artifact.name,
            layout.entry.digest
        )));
    }
    let plan = ArtifactPlan::new(m, artifact, &governed_files(auth, artifact)).map_err(reject)?;
    let (_, proof) = proof_layer(signed);
    let sha256s = claimed_sha256s(layout, &plan, &bundle)?;
    let derived =
        derive_artifact(m, &signed.manifest_sha256, &plan, proof, &sha256s).map_err(reject)?;
    compare_layers(layout, &plan, &derived, &bundle)?;
    if layout.config_bytes != derived.config {
        return Err(reject(format!(
            "config {} is not the config airlock derives from the signed manifest ({}): {}",
            layout.manifest.config.digest,
            derived.image.config.digest,
            oci::first_difference(&layout.config_bytes, &derived.config)
                .unwrap_or_else(|| "its bytes differ".into())
        )));
    }
    if layout.manifest_bytes != derived.manifest {
        return Err(reject(format!(
            "manifest {} is not the manifest airlock derives from the signed manifest ({}): {}",
            layout.entry.digest,
            derived.descriptor.digest,
            oci::first_difference(&layout.manifest_bytes, &derived.manifest)
                .unwrap_or_else(|| "its bytes differ".into())
        )));
    }
    Ok((plan, derived))
}

/// The sha256 of each file layer whose signed manifest digest is not a sha256 (a `cnsa2`
/// manifest records SHA-384): the layout's claim, taken from the layer with the file's filepath.
/// Unproven here; [`check_layer`] hashes each layer with both algorithms and refuses it unless
/// its sha256 is the claim and its SHA-384 the signed manifest's, so an artifact that passes is
/// the one derived from the signed content. A file with no layer at all is a dropped layer.
fn claimed_sha256s(
    layout: &OpenedLayout,
    plan: &ArtifactPlan<'_>,
    bundle: &str,
) -> Result<LayerDigests> {
    let mut out = LayerDigests::new();
    let mut layer_of: BTreeMap<&str, &Descriptor> = BTreeMap::new();
    for l in &layout.manifest.layers {
        if let Some(p) = l.filepath() {
            layer_of.entry(p).or_insert(l);
        }
    }
    for f in &plan.files {
        if OciDigest::from_digest(&f.entry.digest).is_some() {
            continue;
        }
        let Some(l) = layer_of.get(f.filepath.as_str()) else {
            return Err(Error::rejected(
                &layout.dir,
                Check::OciArtifact,
                format!(
                    "the signed manifest's `{}` (filepath \"{}\", {}, {} bytes) of {bundle} has no layer: a layer was dropped",
                    f.entry.path,
                    f.filepath,
                    f.entry.digest.prefixed(),
                    f.entry.size
                ),
            ));
        };
        out.insert(f.entry.digest, l.digest);
    }
    Ok(out)
}

/// Layer by layer against the derived artifact, naming the first that differs: added, dropped,
/// out of order, or one whose digest, size, media type or annotations are not the signed ones.
fn compare_layers(
    layout: &OpenedLayout,
    plan: &ArtifactPlan<'_>,
    derived: &DerivedArtifact,
    bundle: &str,
) -> Result<()> {
    let reject = |detail: String| Error::rejected(&layout.dir, Check::OciArtifact, detail);
    let found = &layout.manifest.layers;
    let want = &derived.image.layers;
    let paths = |layers: &[Descriptor]| -> BTreeMap<Option<String>, usize> {
        layers
            .iter()
            .enumerate()
            .map(|(i, l)| (l.filepath().map(str::to_string), i))
            .collect()
    };
    let (found_paths, want_paths) = (paths(found), paths(want));
    let model = &plan.artifact.name;
    // Which bundle file a derived layer is: the proof (0), then the plan's files in order.
    let source = |i: usize| -> String {
        match i.checked_sub(1).and_then(|j| plan.files.get(j)) {
            Some(f) => format!("`{}`", f.entry.path),
            None => "the manifest frame".to_string(),
        }
    };
    let added = |i: usize, f: &Descriptor| {
        reject(format!(
            "{} is not a file of model `{model}` in the signed manifest of {bundle}: a layer was added",
            f.describe_layer(i)
        ))
    };
    let dropped = |j: usize, w: &Descriptor| {
        reject(format!(
            "the signed manifest's {} (filepath \"{}\", {}, {} bytes) has no layer: a layer was dropped",
            source(j),
            w.filepath().unwrap_or(""),
            w.digest,
            w.size
        ))
    };
    for i in 0..found.len().max(want.len()) {
        match (found.get(i), want.get(i)) {
            (Some(f), Some(w)) if f == w => {}
            (Some(f), Some(w)) => {
                let (fp, wp) = (
                    f.filepath().map(str::to_string),
                    w.filepath().map(str::to_string),
                );
                if fp == wp {
                    let what = if f.digest != w.digest || f.size != w.size {
                        format!(
                            "the signed manifest's {} is {} ({} bytes): the layer was swapped for other content",
                            source(i),
                            w.digest,
                            w.size
                        )
                    } else if f.media_type != w.media_type {
                        format!(
                            "media type \"{}\", airlock writes {} for it",
                            clean(&f.media_type),
                            w.media_type
                        )
                    } else {
                        let key = f
                            .annotations
                            .keys()
                            .chain(w.annotations.keys())
                            .find(|k| f.annotations.get(*k) != w.annotations.get(*k))
                            .cloned()
                            .unwrap_or_default();
                        format!(
                            "annotation \"{}\" is {}, airlock writes {}",
                            clean(&key),
                            f.annotations
                                .get(&key)
                                .map_or("absent".into(), |v| format!("\"{}\"", clean(v))),
                            w.annotations
                                .get(&key)
                                .map_or("absent".into(), |v| format!("\"{}\"", clean(v)))
                        )
                    };
                    return Err(reject(format!("{}: {what}", f.describe_layer(i))));
                }
                if !want_paths.contains_key(&fp) {
                    return Err(added(i, f));
                }
                if !found_paths.contains_key(&wp) {
                    return Err(dropped(i, w));
                }
                return Err(reject(format!(
                    "{} is out of order: airlock writes the proof first, then the files sorted by filepath, so filepath \"{}\" belongs here",
                    f.describe_layer(i),
                    wp.as_deref().unwrap_or("")
                )));
            }
            (Some(f), None) => return Err(added(i, f)),
            (None, Some(w)) => return Err(dropped(i, w)),
            (None, None) => {}
        }
    }
    Ok(())
}

/// Hashes every file layer on `threads` workers (each with its own 1 MiB buffer), stopping at
/// the first refusal.
fn check_layers(layout: &OpenedLayout, plan: &ArtifactPlan<'_>, threads: usize) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.clamp(1, plan.files.len().max(1)))
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = plan.files.get(j) else {
                            return Ok(());
                        };
                        if failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        if let Err(e) = check_layer(layout, j + 1, f.entry, &mut io::sink()) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a hashing thread panicked".into())))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// One pass over a blob: its length, its sha256 (the OCI digest) and, when the signed manifest
/// records another digest (SHA-384 in `cnsa2`), that one too.
struct BlobHashes {
    size: u64,
    sha256: Digest,
    manifest: Option<Digest>,
}

/// Whether a blob is the manifest's file: its size and the digest the manifest records, in the
/// manifest's own algorithm.
fn matches_manifest_digest(entry: &FileEntry, blob: &BlobHashes) -> bool {
    blob.size == entry.size && blob.manifest.unwrap_or(blob.sha256) == entry.digest
}

/// Streams layer `index` once into `sink`: it must be exactly the bytes its descriptor names
/// (size, OCI digest) and the signed manifest's `entry` (size, digest in the bundle's suite).
fn check_layer(
    layout: &OpenedLayout,
    index: usize,
    entry: &FileEntry,
    sink: &mut dyn Write,
) -> Result<()> {
    let d = &layout.manifest.layers[index];
    let name = layout.layer_name(index);
    let blob = layout.open_blob(d, &name)?;
    let path = layout.dir.join("blobs/sha256").join(d.digest.hex());
    let also = (entry.digest.alg() != HashAlg::Sha256).then(|| entry.digest.alg());
    let hashes = copy_hashing(blob.take(d.size.saturating_add(1)), sink, &path, also)?;
    let oci = OciDigest::from_digest(&hashes.sha256);
    if hashes.size != d.size || oci != Some(d.digest) {
        return Err(Error::rejected(
            &layout.dir,
            Check::OciLayout,
            format!(
                "{name}: the blob holds {} bytes hashing to {}, not the content its digest names: it was swapped or damaged",
                hashes.size,
                hashes.sha256.prefixed()
            ),
        ));
    }
    if !matches_manifest_digest(entry, &hashes) {
        let got = hashes.manifest.unwrap_or(hashes.sha256);
        return Err(Error::rejected(
            &layout.dir,
            Check::FileDigest,
            format!(
                "{name}: `{}` has {} {} ({} bytes), the signed manifest says {} ({} bytes)",
                entry.path,
                got.alg().name(),
                got.hex(),
                hashes.size,
                entry.digest.hex(),
                entry.size
            ),
        ));
    }
    Ok(())
}

fn copy_hashing(
    mut from: impl Read,
    to: &mut dyn Write,
    path: &std::path::Path,
    also: Option<HashAlg>,
) -> Result<BlobHashes> {
    let mut buf = vec![0u8; crate::util::fs::CHUNK];
    let mut sha256 = HashAlg::Sha256.hasher();
    let mut other = also.map(HashAlg::hasher);
    let mut size = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        sha256.update(&buf[..n]);
        if let Some(h) = other.as_mut() {
            h.update(&buf[..n]);
        }
        size += n as u64;
        to.write_all(&buf[..n])
            .map_err(|e| crate::container::payload::unwrap_io(e, "write", path))?;
    }
    to.flush()
        .map_err(|e| crate::container::payload::unwrap_io(e, "write", path))?;
    Ok(BlobHashes {
        size,
        sha256: sha256.finish(),
        manifest: other.map(crate::format::digest::Hasher::finish),
    })
}
