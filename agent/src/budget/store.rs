//! The ledger file in `state_dir` (flash on a router): settled spending per scope and period.
//!
//! Format: one header line, then JSON —
//!
//! ```text
//! hearth-ledger 1 fnv1a64=0123456789abcdef len=1234
//! {"saved_at":1764000000,"accounts":[{"scope":"group:kids","period":"month","id":"2026-11",...}]}
//! ```
//!
//! The checksum (FNV-1a, 64 bit) and length cover the JSON, so a torn or bit-flipped file is
//! detected. Saving writes `ledger.json.tmp`, fsyncs it, moves the current file to
//! `ledger.json.1` (the previous generation), renames the new one into place and fsyncs the
//! directory: at every instant one complete, checked copy exists. Loading takes
//! `ledger.json`, else `ledger.json.1`; a file that fails its check is kept aside as
//! `*.corrupt` and named in the log — a budget is never silently zeroed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Account, PeriodKind, Scope};

/// File name in `state_dir`.
pub const FILE: &str = "ledger.json";
const VERSION: u32 = 1;

/// FNV-1a 64-bit (the parameters of the public FNV specification).
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The ledger as bytes.
pub fn encode(accounts: &[(Scope, PeriodKind, Account)], saved_at: i64) -> Vec<u8> {
    let list: Vec<serde_json::Value> = accounts
        .iter()
        .map(|(s, k, a)| {
            serde_json::json!({
                "scope": s.key(),
                "period": k.as_str(),
                "id": a.period,
                "money_micro": a.money,
                "tokens": a.tokens,
                "bytes": a.bytes,
                "requests": a.requests,
            })
        })
        .collect();
    let body = serde_json::json!({"saved_at": saved_at, "accounts": list}).to_string();
    let mut out = format!(
        "hearth-ledger {VERSION} fnv1a64={:016x} len={}\n",
        fnv1a64(body.as_bytes()),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// A decoded ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub saved_at: i64,
    pub accounts: Vec<(Scope, PeriodKind, Account)>,
}

/// Reads and checks a ledger; the error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<Ledger, String> {
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| "header is not text")?;
    let body = &bytes[nl + 1..];
    let mut parts = header.split(' ');
    if parts.next() != Some("hearth-ledger") {
        return Err("not a hearth ledger".into());
    }
    let version: u32 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or("no version")?;
    if version != VERSION {
        return Err(format!("version {version} (this hearth reads {VERSION})"));
    }
    let sum = parts
        .next()
        .and_then(|p| p.strip_prefix("fnv1a64="))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or("no checksum")?;
    let len: usize = parts
        .next()
        .and_then(|p| p.strip_prefix("len="))
        .and_then(|l| l.parse().ok())
        .ok_or("no length")?;
    if body.len() != len {
        return Err(format!(
            "{} bytes of data, the header says {len} (torn write)",
            body.len()
        ));
    }
    if fnv1a64(body) != sum {
        return Err("checksum mismatch".into());
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))?;
    let mut accounts = Vec::new();
    for (i, a) in v["accounts"]
        .as_array()
        .ok_or("no accounts")?
        .iter()
        .enumerate()
    {
        let bad = |what: &str| format!("accounts[{i}]: {what}");
        let scope = a["scope"]
            .as_str()
            .and_then(Scope::from_key)
            .ok_or_else(|| bad("bad scope"))?;
        let kind = match a["period"].as_str() {
            Some("day") => PeriodKind::Day,
            Some("month") => PeriodKind::Month,
            _ => return Err(bad("bad period")),
        };
        let num = |k: &str| a[k].as_u64().ok_or_else(|| bad(&format!("bad {k}")));
        accounts.push((
            scope,
            kind,
            Account {
                period: a["id"].as_str().ok_or_else(|| bad("bad id"))?.to_string(),
                money: num("money_micro")?,
                tokens: num("tokens")?,
                bytes: num("bytes")?,
                requests: num("requests")?,
                reserved_money: 0,
                reserved_tokens: 0,
            },
        ));
    }
    Ok(Ledger {
        saved_at: v["saved_at"].as_i64().unwrap_or(0),
        accounts,
    })
}

/// Where the ledger and its previous generation live.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    pub ledger: Option<Ledger>,
    /// Which file it came from.
    pub from: Option<PathBuf>,
    /// Problems met on the way (bad files kept aside), for the log.
    pub problems: Vec<String>,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn previous(&self) -> PathBuf {
        self.dir.join(format!("{FILE}.1"))
    }

    /// Saves atomically (temp + fsync + rename + fsync dir), keeping the previous copy. A
    /// failed save leaves the files as they were: the partial temp copy is removed, since on
    /// a full flash it would hold the very space everything else on the router needs back.
    pub fn save(&self, bytes: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let saved = self.replace_with(&tmp, bytes);
        if saved.is_err() {
            // Gone already when the failure came after the rename (the directory's fsync).
            let _ = fs::remove_file(&tmp);
        }
        saved
    }

    /// Writes `bytes` to `tmp` and renames it into place, the current copy becoming the
    /// previous one.
    fn replace_with(&self, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        let cur = self.path();
        if cur.exists() {
            // Keep the last good copy: only a file that checks becomes the previous one.
            let good = fs::read(&cur).map(|b| decode(&b).is_ok()).unwrap_or(false);
            if good {
                fs::rename(&cur, self.previous())?;
            }
        }
        fs::rename(tmp, &cur)?;
        File::open(&self.dir)?.sync_all()
    }

    /// Loads the newest copy that checks; bad copies are renamed to `*.corrupt`.
    pub fn load(&self) -> Loaded {
        let mut problems = Vec::new();
        for path in [self.path(), self.previous()] {
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    problems.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            match decode(&bytes) {
                Ok(l) => {
                    return Loaded {
                        ledger: Some(l),
                        from: Some(path),
                        problems,
                    }
                }
                Err(why) => {
                    let aside = path.with_extension(format!(
                        "{}.corrupt",
                        path.extension().and_then(|e| e.to_str()).unwrap_or("")
                    ));
                    let kept = fs::rename(&path, &aside).is_ok();
                    problems.push(format!(
                        "{} is damaged ({why}){}",
                        path.display(),
                        if kept {
                            format!("; kept as {}", aside.display())
                        } else {
                            String::new()
                        }
                    ));
                }
            }
        }
        Loaded {
            ledger: None,
            from: None,
            problems,
        }
    }
}
