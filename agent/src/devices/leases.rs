//! Host names from dnsmasq's lease file (`/tmp/dhcp.leases` on OpenWRT): one lease per line,
//! `EXPIRY MAC IP HOSTNAME CLIENT-ID`, `*` for an unknown host name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::Mac;

/// Where OpenWRT's dnsmasq keeps its leases.
pub const DEFAULT_PATH: &str = "/tmp/dhcp.leases";

/// MAC -> host name from lease-file text; malformed lines are skipped.
pub fn parse(text: &str) -> HashMap<Mac, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_expiry, mac, _ip, host) = (f.next()?, f.next()?, f.next()?, f.next()?);
            if host == "*" {
                return None;
            }
            Some((mac.parse::<Mac>().ok()?, host.to_string()))
        })
        .collect()
}

/// The lease file, re-read when it changes.
#[derive(Debug)]
pub struct Leases {
    /// The file.
    path: PathBuf,
    /// Its modification time at the last read, and what it said.
    cache: Mutex<(Option<SystemTime>, HashMap<Mac, String>)>,
}

impl Leases {
    pub fn new(path: &Path) -> Self {
        Leases {
            path: path.to_path_buf(),
            cache: Mutex::new((None, HashMap::new())),
        }
    }

    /// The host name dnsmasq knows for `mac`.
    pub fn hostname(&self, mac: Mac) -> Option<String> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut c = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if mtime != c.0 {
            let map = std::fs::read_to_string(&self.path)
                .map(|t| parse(&t))
                .unwrap_or_default();
            *c = (mtime, map);
        }
        c.1.get(&mac).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dnsmasq_leases() {
        let text = "1732500000 aa:bb:cc:dd:ee:01 192.168.1.23 alice-laptop 01:aa:bb:cc:dd:ee:01\n\
                    1732500000 aa:bb:cc:dd:ee:02 192.168.1.24 * *\n\
                    garbage\n\
                    1732500000 AA:BB:CC:DD:EE:03 fd00::3 tv *\n";
        let m = parse(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[&"aa:bb:cc:dd:ee:01".parse().unwrap()], "alice-laptop");
        assert_eq!(m[&"aa:bb:cc:dd:ee:03".parse().unwrap()], "tv");
    }

    #[test]
    fn rereads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dhcp.leases");
        let l = Leases::new(&path);
        let mac: Mac = "aa:bb:cc:dd:ee:01".parse().unwrap();
        assert_eq!(l.hostname(mac), None, "a missing file is no error");
        std::fs::write(&path, "1 aa:bb:cc:dd:ee:01 10.0.0.2 first *\n").unwrap();
        assert_eq!(l.hostname(mac).as_deref(), Some("first"));
        // Same size, new content and a new mtime.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::write(&path, "1 aa:bb:cc:dd:ee:01 10.0.0.2 again *\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(l.hostname(mac).as_deref(), Some("again"));
    }
}
