//! `airlock pack`: spec → signed bundle (or volumes, or a delta).
use super::Done;
use super::common::{KeyArgs, OutputArgs, SuiteArg, ThreadsArg, source_date_epoch};
use airlock::format::time::Timestamp;
use airlock::pack::spec::Spec;
use airlock::pack::{self, PackOptions, logistics};
use airlock::report::render;
use std::path::PathBuf;

/// `airlock pack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle spec (TOML).
    pub spec: PathBuf,
    /// Release signing keys.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Cryptographic suite [default: the spec's `[bundle] suite`, else classic]. `classic`:
    /// SHA-256 digests, Ed25519 (minisign) signatures. `cnsa2` (CNSA 2.0): SHA-384 for every
    /// frame, file, tree and manifest digest, a SHA384SUMS file, and ML-DSA-87 signatures (an
    /// Ed25519 key may sign too). A flag contradicting the spec is refused.
    #[arg(long, value_enum, value_name = "SUITE")]
    pub suite: Option<SuiteArg>,
    /// Output file [default: NAME-VERSION.airlock.tar.zst in the current directory].
    #[arg(short, long = "output", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Replace an existing output file (without it, pack refuses: an existing bundle may already
    /// carry countersignatures).
    #[arg(long)]
    pub force: bool,
    /// Worker threads.
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// zstd level, 1-22. Recorded in the manifest.
    #[arg(long, value_name = "L", default_value_t = airlock::format::DEFAULT_LEVEL)]
    pub level: i32,
    /// Write volumes OUT.001, OUT.002, ... of at most SIZE bytes each instead of one file.
    ///
    /// Volumes are cut at frame boundaries; each carries a copy of the signed manifest, so
    /// `airlock verify OUT.002 --trust T` checks one volume alone and names a bad one.
    /// `airlock join OUT.0* -o OUT` rebuilds the exact single-file bundle; `airlock unpack OUT.0*`
    /// takes the volumes directly. SIZE is bytes, or a number (decimals allowed) with K/KiB, M/MiB,
    /// G/GiB, T/TiB (powers of 1024, as in `split -b`) or KB, MB, GB, TB (powers of 1000):
    /// 4GiB, 700MB, 4.7GB. A volume must hold at least one frame (up to 16 MiB of tar data) plus
    /// the manifest copy, so 17MiB is about the smallest that always works; at most 999 volumes.
    #[arg(long, value_name = "SIZE", value_parser = airlock::util::size::parse_size, conflicts_with = "base")]
    pub max_volume_size: Option<u64>,
    /// Write a delta against OLD_BUNDLE instead of a full bundle.
    ///
    /// The delta holds the new version's full signed manifest plus only the payload frames
    /// OLD_BUNDLE lacks (matched by sha256), and records OLD_BUNDLE's manifest sha256. Default
    /// output: NAME-VERSION.from-OLDVERSION.airlock-delta. Rebuild with
    /// `airlock patch OLD_BUNDLE DELTA -o NEW` or install with `airlock unpack DELTA --base OLD_BUNDLE`.
    /// A file of 1 MiB or more has its 512-byte tar header in a frame of its own, so its content
    /// frames are shared whenever its bytes are unchanged, whatever its mtime. Frames that hold
    /// tar headers (those header frames, and the shared frames of the small files) carry the
    /// entry mtime, SOURCE_DATE_EPOCH: a new SOURCE_DATE_EPOCH re-sends only those (a 1 GiB model
    /// whose weights did not change crossed as 2 of its 67 frames). OLD_BUNDLE must be a
    /// single-file bundle of the same name (join volumes first, or rebuild it with `patch`).
    #[arg(long, value_name = "OLD_BUNDLE")]
    pub base: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Packs.
    pub fn run(&self) -> anyhow::Result<Done> {
        let spec = Spec::load(&self.spec)?;
        let opts = PackOptions {
            signers: self.key.load_all()?,
            suite: self.suite.map(Into::into),
            output: self.out.clone(),
            threads: self.threads.get(),
            level: self.level,
            source_date_epoch: source_date_epoch()?,
            now: Timestamp::now(),
            force: self.force,
        };
        if let Some(size) = self.max_volume_size {
            let r = logistics::pack_volumes(&spec, opts, size)?;
            return Done::stderr(&r, render::volumes(&r));
        }
        if let Some(base) = &self.base {
            let r = logistics::pack_delta(&spec, opts, base)?;
            return Done::stderr(&r, render::delta(&r));
        }
        let r = pack::pack(&spec, &opts)?;
        Done::stderr(&r, render::pack(&r))
    }
}
