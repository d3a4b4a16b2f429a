//! The audit log: one JSON line per verify/unpack decision, each carrying the sha256 of the line
//! before it (64 zeros for the first), so a deleted, inserted or edited line breaks the chain that
//! `airlock audit verify` checks.
use crate::container::SignedManifest;
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{hex, sha256};
use crate::format::time::Timestamp;
use crate::receive::verify::VerifyReport;
use serde_json::{Map, Value, json};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The `prev_sha256` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const MAX_LINE: u64 = 1 << 20;

/// Builds the record of one decision.
pub fn record(
    command: &str,
    bundle: &Path,
    opened: Option<&SignedManifest>,
    outcome: std::result::Result<&VerifyReport, &Error>,
    now: Timestamp,
) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("time".into(), json!(now.to_string()));
    r.insert("command".into(), json!(command));
    r.insert("file".into(), json!(bundle.display().to_string()));
    if let Some(o) = opened {
        let b = &o.manifest.bundle;
        r.insert(
            "bundle".into(),
            json!({"name": b.name, "version": b.version, "sequence": b.sequence, "target": b.target}),
        );
        r.insert("manifest_sha256".into(), json!(hex(&o.manifest_sha256)));
        r.insert("suite".into(), json!(o.manifest.layout.suite));
        r.insert("manifest_digest".into(), json!(o.manifest_digest));
        if let Some(p) = &o.manifest.policy {
            r.insert("policy".into(), json!({"id": p.id, "version": p.version}));
        }
    }
    match outcome {
        Ok(report) => {
            r.insert("outcome".into(), json!("accepted"));
            r.insert("signers".into(), json!(report.signers));
            r.insert("policy_signers".into(), json!(report.policy.signers));
            let checks: Vec<Value> = report
                .checks
                .iter()
                .map(|c| json!({"check": c.check, "result": "pass", "detail": c.detail}))
                .collect();
            r.insert("checks".into(), Value::Array(checks));
        }
        Err(e) => {
            r.insert(
                "outcome".into(),
                json!(if e.exit_code() == 1 {
                    "rejected"
                } else {
                    "error"
                }),
            );
            r.insert(
                "checks".into(),
                json!([{"check": e.check_name(), "result": "fail", "detail": e.to_string()}]),
            );
        }
    }
    r
}

fn last_line(file: &mut File, path: &Path) -> Result<Option<Vec<u8>>> {
    let len = file.metadata().ctx("read", path)?.len();
    if len == 0 {
        return Ok(None);
    }
    let start = len.saturating_sub(MAX_LINE + 1);
    file.seek(SeekFrom::Start(start)).ctx("seek in", path)?;
    let mut tail = Vec::new();
    file.take(len - start)
        .read_to_end(&mut tail)
        .ctx("read", path)?;
    if tail.last() != Some(&b'\n') {
        return Err(Error::rejected(
            path,
            Check::AuditLog,
            "the last line is incomplete (no newline): the log was truncated or is being written",
        ));
    }
    tail.pop();
    match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => Ok(Some(tail[i + 1..].to_vec())),
        None if start == 0 => Ok(Some(tail)),
        None => Err(Error::rejected(
            path,
            Check::AuditLog,
            "the last line is longer than 1 MiB",
        )),
    }
}

/// Appends `record` to the log at `path`, chained to the current last line, under a lock.
pub fn append(path: &Path, mut record: Map<String, Value>) -> Result<()> {
    // Non-blocking, so a FIFO at the log's path fails at once (ENXIO) instead of hanging.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .ctx("open audit log", path)?;
    if !file.metadata().ctx("read", path)?.is_file() {
        return Err(Error::config(
            path,
            "the audit log is not a regular file",
            "pass --audit-log the path of a regular file (it is created if missing)",
        ));
    }
    file.lock().ctx("lock", path)?;
    let prev = match last_line(&mut file, path)? {
        None => GENESIS.to_string(),
        Some(line) => hex(&sha256(&line)),
    };
    record.insert("prev_sha256".into(), json!(prev));
    let mut line =
        serde_json::to_vec(&Value::Object(record)).map_err(|e| Error::Internal(e.to_string()))?;
    line.push(b'\n');
    file.write_all(&line).ctx("append to", path)?;
    file.sync_all().ctx("sync", path)
}

/// What `audit verify` found.
#[derive(Debug, serde::Serialize)]
pub struct ChainReport {
    /// Lines checked.
    pub lines: usize,
    /// sha256 of the last line (to compare with a copy kept elsewhere: truncation at the end is
    /// detectable only against such an anchor).
    pub head_sha256: String,
}

/// Checks every line's JSON and chain link.
pub fn verify_chain(path: &Path) -> Result<ChainReport> {
    let file = crate::util::fs::open_input(path, "audit log")?;
    let mut reader = BufReader::new(file);
    let mut prev = GENESIS.to_string();
    let mut lines = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).ctx("read", path)?;
        if n == 0 {
            break;
        }
        lines += 1;
        let reject =
            |d: String| Error::rejected(path, Check::AuditLog, format!("line {lines}: {d}"));
        if buf.pop() != Some(b'\n') {
            return Err(reject("incomplete line (no newline)".into()));
        }
        let value: Value =
            serde_json::from_slice(&buf).map_err(|e| reject(format!("not JSON: {e}")))?;
        let link = value
            .get("prev_sha256")
            .and_then(Value::as_str)
            .unwrap_or("");
        if link != prev {
            return Err(reject(format!(
                "prev_sha256 is {link}, but the line before hashes to {prev}: a line was edited, removed or inserted"
            )));
        }
        prev = hex(&sha256(&buf));
    }
    Ok(ChainReport {
        lines,
        head_sha256: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_detects_edits_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        for i in 0..3 {
            let mut r = Map::new();
            r.insert("n".into(), json!(i));
            append(&log, r).unwrap();
        }
        assert_eq!(verify_chain(&log).unwrap().lines, 3);
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&log, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(
            verify_chain(&log)
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
        std::fs::write(&log, text.replace("\"n\":1", "\"n\":7")).unwrap();
        assert!(
            verify_chain(&log)
                .unwrap_err()
                .to_string()
                .contains("line 3")
        );
    }
}
