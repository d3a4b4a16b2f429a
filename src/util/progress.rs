//! Progress display for long operations (pack, verify, unpack): bytes, rate and ETA on one
//! redrawn stderr line. Off unless the binary enables it (stderr is a terminal and no `--quiet`),
//! so library callers and scripts see nothing extra.
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns progress display on for this process.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// One operation's progress.
pub struct Progress {
    label: &'static str,
    total: u64,
    done: AtomicU64,
    start: Instant,
    last_draw: Mutex<Option<Instant>>,
    visible: bool,
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

impl Progress {
    /// Starts tracking `total` bytes of work labelled `label`.
    pub fn start(label: &'static str, total: u64) -> Progress {
        Progress {
            label,
            total,
            done: AtomicU64::new(0),
            start: Instant::now(),
            last_draw: Mutex::new(None),
            visible: ENABLED.load(Ordering::Relaxed),
        }
    }

    /// Records `n` more bytes done, redrawing at most five times a second.
    pub fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if !self.visible {
            return;
        }
        let Ok(mut last) = self.last_draw.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(200))
            && done < self.total
        {
            return;
        }
        *last = Some(now);
        draw(&format!("\r\x1b[K{}", self.line(done, now)));
    }

    fn line(&self, done: u64, now: Instant) -> String {
        let elapsed = now.duration_since(self.start).as_secs_f64().max(1e-3);
        let rate = done as f64 / elapsed;
        let fraction = if self.total == 0 {
            1.0
        } else {
            (done as f64 / self.total as f64).min(1.0)
        };
        let filled = (fraction * 30.0) as usize;
        // The first redraws come before the pipeline has filled: a rate measured then is noise
        // (the first frame read, nothing compressed yet), and an ETA from it is a wild guess.
        // No ETA is shown until the rate rests on RATE_AFTER of work.
        let eta = if now.duration_since(self.start) >= RATE_AFTER && done > 0 && rate > 0.0 {
            format!(
                "ETA {:.0}s",
                (self.total.saturating_sub(done)) as f64 / rate
            )
        } else {
            "ETA --".to_string()
        };
        format!(
            "{} [{}{}] {} / {}  {}/s  {eta}",
            self.label,
            "#".repeat(filled),
            " ".repeat(30 - filled),
            human(done as f64),
            human(self.total as f64),
            human(rate),
        )
    }

    /// Clears the progress line.
    pub fn finish(&self) {
        if self.visible {
            draw("\r\x1b[K");
        }
    }
}

/// How long the rate must have been measured before an ETA is shown.
const RATE_AFTER: Duration = Duration::from_secs(2);

/// Writes `text` to stderr. Errors are ignored: a closed or full stderr must not stop (or, as
/// `eprint!` would, panic) the work the progress line only describes.
fn draw(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_bytes_rate_and_eta() {
        let p = Progress::start("pack", 4 << 30);
        p.advance(1 << 30);
        let line = p.line(1 << 30, p.start + Duration::from_secs(2));
        assert!(line.starts_with("pack [#######"), "{line}");
        assert!(
            line.contains("1.0 GiB / 4.0 GiB")
                && line.contains("512.0 MiB/s")
                && line.contains("ETA 6s"),
            "{line}"
        );
    }

    #[test]
    fn no_eta_until_the_rate_is_known() {
        let p = Progress::start("unpack", 4 << 30);
        let early = p.line(1 << 20, p.start + Duration::from_millis(200));
        assert!(early.ends_with("ETA --"), "{early}");
        let nothing = p.line(0, p.start + Duration::from_secs(5));
        assert!(nothing.ends_with("ETA --"), "{nothing}");
    }
}
