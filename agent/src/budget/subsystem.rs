//! Budgets in the daemon: the ledgers are loaded from `state_dir` at start, configured from
//! every accepted config, and saved at most every `flush_interval` seconds when something
//! changed, at once when a period ends, and at shutdown.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::store::{self, Store};
use super::{limits, now, Budgets, Tz};
use crate::config::Config;
use crate::daemon::{BoxFuture, Reconciled, Shutdown, Subsystem, SubsystemError};

/// How often the saver looks at the clock.
const TICK: Duration = Duration::from_secs(1);

/// Where and how often to save (follows reloads).
struct Saving {
    dir: PathBuf,
    interval: Duration,
}

/// The budgets subsystem.
pub struct BudgetSubsystem {
    budgets: Arc<Budgets>,
    saving: Arc<Mutex<Option<Saving>>>,
    /// The ledger was loaded (first reconcile).
    loaded: bool,
    saver: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
}

fn err(message: String) -> SubsystemError {
    SubsystemError {
        subsystem: "budgets",
        message,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Saves the ledger if anything changed (or a period ended); logs failures. `last` is the
/// save at shutdown, after which there is no next attempt.
fn save_now(budgets: &Budgets, dir: &std::path::Path, last: bool) {
    let t = now();
    let Some(snapshot) = budgets.take_snapshot(t) else {
        return;
    };
    if let Err(e) = Store::new(dir).save(&store::encode(&snapshot, t)) {
        let then = if last {
            "spending since the last successful save is lost (the ledger there is kept as it was)"
        } else {
            "spending is kept in memory and saved again next time"
        };
        log::error!(
            "budgets: cannot save the ledger to {}: {e}; {then}",
            dir.display()
        );
        // Keep it dirty so the next tick tries again.
        budgets.mark_dirty();
    }
}

impl BudgetSubsystem {
    pub fn new() -> Self {
        BudgetSubsystem {
            budgets: Arc::new(Budgets::new(Tz::utc(), Vec::new())),
            saving: Arc::new(Mutex::new(None)),
            loaded: false,
            saver: None,
            stop: None,
        }
    }

    /// The ledgers the balancer, the control socket and shaping share.
    pub fn budgets(&self) -> Arc<Budgets> {
        self.budgets.clone()
    }

    fn start_saver(&mut self) {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let budgets = self.budgets.clone();
        let saving = self.saving.clone();
        self.saver = Some(tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = rx.changed() => return,
                }
                let Some((dir, interval)) =
                    lock(&saving).as_ref().map(|s| (s.dir.clone(), s.interval))
                else {
                    continue;
                };
                let due = last.elapsed() >= interval || budgets.rolled(now());
                if due {
                    last = Instant::now();
                    let b = budgets.clone();
                    let _ = tokio::task::spawn_blocking(move || save_now(&b, &dir, false)).await;
                }
            }
        }));
        self.stop = Some(tx);
    }
}

impl Default for BudgetSubsystem {
    fn default() -> Self {
        Self::new()
    }
}

impl Subsystem for BudgetSubsystem {
    fn name(&self) -> &'static str {
        "budgets"
    }

    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        _shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>> {
        Box::pin(async move {
            let tz = Tz::system(config.agent.timezone.as_deref()).map_err(err)?;
            let l = limits(config);
            let n = l.len();
            let zone = tz.spec.clone();
            self.budgets.configure(tz, l);
            if let Some(b) = &config.balancer {
                self.budgets.configure_anomaly(super::anomaly::Settings {
                    factor: b.anomaly_factor as f64 / 1e6,
                    min: b.anomaly_min.0,
                    window: i64::from(b.anomaly_window),
                    shift: b.anomaly_shift,
                });
            }
            // Shaping's LAN classes count every byte of a device, LLM answers included.
            self.budgets
                .count_llm_bytes(!config.shapers.iter().any(|s| s.lan_device.is_some()));
            let dir = config.agent.state_dir.clone();
            let mut summary = format!("{n} budget(s), time zone {zone}");
            if !self.loaded {
                let loaded = {
                    let dir = dir.clone();
                    tokio::task::spawn_blocking(move || Store::new(&dir).load())
                        .await
                        .map_err(|e| err(format!("loading the ledger failed: {e}")))?
                };
                for p in &loaded.problems {
                    log::error!("budgets: {p}");
                }
                match (loaded.ledger, loaded.from) {
                    (Some(l), Some(from)) => {
                        summary.push_str(&format!(
                            ", ledger {} ({} accounts)",
                            from.display(),
                            l.accounts.len()
                        ));
                        self.budgets.restore(l.accounts);
                    }
                    _ if !loaded.problems.is_empty() => {
                        log::error!(
                            "budgets: no readable ledger in {}: spending starts from zero (the damaged files are kept as *.corrupt)",
                            dir.display()
                        );
                    }
                    _ => summary.push_str(", new ledger"),
                }
                self.loaded = true;
            }
            *lock(&self.saving) = Some(Saving {
                dir,
                interval: Duration::from_secs(u64::from(config.agent.flush_interval)),
            });
            if self.saver.is_none() {
                self.start_saver();
            }
            Ok(Reconciled {
                changes: 0,
                summary,
            })
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>> {
        Box::pin(async move {
            if let Some(tx) = self.stop.take() {
                let _ = tx.send(true);
            }
            if let Some(h) = self.saver.take() {
                let _ = h.await;
            }
            let dir = lock(&self.saving).as_ref().map(|s| s.dir.clone());
            if let Some(dir) = dir {
                let b = self.budgets.clone();
                tokio::task::spawn_blocking(move || save_now(&b, &dir, true))
                    .await
                    .map_err(|e| err(format!("saving the ledger failed: {e}")))?;
            }
            Ok(())
        })
    }
}
