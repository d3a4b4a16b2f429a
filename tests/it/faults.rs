//! Faults around `airlock unpack`, with the real binary:
//!
//! * SIGKILL at random points during extraction of a 96 MiB bundle: one calibration run
//!   measures the extraction window, then each run is killed at a random point of that window
//!   after its staging directory appears. The destination is absent (or complete, if the kill came
//!   after the atomic rename), or with `--replace` the previous tree is intact; the next run
//!   succeeds and removes the leftover `.NAME.airlock-staging-*` directory.
//! * Disk full: a 2 MiB tmpfs mounted over the destination's parent (the tests run as root, and
//!   `mount -t tmpfs` is the honest simulation: the kernel returns ENOSPC mid-write). Where mount
//!   is not permitted the test falls back to `prlimit --fsize` (a per-process file size limit, with
//!   SIGXFSZ ignored so writes fail with EFBIG instead of killing the process) and says so on
//!   stderr (`AIRLOCK_TEST_NO_MOUNT=1` forces the fallback). Either way: exit 3, a message naming
//!   the failed write, nothing installed, staging removed.
//! * Two concurrent unpacks into the same destination: one installs, the other waits on the lock
//!   and is a no-op success (or fails cleanly); the tree is never mixed, also for two different
//!   bundles racing with `--replace`.
//! * A bundle given as `-` (standard input) or as a pipe is refused with a clear message, exit 2.
use crate::support::craft;

use craft::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn airlock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
}

/// A bundle written to disk with the trust file beside it, and the tree it must unpack to.
struct Built {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    trust: PathBuf,
    files: Vec<Entry>,
}

impl Built {
    /// The rollback state directory the runs of this bundle use.
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

fn build(files: Vec<Entry>) -> Built {
    build_named("crafted", files)
}

fn build_named(name: &str, files: Vec<Entry>) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b.airlock.tar.zst");
    let trust = dir.path().join("trust.toml");
    let mut p = Parts::honest(&files);
    p.manifest.bundle.name = name.to_string();
    p.seal();
    p.write(&bundle);
    std::fs::write(&trust, trust_toml()).unwrap();
    Built {
        dir,
        bundle,
        trust,
        files,
    }
}

/// 4 MiB shards in the big bundle: 24, so 96 MiB.
const SHARDS: usize = 24;

/// The big bundle: [`SHARDS`] files of 4 MiB. Each is a 64 KiB block of noise repeated (so frames
/// compress well and the file stays small), behind a plain-text prefix.
fn big() -> &'static Built {
    static BIG: OnceLock<Built> = OnceLock::new();
    BIG.get_or_init(|| {
        let mut block = b"airlock fault-injection test data\n".to_vec();
        block.extend(noise((64 << 10) - block.len(), 42));
        let content = block.repeat(64);
        let entry = |i: usize| file(&format!("data/big/shard-{i:02}.dat"), content.clone());
        let files: Vec<Entry> = (0..SHARDS).map(entry).collect();
        // Hash the shared content once: the unoptimised sha256 would dominate otherwise.
        let one = files[0].manifest_entry();
        let entries: Vec<_> = files
            .iter()
            .map(|f| airlock::format::manifest::FileEntry {
                path: airlock::format::path::BundlePath::parse(&f.path).unwrap(),
                ..one.clone()
            })
            .collect();
        let mut tar = Vec::with_capacity(content.len() * 13);
        for (f, e) in files.iter().zip(&entries) {
            tar.extend_from_slice(&airlock::format::canonical_header(
                &e.path, e.size, e.mode, MTIME,
            ));
            tar.extend_from_slice(&f.content);
        }
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("big.airlock.tar.zst");
        let trust = dir.path().join("trust.toml");
        Parts::from_tar(entries, &tar).write(&bundle);
        std::fs::write(&trust, trust_toml()).unwrap();
        Built {
            dir,
            bundle,
            trust,
            files,
        }
    })
}

fn unpack_cmd(b: &Built, dest: &Path, replace: bool) -> Command {
    unpack_with_state(b, dest, replace, &b.state())
}

fn unpack_with_state(b: &Built, dest: &Path, replace: bool, state: &Path) -> Command {
    let mut c = airlock();
    c.arg("unpack")
        .arg(&b.bundle)
        .arg("--trust")
        .arg(&b.trust)
        .arg("--state")
        .arg(state)
        .args(["--now", NOW, "--threads", "2", "--dest"])
        .arg(dest);
    if replace {
        c.arg("--replace");
    }
    c
}

/// Relative path → (mode, content) of every file under `dir`; directories as `None`.
fn tree(dir: &Path) -> BTreeMap<String, Option<(u32, Vec<u8>)>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
        let meta = e.path().symlink_metadata().unwrap();
        let v = if meta.is_dir() {
            None
        } else {
            assert!(meta.is_file(), "{rel} is not a regular file");
            Some((
                meta.permissions().mode() & 0o7777,
                std::fs::read(e.path()).unwrap(),
            ))
        };
        out.insert(rel, v);
    }
    out
}

/// The tree `files` must unpack to.
fn expected(files: &[Entry]) -> BTreeMap<String, Option<(u32, Vec<u8>)>> {
    let mut out = BTreeMap::new();
    for f in files {
        let mut dir = String::new();
        for part in f
            .path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .unwrap()
            .1
        {
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(part);
            out.insert(dir.clone(), None);
        }
        out.insert(f.path.clone(), Some((f.mode.bits(), f.content.clone())));
    }
    out
}

fn staging_dirs(parent: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.airlock-staging-");
    std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
                .then(|| e.path())
        })
        .collect()
}

/// A previous tree, different from every bundle's.
fn plant_previous(dest: &Path) -> BTreeMap<String, Option<(u32, Vec<u8>)>> {
    std::fs::create_dir_all(dest.join("old")).unwrap();
    std::fs::write(dest.join("old/model.txt"), "previous release\n").unwrap();
    std::fs::write(dest.join("README"), "previous tree\n").unwrap();
    tree(dest)
}

/// Small pseudo-random numbers for kill delays (seeded from the clock, printed on failure).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Starts `cmd`, waits until its staging directory appears beside `dest`, sleeps a random delay
/// below `window`, then SIGKILLs it. Returns whether the kill landed before the process finished.
fn kill_during_extraction(mut cmd: Command, dest: &Path, window: Duration, rng: &mut Rng) -> bool {
    let parent = dest.parent().unwrap();
    let name = dest.file_name().unwrap().to_str().unwrap();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while staging_dirs(parent, name).is_empty() {
        if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(60) {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let micros = rng.below(window.as_micros().max(1) as u64);
    std::thread::sleep(Duration::from_micros(micros));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    !finished
}

/// How long extraction of `b` takes here: from the staging directory's appearance to the end.
fn extraction_time(b: &Built, dest: &Path) -> Duration {
    let parent = dest.parent().unwrap();
    let name = dest.file_name().unwrap().to_str().unwrap();
    let mut child = unpack_cmd(b, dest, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = None;
    loop {
        if seen.is_none() && !staging_dirs(parent, name).is_empty() {
            seen = Some(Instant::now());
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "calibration unpack failed: {status:?}");
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    seen.map_or(Duration::from_millis(1), |t| t.elapsed())
}

#[test]
fn sigkill_during_extraction_leaves_no_partial_tree() {
    let b = big();
    let want = expected(&b.files);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let root = tempfile::tempdir().unwrap();
    // Calibrate: the kills land at random points of the extraction window measured here.
    let window = extraction_time(b, &root.path().join("calibration")) * 9 / 10;
    let dest = root.path().join("models");
    let mut left_staging = 0;
    for round in 0..4 {
        kill_during_extraction(unpack_cmd(b, &dest, false), &dest, window, &mut rng);
        // Killed mid-extraction: its staging directory is left behind, the destination absent.
        left_staging += usize::from(!staging_dirs(root.path(), "models").is_empty());
        if dest.exists() {
            // The kill landed after the atomic rename: then the tree is complete.
            assert_eq!(tree(&dest), want, "seed {seed} round {round}: partial tree");
            std::fs::remove_dir_all(&dest).unwrap();
        }
    }
    assert!(
        left_staging > 0,
        "seed {seed}: no kill landed during extraction (window {window:?})"
    );
    // Make sure a leftover exists for the next run to clean up.
    if staging_dirs(root.path(), "models").is_empty() {
        kill_during_extraction(unpack_cmd(b, &dest, false), &dest, window / 4, &mut rng);
    }
    let o = unpack_cmd(b, &dest, false).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(tree(&dest), want);
    assert!(
        staging_dirs(root.path(), "models").is_empty(),
        "the next run removes leftover staging directories"
    );

    // With --replace over a previous tree: the previous tree survives every kill intact.
    let prev = root.path().join("prev");
    let previous = plant_previous(&prev);
    for round in 0..3 {
        kill_during_extraction(unpack_cmd(b, &prev, true), &prev, window, &mut rng);
        let now = tree(&prev);
        assert!(
            now == previous || now == want,
            "seed {seed} round {round}: the tree at the destination is mixed"
        );
    }
    let o = unpack_cmd(b, &prev, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(tree(&prev), want);
    assert!(staging_dirs(root.path(), "prev").is_empty());
}

/// Unmounts on drop.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_exits_3_and_installs_nothing() {
    // 4 MiB of content (compressible, so the bundle is small) into 2 MiB of space.
    let mut block = b"disk full test\n".to_vec();
    block.extend(noise(4096 - block.len(), 9));
    let files: Vec<Entry> = (0..4)
        .map(|i| file(&format!("data/full/part-{i}.dat"), block.repeat(256)))
        .collect();
    let b = build(files);
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // AIRLOCK_TEST_NO_MOUNT=1 exercises the fallback where mount is permitted too.
    let mounted = std::env::var_os("AIRLOCK_TEST_NO_MOUNT").is_none()
        && Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(&mnt)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    let _guard = mounted.then(|| Mount(mnt.clone()));
    let dest = mnt.join("dest");
    let o = if mounted {
        unpack_cmd(&b, &dest, false).output().unwrap()
    } else {
        eprintln!("mount not permitted here: simulating a full disk with prlimit --fsize");
        let cmd = unpack_cmd(&b, &dest, false);
        let args: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        Command::new("sh")
            .arg("-c")
            .arg("trap '' XFSZ; exec prlimit --fsize=524288 \"$@\"")
            .arg("sh")
            .args(args)
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "stderr: {err}");
    let reason = if mounted {
        "No space left on device"
    } else {
        "File too large"
    };
    assert!(
        err.contains("cannot ") && err.contains(reason),
        "stderr: {err}"
    );
    assert!(!dest.exists(), "nothing is installed");
    assert!(staging_dirs(&mnt, "dest").is_empty(), "staging is removed");
    let left: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        left.is_empty(),
        "nothing remains, not even the lock file: {left:?}"
    );
}

#[test]
fn concurrent_unpacks_into_one_destination() {
    let b = build(small_files());
    let want = expected(&b.files);
    for round in 0..3 {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        let spawn = || {
            unpack_cmd(&b, &dest, false)
                .arg("--json")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (x, y) = (spawn(), spawn());
        let (x, y) = (x.wait_with_output().unwrap(), y.wait_with_output().unwrap());
        // The runs serialise on the lock beside the destination: the winner installs, the loser
        // then finds exactly this bundle's tree there and succeeds without writing anything.
        let mut outcomes = Vec::new();
        for o in [&x, &y] {
            assert_eq!(
                o.status.code(),
                Some(0),
                "round {round}: the loser must succeed as a no-op: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let doc = crate::support::common::json(o);
            outcomes.push(doc["result"]["outcome"].as_str().unwrap().to_string());
        }
        outcomes.sort();
        assert_eq!(outcomes, ["already-present", "installed"], "round {round}");
        assert_eq!(tree(&dest), want, "round {round}");
        assert!(staging_dirs(root.path(), "dest").is_empty());
    }
}

#[test]
fn concurrent_replacements_never_mix_trees() {
    // Two different bundles (different names, so the shared rollback state admits both).
    let a = build_named(
        "tree-a",
        vec![
            file("data/d/a.txt", b"tree A, file a\n".to_vec()),
            file("data/d/b.txt", b"tree A, file b\n".to_vec()),
        ],
    );
    let b = build_named(
        "tree-b",
        vec![
            file("data/d/b.txt", b"tree B, file b\n".to_vec()),
            file("data/d/c.txt", b"tree B, file c\n".to_vec()),
        ],
    );
    let (ta, tb) = (expected(&a.files), expected(&b.files));
    for round in 0..3 {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        let state = root.path().join("state");
        plant_previous(&dest);
        let x = unpack_with_state(&a, &dest, true, &state)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let y = unpack_with_state(&b, &dest, true, &state)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (x, y) = (x.wait_with_output().unwrap(), y.wait_with_output().unwrap());
        for o in [&x, &y] {
            assert!(
                matches!(o.status.code(), Some(0 | 2 | 3)),
                "round {round}: {:?} {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let now = tree(&dest);
        assert!(now == ta || now == tb, "round {round}: mixed tree {now:?}");
        assert!(staging_dirs(root.path(), "dest").is_empty());
    }
}

#[test]
fn bundle_from_a_pipe_is_refused() {
    let b = build(small_files());
    let bytes = std::fs::read(&b.bundle).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    for sub in ["verify", "unpack"] {
        for name in ["-", "/dev/stdin"] {
            let mut c = airlock();
            c.arg(sub)
                .arg(name)
                .arg("--trust")
                .arg(&b.trust)
                .arg("--state")
                .arg(b.state())
                .args(["--now", NOW]);
            if sub == "unpack" {
                c.arg("--dest").arg(&dest);
            }
            let mut child = c
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let data = bytes.clone();
            let writer = std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
            let o = child.wait_with_output().unwrap();
            writer.join().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{sub} {name}: {err}");
            let expect = if name == "-" {
                "reading a bundle from standard input is not supported"
            } else {
                "is a FIFO (named pipe), not a regular file"
            };
            assert!(err.contains(expect), "{sub} {name}: {err}");
            assert!(
                err.contains("save the bundle") || err.contains("save it to a regular file"),
                "{sub} {name}: {err}"
            );
            assert!(!dest.exists());
        }
    }
}

/// A run killed right after its atomic rename leaves the complete tree and nothing else to mark
/// it. No receipt is trusted: the next plain run compares the tree itself (contents hashed) and is
/// a no-op success. (An earlier design wrote a receipt after the rename and refused this case.)
#[test]
fn rerun_after_a_kill_right_after_the_rename_is_a_no_op() {
    let b = build(small_files());
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    let o = unpack_cmd(&b, &dest, false).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        1,
        "only the tree remains beside it (the lock file is removed)"
    );
    let o = unpack_cmd(&b, &dest, false).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(tree(&dest), expected(&b.files));
}
