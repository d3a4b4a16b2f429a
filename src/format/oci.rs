//! OCI image layouts (image-spec v1.1.1, `imageLayoutVersion` 1.0.0) carrying CNCF ModelPack
//! artifacts (model-spec **v0.0.7**): the JSON documents airlock writes and the strict parsers it
//! reads them back with (`docs/format.md` section 10). Pure, like the rest of `format/`: the
//! reader and writer of a layout directory are `container::oci`, the choice of which files go
//! with which model is `receive::oci` (it needs the policy).
//!
//! Everything in an exported artifact is a function of the signed manifest frame and the signed
//! files' content ([`derive_artifact`]): the layers are the manifest's files (sizes from the
//! manifest; OCI digests from the manifest in the `classic` suite, or the sha256 of the content
//! whose SHA-384 the manifest records in `cnsa2`), the proof layer is the manifest frame's tar,
//! the config and the manifest are canonical JSON of those. So `export` is deterministic, and a
//! host checks what it pulled by deriving the same bytes from the manifest it has authenticated
//! and comparing.
//!
//! JSON: compact `serde_json`, struct fields in the order of Go's `specs-go` structs (what
//! skopeo, containers/image and oras-go write), maps sorted by key (as Go's `encoding/json`
//! sorts map keys), empty optional fields omitted, nothing after the closing brace. Strings
//! written are restricted (bundle paths, labels, media types, digests, RFC 3339 times), so Go's
//! escaping of `<`, `>`, `&` never differs from ours.
use crate::format::digest::{Digest, HashAlg, hex, parse_hex_sha256, sha256};
use crate::format::manifest::{Artifact, FileEntry, Kind, Manifest, check_file_set, files_below};
use crate::format::path::BundlePath;
use crate::format::time::Timestamp;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The model-spec tag these definitions follow (github.com/modelpack/model-spec, tag v0.0.7,
/// commit 6440437, 2025-07-21; the strings are unchanged on `main` as of 2026-06).
pub const MODELPACK_SPEC_VERSION: &str = "v0.0.7";

/// `mediaType` of an image manifest.
pub const MEDIA_TYPE_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `mediaType` of an image index (`index.json`).
pub const MEDIA_TYPE_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The one `imageLayoutVersion` defined (still 1.0.0 in image-spec 1.1.x).
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// The tag of an `index.json` entry (image-spec annotations.md; valid only there).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// RFC 3339 creation time (image-spec annotations.md): the bundle's `created`.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Human-readable title; ORAS clients name a pulled file after it.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// Manifest `artifactType` (model-spec spec.md: REQUIRED, MUST).
pub const ARTIFACT_TYPE_MODEL_MANIFEST: &str = "application/vnd.cncf.model.manifest.v1+json";
/// Config `mediaType` (model-spec spec.md: REQUIRED, MUST).
pub const MEDIA_TYPE_MODEL_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";
/// "an unarchived, uncompressed model weights file".
pub const MEDIA_TYPE_WEIGHT_RAW: &str = "application/vnd.cncf.model.weight.v1.raw";
/// "an unarchived, uncompressed config of the model weights like tokenizer.json, config.json".
pub const MEDIA_TYPE_WEIGHT_CONFIG_RAW: &str = "application/vnd.cncf.model.weight.config.v1.raw";
/// "an unarchived, uncompressed documentation file".
pub const MEDIA_TYPE_DOC_RAW: &str = "application/vnd.cncf.model.doc.v1.raw";
/// "a tar archive that includes documentation files": the proof layer's type (see
/// [`PROOF_FILEPATH`] for why a doc tar).
pub const MEDIA_TYPE_DOC_TAR: &str = "application/vnd.cncf.model.doc.v1.tar";
/// "an unarchived, uncompressed code artifact".
pub const MEDIA_TYPE_CODE_RAW: &str = "application/vnd.cncf.model.code.v1.raw";
/// "an unarchived, uncompressed dataset".
pub const MEDIA_TYPE_DATASET_RAW: &str = "application/vnd.cncf.model.dataset.v1.raw";

/// model-spec annotations.md: "the file path of the layer", relative to the model directory.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// model-spec annotations.md: the JSON text of a [`FileMetadata`].
pub const ANNOTATION_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// model-spec annotations.md: `"true"` if the media type was guessed, not verified.
pub const ANNOTATION_MEDIA_TYPE_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";

/// airlock's own annotations. The prefix is reverse-DNS as image-spec asks; airlock has no
/// domain of its own, so it uses the GitHub-style namespace `io.github.airlock` (documented in
/// `docs/format.md` 10.4; a format constant, never to be renamed).
pub const AIRLOCK_PREFIX: &str = "io.github.airlock.";
/// On the proof layer, value [`MANIFEST_FRAME_VERSION`]: this layer is airlock's signed
/// manifest frame. It is how readers find the proof whatever else the layer list holds.
pub const ANNOTATION_MANIFEST_FRAME: &str = "io.github.airlock.manifest-frame";
/// Value of [`ANNOTATION_MANIFEST_FRAME`]: the manifest frame's format (`docs/format.md` 1.2).
pub const MANIFEST_FRAME_VERSION: &str = "v1";
/// On the manifest: the bundle path of the model artifact it exports (`model/NAME`).
pub const ANNOTATION_ARTIFACT: &str = "io.github.airlock.artifact";
/// On the manifest: the sha256 (hex) of the signed `airlock/manifest.toml` it was exported from.
pub const ANNOTATION_MANIFEST_SHA256: &str = "io.github.airlock.manifest-sha256";

/// `org.cncf.model.filepath` of the proof layer: a ModelPack client extracts its tar entries,
/// `airlock/manifest.toml`, ..., into the model directory. It is a doc tar rather than a type of
/// airlock's own because modelpack-client refuses any layer type outside ModelPack's list and
/// modctl extracts only types ending `.raw` or `.tar` (`docs/format.md` 10.5).
pub const PROOF_FILEPATH: &str = "airlock";
/// `org.opencontainers.image.title` of the proof layer.
pub const PROOF_TITLE: &str = "airlock.manifest-frame.tar";

/// Cap on each JSON document read or written (`index.json`, a manifest, a config): 4 MiB, the
/// manifest size the OCI distribution spec says registries SHOULD accept.
pub const MAX_JSON_BYTES: u64 = 4 << 20;
/// Cap on the layers of one manifest and on the entries of `index.json`.
pub const MAX_LAYERS: usize = 4096;
/// Cap on the proof layer: the manifest frame's cap, which bounds its decompressed tar.
pub const MAX_PROOF_BYTES: u64 = crate::format::MANIFEST_FRAME_CAP;

/// An OCI digest: always `sha256:` and 64 lowercase hex digits. Blobs are named by it
/// (`blobs/sha256/HEX`), so a parsed value can only ever name a file in that one directory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OciDigest(pub [u8; 32]);

impl OciDigest {
    /// Parses `sha256:HEX`. Other algorithms (image-spec also registers sha512) and upper-case
    /// hex are refused: one spelling per blob.
    pub fn parse(text: &str) -> Result<OciDigest, &'static str> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or("not `sha256:` followed by hex (the only algorithm accepted)")?;
        parse_hex_sha256(hex)
            .map(OciDigest)
            .ok_or("not 64 lowercase hex digits after `sha256:`")
    }

    /// Parses a blob's file name: 64 lowercase hex digits.
    pub fn parse_hex(name: &str) -> Option<OciDigest> {
        parse_hex_sha256(name).map(OciDigest)
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> OciDigest {
        OciDigest(sha256(bytes))
    }

    /// The 64 hex digits: the blob's file name under `blobs/sha256/`.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for OciDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex(&self.0))
    }
}

impl fmt::Debug for OciDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for OciDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl OciDigest {
    /// The OCI digest equal to `digest`, if it is a SHA-256.
    pub fn from_digest(digest: &Digest) -> Option<OciDigest> {
        match digest.alg() {
            HashAlg::Sha256 => digest.as_bytes().try_into().ok().map(OciDigest),
            HashAlg::Sha384 => None,
        }
    }
}

/// The sha256 (OCI digest) of each exported file whose signed manifest digest is not a SHA-256,
/// keyed by that digest: the layers of a `cnsa2` bundle, whose manifest records SHA-384. The
/// exporter fills it while it copies each file (after the file matched its SHA-384); the host
/// takes it from the layout and proves each entry when it hashes the layer (both hashes in one
/// pass). Empty for a `classic` bundle, whose manifest's sha256 is the blob's OCI digest.
pub type LayerDigests = BTreeMap<Digest, OciDigest>;

/// The OCI digest of a manifest file's layer: the manifest's own digest when it is a sha256
/// (`classic`), otherwise the sha256 recorded for it in `sha256s` (`docs/format.md` 10.7).
pub fn layer_digest(entry: &FileEntry, sha256s: &LayerDigests) -> Result<OciDigest, String> {
    OciDigest::from_digest(&entry.digest)
        .or_else(|| sha256s.get(&entry.digest).copied())
        .ok_or_else(|| {
            format!(
                "`{}` ({}): its layer's sha256 is not known",
                entry.path,
                entry.digest.prefixed()
            )
        })
}

/// An OCI content descriptor, fields in Go's order (`mediaType, digest, size, annotations`).
/// `urls`, `data`, `platform` and `artifactType` are never written and refused on read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Content digest.
    pub digest: OciDigest,
    /// Content length.
    pub size: u64,
    /// Annotations, sorted by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The `org.cncf.model.filepath` annotation, if any.
    pub fn filepath(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_FILEPATH)
            .map(String::as_str)
    }

    /// Whether this is airlock's proof layer: the marker annotation with this version.
    pub fn is_proof(&self) -> bool {
        self.annotations
            .get(ANNOTATION_MANIFEST_FRAME)
            .map(String::as_str)
            == Some(MANIFEST_FRAME_VERSION)
    }

    /// How messages name the descriptor at `index` of a manifest's layers: position, digest and
    /// filepath, the strings made safe to print.
    pub fn describe_layer(&self, index: usize) -> String {
        match self.filepath() {
            Some(p) => format!("layer {index} {} (filepath \"{}\")", self.digest, clean(p)),
            None => format!("layer {index} {} (no filepath annotation)", self.digest),
        }
    }
}

/// An image manifest, fields in Go's order (`subject` is never written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Always [`MEDIA_TYPE_IMAGE_MANIFEST`] when written; a parsed manifest must carry it.
    pub media_type: String,
    /// [`ARTIFACT_TYPE_MODEL_MANIFEST`] for airlock's artifacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layers, in order.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations, sorted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageIndex<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: &'a [Descriptor],
}

/// The bytes of `oci-layout`.
pub fn oci_layout_json() -> Vec<u8> {
    format!("{{\"imageLayoutVersion\":\"{IMAGE_LAYOUT_VERSION}\"}}").into_bytes()
}

/// The bytes of `index.json`: one entry per (tag, manifest descriptor), sorted bytewise by tag,
/// each with only the ref-name annotation. Tags must be valid and distinct.
pub fn index_json(entries: &[(String, Descriptor)]) -> Result<Vec<u8>, String> {
    let mut sorted: Vec<&(String, Descriptor)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut manifests = Vec::with_capacity(sorted.len());
    for pair in sorted.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!(
                "two artifacts would both be tagged `{}`",
                pair[0].0
            ));
        }
    }
    for (tag, desc) in sorted {
        check_ref_name(tag)?;
        let mut d = desc.clone();
        d.annotations = BTreeMap::from([(ANNOTATION_REF_NAME.to_string(), tag.clone())]);
        manifests.push(d);
    }
    canonical_json(
        &ImageIndex {
            schema_version: 2,
            media_type: MEDIA_TYPE_IMAGE_INDEX,
            manifests: &manifests,
        },
        "index.json",
    )
}

/// Compact JSON of `value`, refused over [`MAX_JSON_BYTES`] (a reader would refuse it).
pub fn canonical_json<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, String> {
    let bytes = serde_json::to_vec(value).map_err(|e| format!("{what}: {e}"))?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        return Err(format!(
            "{what} would be {} bytes, over the {MAX_JSON_BYTES}-byte cap of an OCI document",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Checks a tag against image-spec's `org.opencontainers.image.ref.name` grammar
/// (`component ("/" component)*`, `component ::= alphanum (separator alphanum)*`,
/// `separator ::= [-._:@+] | "--"`), at most 255 bytes (the spec sets no bound).
pub fn check_ref_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "tag `{}` is not a valid OCI ref name: {why}",
            clean(name)
        ))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    for component in name.split('/') {
        let b = component.as_bytes();
        let mut i = 0;
        loop {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i == start {
                return bad(
                    "each `/`-separated part must start and end with a letter or digit, with single separators (or `--`) between",
                );
            }
            if i == b.len() {
                break;
            }
            if b[i] == b'-' && b.get(i + 1) == Some(&b'-') {
                i += 2;
            } else if b"-._:@+".contains(&b[i]) {
                i += 1;
            } else {
                return bad("only letters, digits and the separators - . _ : @ + are allowed");
            }
        }
    }
    Ok(())
}

/// A string from a layout, made safe for messages: control characters escaped, at most 200
/// characters.
pub fn clean(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(200) {
        // Quotes and backslashes are printable: only what could move a terminal's cursor or hide
        // text (control and other non-printable characters) is escaped.
        if matches!(c, '"' | '\'' | '\\') {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ModelPack config and file metadata.

/// The config document, Go's field order `descriptor, modelfs, config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelPackConfig {
    /// `descriptor`.
    pub descriptor: ModelDescriptor,
    /// `modelfs`.
    pub modelfs: ModelFs,
    /// `config` (always present, possibly `{}`).
    pub config: ModelConfig,
}

/// `descriptor`: the fields airlock fills, in Go's order (`createdAt, ..., name, ..., version`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelDescriptor {
    /// The bundle's `created`, RFC 3339.
    pub created_at: String,
    /// The model artifact's name.
    pub name: String,
    /// The bundle's version.
    pub version: String,
}

/// `modelfs`: `type` is `"layers"`, `diffIds` one per layer in layer order (every airlock layer
/// is uncompressed, so each DiffID is the layer's digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelFs {
    /// `"layers"`.
    #[serde(rename = "type")]
    pub fs_type: &'static str,
    /// One per layer.
    #[serde(rename = "diffIds")]
    pub diff_ids: Vec<OciDigest>,
}

/// `config`: only `format`, and only when every weight file agrees on one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelConfig {
    /// `safetensors`, `gguf`, `onnx` or `pt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
}

/// `org.cncf.model.file.metadata+json` (model-spec annotations.md, Go's `FileMetadata`, keys in
/// `json.Marshal` order). `typeflag` is a JSON number: `0` for a regular file, as modctl writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileMetadata {
    /// Base name.
    pub name: String,
    /// Permission bits as a decimal number (0644 is 420).
    pub mode: u32,
    /// Always 0.
    pub uid: u32,
    /// Always 0.
    pub gid: u32,
    /// Content length.
    pub size: u64,
    /// The bundle's tar-entry mtime, RFC 3339.
    pub mtime: String,
    /// Always 0 (regular file).
    pub typeflag: u8,
}

/// The five layer kinds of ModelPack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// Weights.
    Weight,
    /// Weight configs (tokenizer, config.json).
    WeightConfig,
    /// Documentation.
    Doc,
    /// Code.
    Code,
    /// Datasets.
    Dataset,
}

impl LayerKind {
    /// The `.raw` media type of this kind: every airlock file layer is one file, uncompressed
    /// (spec.md's implementers' note: package weights without compression).
    pub fn raw_media_type(self) -> &'static str {
        match self {
            LayerKind::Weight => MEDIA_TYPE_WEIGHT_RAW,
            LayerKind::WeightConfig => MEDIA_TYPE_WEIGHT_CONFIG_RAW,
            LayerKind::Doc => MEDIA_TYPE_DOC_RAW,
            LayerKind::Code => MEDIA_TYPE_CODE_RAW,
            LayerKind::Dataset => MEDIA_TYPE_DATASET_RAW,
        }
    }
}

enum Rule {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

use LayerKind::{Code, Dataset, Doc, Weight, WeightConfig};
use Rule::{Exact, Prefix, Suffix};

/// The classifier, on the lower-cased base name, first match wins (`docs/format.md` 10.3). It
/// follows modctl's `pkg/modelfile/constants.go` (config patterns before weight patterns, so
/// `tokenizer.model` is config while `*.model` is a weight); datasets get the dataset kind.
const RULES: &[(Rule, LayerKind)] = &[
    (Exact("config.json"), WeightConfig),
    (Exact("generation_config.json"), WeightConfig),
    (Prefix("tokenizer"), WeightConfig),
    (Exact("special_tokens_map.json"), WeightConfig),
    (Exact("added_tokens.json"), WeightConfig),
    (Exact("preprocessor_config.json"), WeightConfig),
    (Prefix("vocab."), WeightConfig),
    (Exact("merges.txt"), WeightConfig),
    (Exact("added_tokens.txt"), WeightConfig),
    (Exact("spiece.model"), WeightConfig),
    (Prefix("sentencepiece"), WeightConfig),
    (Exact("chat_template.jinja"), WeightConfig),
    (Suffix(".tiktoken"), WeightConfig),
    (Suffix(".safetensors"), Weight),
    (Suffix(".gguf"), Weight),
    (Suffix(".bin"), Weight),
    (Suffix(".pt"), Weight),
    (Suffix(".pth"), Weight),
    (Suffix(".pt2"), Weight),
    (Suffix(".onnx"), Weight),
    (Suffix(".onnx_data"), Weight),
    (Suffix(".ckpt"), Weight),
    (Suffix(".h5"), Weight),
    (Suffix(".hdf5"), Weight),
    (Suffix(".keras"), Weight),
    (Suffix(".tflite"), Weight),
    (Suffix(".pb"), Weight),
    (Suffix(".msgpack"), Weight),
    (Suffix(".pkl"), Weight),
    (Suffix(".pickle"), Weight),
    (Suffix(".npy"), Weight),
    (Suffix(".npz"), Weight),
    (Suffix(".ggml"), Weight),
    (Suffix(".model"), Weight),
    (Suffix(".mlmodel"), Weight),
    (Suffix(".engine"), Weight),
    (Suffix(".trt"), Weight),
    (Suffix(".llamafile"), Weight),
    (Suffix(".caffemodel"), Weight),
    (Suffix(".parquet"), Dataset),
    (Suffix(".arrow"), Dataset),
    (Suffix(".jsonl"), Dataset),
    (Suffix(".csv"), Dataset),
    (Suffix(".tsv"), Dataset),
    (Suffix(".tfrecord"), Dataset),
    (Suffix(".json"), WeightConfig),
    (Suffix(".json5"), WeightConfig),
    (Suffix(".yaml"), WeightConfig),
    (Suffix(".yml"), WeightConfig),
    (Suffix(".toml"), WeightConfig),
    (Suffix(".ini"), WeightConfig),
    (Suffix(".cfg"), WeightConfig),
    (Suffix(".conf"), WeightConfig),
    (Suffix(".jinja"), WeightConfig),
    (Prefix("requirements"), Code),
    (Prefix("makefile"), Code),
    (Prefix("dockerfile"), Code),
    (Suffix(".py"), Code),
    (Suffix(".ipynb"), Code),
    (Suffix(".sh"), Code),
    (Suffix(".bash"), Code),
    (Suffix(".c"), Code),
    (Suffix(".h"), Code),
    (Suffix(".cc"), Code),
    (Suffix(".cpp"), Code),
    (Suffix(".hpp"), Code),
    (Suffix(".cu"), Code),
    (Suffix(".cuh"), Code),
    (Suffix(".rs"), Code),
    (Suffix(".go"), Code),
    (Suffix(".js"), Code),
    (Suffix(".ts"), Code),
    (Suffix(".java"), Code),
    (Suffix(".jl"), Code),
    (Suffix(".lua"), Code),
    (Suffix(".r"), Code),
    (Suffix(".so"), Code),
    (Suffix(".patch"), Code),
    (Prefix("readme"), Doc),
    (Prefix("license"), Doc),
    (Prefix("licence"), Doc),
    (Prefix("notice"), Doc),
    (Prefix("copying"), Doc),
    (Prefix("changelog"), Doc),
    (Suffix(".md"), Doc),
    (Suffix(".txt"), Doc),
    (Suffix(".rst"), Doc),
    (Suffix(".pdf"), Doc),
    (Suffix(".html"), Doc),
    (Suffix(".png"), Doc),
    (Suffix(".jpg"), Doc),
    (Suffix(".jpeg"), Doc),
    (Suffix(".gif"), Doc),
    (Suffix(".svg"), Doc),
];

/// The layer kind of a model file, and whether a rule matched (`false`: the fallback, code,
/// marked `org.cncf.model.file.mediatype.untested: "true"`).
pub fn classify(path: &str) -> (LayerKind, bool) {
    let base = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    for (rule, kind) in RULES {
        let hit = match rule {
            Exact(s) => base == *s,
            Prefix(s) => base.starts_with(s),
            // A bare ".json" is a hidden file, not JSON with an empty stem.
            Suffix(s) => base.len() > s.len() && base.ends_with(s),
        };
        if hit {
            return (*kind, true);
        }
    }
    (Code, false)
}

/// `config.format`: the weight format when every weight file has the same one of the extensions
/// ModelPack's docs name; otherwise none.
fn weight_format<'a>(paths: impl Iterator<Item = &'a str>) -> Option<&'static str> {
    let mut found: Option<&'static str> = None;
    for p in paths {
        let lower = p.to_ascii_lowercase();
        let this = [
            (".safetensors", "safetensors"),
            (".gguf", "gguf"),
            (".onnx", "onnx"),
            (".pt", "pt"),
            (".pth", "pt"),
        ]
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, f)| *f)?;
        if found.is_some_and(|f| f != this) {
            return None;
        }
        found = Some(this);
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The artifact of one model, derived from the signed manifest.

/// One file layer of an artifact.
#[derive(Clone, Debug)]
pub struct LayerFile<'a> {
    /// `org.cncf.model.filepath`, also where `unpack --oci-layout` writes it: the path below the
    /// model artifact for its files, the whole bundle path for policy and safeguard files.
    pub filepath: BundlePath,
    /// The signed manifest's entry.
    pub entry: &'a FileEntry,
    /// ModelPack kind.
    pub kind: LayerKind,
    /// Whether the kind is known rather than guessed.
    pub tested: bool,
}

/// Which files make up the artifact of one model: its own files and the policy and safeguard
/// files that govern it, sorted by filepath (the order of the layers after the proof).
#[derive(Clone, Debug)]
pub struct ArtifactPlan<'a> {
    /// The model artifact.
    pub artifact: &'a Artifact,
    /// The file layers, sorted bytewise by filepath.
    pub files: Vec<LayerFile<'a>>,
}

impl<'a> ArtifactPlan<'a> {
    /// Plans the artifact of `artifact` (a model) in `manifest`, with the governed files
    /// `governed` (bundle paths under `policy/` or `safeguard/`, chosen by the caller from the
    /// policy). Refuses filepaths that would collide (same path up to ASCII case, a file that is
    /// another's directory) and artifacts over the layer cap.
    pub fn new(
        manifest: &'a Manifest,
        artifact: &'a Artifact,
        governed: &[&'a FileEntry],
    ) -> Result<ArtifactPlan<'a>, String> {
        if artifact.kind != Kind::Model {
            return Err(format!("`{}` is not a model artifact", artifact.path));
        }
        let cut = artifact.path.as_str().len() + 1;
        let mut files = Vec::new();
        for entry in files_below(&manifest.files, &artifact.path) {
            let rel = &entry.path.as_str()[cut..];
            // A suffix of a bundle path at a `/` is itself a valid bundle path.
            let filepath = BundlePath::parse(rel).map_err(|e| format!("`{}`: {e}", entry.path))?;
            let (kind, tested) = classify(rel);
            files.push(LayerFile {
                filepath,
                entry,
                kind,
                tested,
            });
        }
        for entry in governed {
            files.push(LayerFile {
                filepath: entry.path.clone(),
                entry,
                // A policy or safeguard file documents the terms the model is deployed under;
                // airlock knows what it is, so the kind is not a guess.
                kind: LayerKind::Doc,
                tested: true,
            });
        }
        files.sort_by(|a, b| a.filepath.cmp(&b.filepath));
        let as_entries: Vec<FileEntry> = files
            .iter()
            .map(|f| FileEntry {
                path: f.filepath.clone(),
                ..f.entry.clone()
            })
            .collect();
        check_file_set(&as_entries).map_err(|e| {
            format!(
                "the files of model `{}` and the policy and safeguard files that go with it cannot share one directory: {e}",
                artifact.name
            )
        })?;
        if files.len() + 1 > MAX_LAYERS {
            return Err(format!(
                "model `{}` has {} files; an OCI manifest of airlock's holds at most {} layers (the proof and {} files)",
                artifact.name,
                files.len(),
                MAX_LAYERS,
                MAX_LAYERS - 1
            ));
        }
        Ok(ArtifactPlan { artifact, files })
    }

    /// The default tag: `NAME:VERSION` (model name, bundle version).
    pub fn default_tag(&self, manifest: &Manifest) -> String {
        format!("{}:{}", self.artifact.name, manifest.bundle.version)
    }
}

/// Everything an artifact is, as bytes and descriptors.
#[derive(Clone, Debug)]
pub struct DerivedArtifact {
    /// The config document.
    pub config: Vec<u8>,
    /// The manifest document.
    pub manifest: Vec<u8>,
    /// The manifest as a value (its layers: the proof first, then the files in plan order).
    pub image: ImageManifest,
    /// The descriptor of [`DerivedArtifact::manifest`], for `index.json`.
    pub descriptor: Descriptor,
}

/// The proof layer's descriptor for a manifest frame whose tar is `tar_len` bytes hashing to
/// `tar_sha256`.
pub fn proof_descriptor(tar_sha256: [u8; 32], tar_len: u64) -> Descriptor {
    Descriptor {
        media_type: MEDIA_TYPE_DOC_TAR.to_string(),
        digest: OciDigest(tar_sha256),
        size: tar_len,
        annotations: BTreeMap::from([
            (
                ANNOTATION_MANIFEST_FRAME.to_string(),
                MANIFEST_FRAME_VERSION.to_string(),
            ),
            (ANNOTATION_MEDIA_TYPE_UNTESTED.to_string(), "false".into()),
            (ANNOTATION_FILEPATH.to_string(), PROOF_FILEPATH.to_string()),
            (ANNOTATION_TITLE.to_string(), PROOF_TITLE.to_string()),
        ]),
    }
}

/// The layer descriptor of one planned file.
pub fn file_descriptor(
    file: &LayerFile<'_>,
    mtime: u64,
    sha256s: &LayerDigests,
) -> Result<Descriptor, String> {
    let e = file.entry;
    let filepath = file.filepath.as_str();
    let meta = FileMetadata {
        name: filepath.rsplit('/').next().unwrap_or(filepath).to_string(),
        mode: e.mode.bits(),
        uid: 0,
        gid: 0,
        size: e.size,
        mtime: Timestamp::from_unix(mtime)
            .ok_or_else(|| format!("mtime {mtime} is out of range"))?
            .to_string(),
        typeflag: 0,
    };
    let meta = serde_json::to_string(&meta).map_err(|e| format!("file metadata: {e}"))?;
    Ok(Descriptor {
        media_type: file.kind.raw_media_type().to_string(),
        digest: layer_digest(e, sha256s)?,
        size: e.size,
        annotations: BTreeMap::from([
            (ANNOTATION_FILEPATH.to_string(), filepath.to_string()),
            (ANNOTATION_FILE_METADATA.to_string(), meta),
            (
                ANNOTATION_MEDIA_TYPE_UNTESTED.to_string(),
                if file.tested { "false" } else { "true" }.to_string(),
            ),
            (ANNOTATION_TITLE.to_string(), filepath.to_string()),
        ]),
    })
}

/// The artifact `plan` exports from `manifest` (whose text hashes to `manifest_sha256`), with
/// the proof layer `proof` ([`proof_descriptor`]) and, for files whose manifest digest is not a
/// sha256, their layers' sha256 `sha256s`. A pure function of its inputs: what `export` writes
/// and what `verify --oci-layout` compares with.
pub fn derive_artifact(
    manifest: &Manifest,
    manifest_sha256: &[u8; 32],
    plan: &ArtifactPlan<'_>,
    proof: Descriptor,
    sha256s: &LayerDigests,
) -> Result<DerivedArtifact, String> {
    let mut layers = Vec::with_capacity(plan.files.len() + 1);
    layers.push(proof);
    for f in &plan.files {
        layers.push(file_descriptor(f, manifest.bundle.mtime, sha256s)?);
    }
    let created = manifest.bundle.created.to_string();
    let config = ModelPackConfig {
        descriptor: ModelDescriptor {
            created_at: created.clone(),
            name: plan.artifact.name.clone(),
            version: manifest.bundle.version.clone(),
        },
        modelfs: ModelFs {
            fs_type: "layers",
            // Every layer is uncompressed: its DiffID is its digest.
            diff_ids: layers.iter().map(|l| l.digest).collect(),
        },
        config: ModelConfig {
            format: weight_format(
                plan.files
                    .iter()
                    .filter(|f| f.kind == LayerKind::Weight)
                    .map(|f| f.filepath.as_str()),
            ),
        },
    };
    let config = canonical_json(&config, "the ModelPack config")?;
    let image = ImageManifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_IMAGE_MANIFEST.to_string(),
        artifact_type: Some(ARTIFACT_TYPE_MODEL_MANIFEST.to_string()),
        config: Descriptor {
            media_type: MEDIA_TYPE_MODEL_CONFIG.to_string(),
            digest: OciDigest::of(&config),
            size: config.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers,
        annotations: BTreeMap::from([
            (
                ANNOTATION_ARTIFACT.to_string(),
                plan.artifact.path.to_string(),
            ),
            (ANNOTATION_MANIFEST_SHA256.to_string(), hex(manifest_sha256)),
            (ANNOTATION_CREATED.to_string(), created),
        ]),
    };
    let bytes = canonical_json(
        &image,
        &format!("the OCI manifest of model `{}`", plan.artifact.name),
    )?;
    let descriptor = Descriptor {
        media_type: MEDIA_TYPE_IMAGE_MANIFEST.to_string(),
        digest: OciDigest::of(&bytes),
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    Ok(DerivedArtifact {
        config,
        manifest: bytes,
        image,
        descriptor,
    })
}

/// The first place two JSON documents differ, as a dotted path and both values (for messages
/// naming what was edited in a config or manifest); `None` if they are equal.
pub fn first_difference(found: &[u8], expected: &[u8]) -> Option<String> {
    let parse = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok();
    let (Some(a), Some(b)) = (parse(found), parse(expected)) else {
        return (found != expected).then(|| "it is not the expected JSON".to_string());
    };
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
        use serde_json::Value;
        let show = |v: Option<&Value>| v.map_or("absent".to_string(), |v| clean(&v.to_string()));
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => {
                            if let Some(d) = walk(&p, u, v) {
                                return Some(d);
                            }
                        }
                        (u, v) => {
                            return Some(format!(
                                "`{}` is {}, the signed manifest implies {}",
                                clean(&p),
                                show(u),
                                show(v)
                            ));
                        }
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    let p = format!("{path}[{i}]");
                    match (x.get(i), y.get(i)) {
                        (Some(u), Some(v)) => {
                            if let Some(d) = walk(&p, u, v) {
                                return Some(d);
                            }
                        }
                        (u, v) => {
                            return Some(format!(
                                "`{}` is {}, the signed manifest implies {}",
                                clean(&p),
                                show(u),
                                show(v)
                            ));
                        }
                    }
                }
                None
            }
            _ if a == b => None,
            _ => Some(format!(
                "`{}` is {}, the signed manifest implies {}",
                clean(path),
                show(Some(a)),
                show(Some(b))
            )),
        }
    }
    walk("", &a, &b).or_else(|| {
        (found != expected).then(|| {
            "the same values, but not in airlock's canonical encoding (spacing, key order or escapes differ)".to_string()
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Reading: strict parsers for documents from a layout that came from elsewhere.

/// `index.json`, parsed.
#[derive(Clone, Debug)]
pub struct Index {
    /// Its manifest entries, in file order, with their ref names (if any).
    pub manifests: Vec<(Option<String>, Descriptor)>,
}

/// Parses `oci-layout`: it must say `imageLayoutVersion` 1.0.0.
pub fn parse_oci_layout(bytes: &[u8]) -> Result<(), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        image_layout_version: String,
    }
    let w: Wire = serde_json::from_slice(bytes).map_err(|e| format!("oci-layout: {e}"))?;
    if w.image_layout_version != IMAGE_LAYOUT_VERSION {
        return Err(format!(
            "oci-layout: imageLayoutVersion is \"{}\", only \"{IMAGE_LAYOUT_VERSION}\" is defined",
            clean(&w.image_layout_version)
        ));
    }
    Ok(())
}

/// Parses `index.json` (skopeo omits its `mediaType`; a present one must be the index type).
pub fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        schema_version: i64,
        #[serde(default)]
        media_type: Option<String>,
        manifests: Vec<WireDescriptor>,
        // Parsed for the duplicate-key check only.
        #[serde(default)]
        #[allow(dead_code)]
        annotations: Option<UniqueMap>,
    }
    let w: Wire = serde_json::from_slice(bytes).map_err(|e| format!("index.json: {e}"))?;
    if w.schema_version != 2 {
        return Err(format!(
            "index.json: schemaVersion is {}, must be 2",
            w.schema_version
        ));
    }
    if let Some(mt) = &w.media_type
        && mt != MEDIA_TYPE_IMAGE_INDEX
    {
        return Err(format!(
            "index.json: mediaType is \"{}\", must be {MEDIA_TYPE_IMAGE_INDEX}",
            clean(mt)
        ));
    }
    if w.manifests.len() > MAX_LAYERS {
        return Err(format!(
            "index.json lists {} manifests, over the cap of {MAX_LAYERS}",
            w.manifests.len()
        ));
    }
    let mut manifests = Vec::with_capacity(w.manifests.len());
    for (i, d) in w.manifests.into_iter().enumerate() {
        let d = d.into_descriptor(&format!("index.json manifests[{i}]"))?;
        manifests.push((d.annotations.get(ANNOTATION_REF_NAME).cloned(), d));
    }
    Ok(Index { manifests })
}

/// Parses an image manifest: `schemaVersion` 2, `mediaType` present and the manifest type (this
/// rules out a document that also parses as an index), at most [`MAX_LAYERS`] layers, every
/// descriptor valid. `subject` is refused: airlock never writes one.
pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        schema_version: i64,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        artifact_type: Option<String>,
        config: WireDescriptor,
        layers: Vec<WireDescriptor>,
        #[serde(default)]
        subject: Option<serde_json::Value>,
        #[serde(default)]
        annotations: Option<UniqueMap>,
    }
    let w: Wire = serde_json::from_slice(bytes).map_err(|e| format!("manifest: {e}"))?;
    if w.schema_version != 2 {
        return Err(format!(
            "manifest: schemaVersion is {}, must be 2",
            w.schema_version
        ));
    }
    if w.media_type.as_deref() != Some(MEDIA_TYPE_IMAGE_MANIFEST) {
        return Err(format!(
            "manifest: mediaType is {}, must be {MEDIA_TYPE_IMAGE_MANIFEST}",
            w.media_type
                .as_deref()
                .map_or("absent".to_string(), |m| format!("\"{}\"", clean(m)))
        ));
    }
    if w.subject.is_some() {
        return Err("manifest: a `subject` (referrer) is not something airlock writes".into());
    }
    // The document is at most MAX_JSON_BYTES, which bounds the parse; the cap bounds the rest.
    if w.layers.len() > MAX_LAYERS {
        return Err(format!(
            "manifest lists {} layers, over the cap of {MAX_LAYERS}",
            w.layers.len()
        ));
    }
    let config = w.config.into_descriptor("config")?;
    let mut layers = Vec::with_capacity(w.layers.len());
    for (i, d) in w.layers.into_iter().enumerate() {
        layers.push(d.into_descriptor(&format!("layer {i}"))?);
    }
    Ok(ImageManifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_IMAGE_MANIFEST.to_string(),
        artifact_type: w.artifact_type,
        config,
        layers,
        annotations: w.annotations.map(|a| a.0).unwrap_or_default(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDescriptor {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Option<serde_json::Value>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    annotations: Option<UniqueMap>,
}

impl WireDescriptor {
    fn into_descriptor(self, what: &str) -> Result<Descriptor, String> {
        let digest = OciDigest::parse(&self.digest)
            .map_err(|e| format!("{what}: digest \"{}\": {e}", clean(&self.digest)))?;
        if !valid_media_type(&self.media_type) {
            return Err(format!(
                "{what}: \"{}\" is not a valid media type",
                clean(&self.media_type)
            ));
        }
        let size = u64::try_from(self.size)
            .map_err(|_| format!("{what}: size {} is negative", self.size))?;
        if self.urls.is_some() {
            return Err(format!(
                "{what}: `urls` (content stored elsewhere) is refused: an air-gapped artifact is self-contained"
            ));
        }
        if self.data.is_some() {
            return Err(format!(
                "{what}: `data` (embedded content another reader could use instead of the blob) is refused"
            ));
        }
        Ok(Descriptor {
            media_type: self.media_type,
            digest,
            size,
            annotations: self.annotations.map(|a| a.0).unwrap_or_default(),
        })
    }
}

/// image-spec descriptor.md's media type grammar:
/// `[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}`.
fn valid_media_type(mt: &str) -> bool {
    let part = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(c))
    };
    mt.split_once('/').is_some_and(|(t, s)| part(t) && part(s))
}

/// A string-to-string map that refuses duplicate keys: serde_json keeps the last of two equal
/// keys and Go's decoder too, but other readers may keep the first, so a document with a
/// duplicate could mean two things.
struct UniqueMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<UniqueMap, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<UniqueMap, A::Error> {
                let mut m = BTreeMap::new();
                while let Some((k, v)) = a.next_entry::<String, String>()? {
                    if m.contains_key(&k) {
                        return Err(de::Error::custom(format!(
                            "duplicate annotation key \"{}\"",
                            clean(&k)
                        )));
                    }
                    m.insert(k, v);
                }
                Ok(UniqueMap(m))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_have_one_spelling() {
        let d = OciDigest::of(b"");
        let text = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(d.to_string(), text);
        assert_eq!(OciDigest::parse(text), Ok(d));
        for bad in [
            "sha512:e3b0",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(OciDigest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ref_name_grammar() {
        for ok in [
            "acme-7b:1.0",
            "models/acme-7b:1.0",
            "a",
            "a--b",
            "v1.0+build@x",
        ] {
            assert!(check_ref_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "bad ref", "-a", "a-", "a---b", "a//b", "/a", "a/", "a..b", "ä", "a\0",
        ] {
            assert!(check_ref_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn classifier() {
        for (path, kind, tested) in [
            ("model-00001-of-00002.safetensors", Weight, true),
            ("sub/Model.GGUF", Weight, true),
            ("config.json", WeightConfig, true),
            ("tokenizer.model", WeightConfig, true),
            ("model.safetensors.index.json", WeightConfig, true),
            ("README.md", Doc, true),
            ("LICENSE", Doc, true),
            ("modeling.py", Code, true),
            ("eval.jsonl", Dataset, true),
            ("bin/serve", Code, false),
            (".json", Code, false),
        ] {
            assert_eq!(classify(path), (kind, tested), "{path}");
        }
        assert_eq!(
            weight_format(["a.safetensors", "b.safetensors"].into_iter()),
            Some("safetensors")
        );
        assert_eq!(weight_format(["a.safetensors", "b.gguf"].into_iter()), None);
        assert_eq!(weight_format(["a.bin"].into_iter()), None);
        assert_eq!(weight_format(std::iter::empty()), None);
    }

    #[test]
    fn documents_have_go_field_order() {
        let d = OciDigest::of(b"x");
        let index = index_json(&[
            (
                "b:1".into(),
                Descriptor {
                    media_type: MEDIA_TYPE_IMAGE_MANIFEST.into(),
                    digest: d,
                    size: 1,
                    annotations: BTreeMap::new(),
                },
            ),
            (
                "a:1".into(),
                Descriptor {
                    media_type: MEDIA_TYPE_IMAGE_MANIFEST.into(),
                    digest: d,
                    size: 1,
                    annotations: BTreeMap::new(),
                },
            ),
        ])
        .unwrap();
        let text = String::from_utf8(index).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_TYPE_IMAGE_INDEX}\",\"manifests\":[{{\"mediaType\":\"{MEDIA_TYPE_IMAGE_MANIFEST}\",\"digest\":\"{d}\",\"size\":1,\"annotations\":{{\"{ANNOTATION_REF_NAME}\":\"a:1\"}}}},{{\"mediaType\":\"{MEDIA_TYPE_IMAGE_MANIFEST}\",\"digest\":\"{d}\",\"size\":1,\"annotations\":{{\"{ANNOTATION_REF_NAME}\":\"b:1\"}}}}]}}"
            )
        );
        let parsed = parse_index(text.as_bytes()).unwrap();
        assert_eq!(parsed.manifests[0].0.as_deref(), Some("a:1"));
        assert!(
            index_json(&[
                ("a:1".into(), parsed.manifests[0].1.clone()),
                ("a:1".into(), parsed.manifests[0].1.clone())
            ])
            .is_err()
        );
        assert_eq!(oci_layout_json(), br#"{"imageLayoutVersion":"1.0.0"}"#);
        assert!(parse_oci_layout(br#"{"imageLayoutVersion": "1.0.0"}"#).is_ok());
        assert!(parse_oci_layout(br#"{"imageLayoutVersion":"2.0.0"}"#).is_err());
    }

    #[test]
    fn hostile_documents_are_refused() {
        let d = OciDigest::of(b"x");
        let layer = |extra: &str| {
            format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_TYPE_IMAGE_MANIFEST}\",\"config\":{{\"mediaType\":\"a/b\",\"digest\":\"{d}\",\"size\":1}},\"layers\":[{{\"mediaType\":\"a/b\",\"digest\":\"{d}\",\"size\":1{extra}}}]}}"
            )
        };
        assert!(parse_manifest(layer("").as_bytes()).is_ok());
        for (extra, why) in [
            (",\"urls\":[\"http://x\"]", "urls"),
            (",\"data\":\"eA==\"", "data"),
            (
                ",\"annotations\":{\"a\":\"1\",\"a\":\"2\"}",
                "duplicate annotation key",
            ),
            (",\"size\":2", "duplicate field"),
        ] {
            let err = parse_manifest(layer(extra).as_bytes()).unwrap_err();
            assert!(err.contains(why), "{extra}: {err}");
        }
        let negative = layer("").replace("\"size\":1}]", "\"size\":-1}]");
        assert!(
            parse_manifest(negative.as_bytes())
                .unwrap_err()
                .contains("negative")
        );
        let no_type = layer("").replace(
            &format!("\"mediaType\":\"{MEDIA_TYPE_IMAGE_MANIFEST}\","),
            "",
        );
        assert!(
            parse_manifest(no_type.as_bytes())
                .unwrap_err()
                .contains("mediaType")
        );
        for bad in ["", "a", "a/", "/b", "a/b/c", "a b/c", "-a/b"] {
            assert!(!valid_media_type(bad), "{bad:?}");
        }
        assert!(valid_media_type(MEDIA_TYPE_DOC_TAR));
    }

    #[test]
    fn differences_are_named() {
        assert_eq!(first_difference(br#"{"a":1}"#, br#"{"a":1}"#), None);
        let d = first_difference(br#"{"a":{"b":[1,2]}}"#, br#"{"a":{"b":[1,3]}}"#).unwrap();
        assert!(d.contains("`a.b[1]` is 2"), "{d}");
        let d = first_difference(br#"{"a":1,"x":2}"#, br#"{"a":1}"#).unwrap();
        assert!(
            d.contains("`x` is 2, the signed manifest implies absent"),
            "{d}"
        );
        let d = first_difference(br#"{"a": 1}"#, br#"{"a":1}"#).unwrap();
        assert!(d.contains("canonical"), "{d}");
    }

    #[test]
    fn clean_escapes_control_characters() {
        assert_eq!(clean("a\u{1b}[31mb"), "a\\u{1b}[31mb");
    }
}
