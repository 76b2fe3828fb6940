//! Shaping in the daemon: plan and apply at start and after every accepted reload.
//!
//! The netlink socket is synchronous, so each reconcile runs on a blocking thread. The kernel
//! is probed once (which leaf qdiscs and classifiers exist); the probe is repeated only if it
//! failed. A failed apply has already been rolled back by the executor: the log says what the
//! kernel refused, and the previous shaping stays in force.

use std::sync::Arc;

use crate::config::Config;
use crate::daemon::{BoxFuture, Reconciled, Shutdown, Subsystem, SubsystemError};
use crate::netlink::{shaping as exec, socket::RouteSocket};

use super::{plan, Capabilities, PlanInputs};

/// The shaping subsystem.
pub struct Shaping {
    /// What the kernel offers, once probed.
    caps: Option<Capabilities>,
    /// Where `/status` reads what shaping did.
    sources: Option<Arc<crate::control::Sources>>,
}

impl Shaping {
    pub fn new(sources: Option<Arc<crate::control::Sources>>) -> Self {
        Shaping {
            caps: None,
            sources,
        }
    }

    fn publish(&self, v: serde_json::Value) {
        if let Some(s) = &self.sources {
            s.set_shaping(v);
        }
    }
}

fn err(message: String) -> SubsystemError {
    SubsystemError {
        subsystem: "shaping",
        message,
    }
}

impl Subsystem for Shaping {
    fn name(&self) -> &'static str {
        "shaping"
    }

    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        _shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>> {
        Box::pin(async move {
            if config.shapers.is_empty() {
                self.publish(serde_json::json!({"enabled": false}));
                return Ok(Reconciled {
                    changes: 0,
                    summary: "off (no shaper section)".into(),
                });
            }
            let cfg = config.clone();
            let known = self.caps;
            let (caps, result) = tokio::task::spawn_blocking(move || {
                let mut sock =
                    RouteSocket::open().map_err(|e| err(format!("cannot open netlink: {e}")))?;
                let caps = match known {
                    Some(c) => c,
                    None => exec::probe(&mut sock).map_err(|e| {
                        err(format!(
                            "cannot probe the kernel (hearth needs CAP_NET_ADMIN): {e}"
                        ))
                    })?,
                };
                let p = plan(
                    &cfg,
                    &PlanInputs {
                        caps,
                        ..Default::default()
                    },
                )
                .map_err(|e| err(e.to_string()))?;
                let report = exec::apply(&mut sock, &p).map_err(|e| err(e.to_string()))?;
                Ok::<_, SubsystemError>((caps, (report, p.leaf)))
            })
            .await
            .map_err(|e| err(format!("apply task failed: {e}")))
            .and_then(|r| r)
            .inspect_err(|e| {
                self.publish(serde_json::json!({"enabled": true, "error": e.message}));
            })?;
            self.caps = Some(caps);
            let (report, leaf) = result;
            self.publish(serde_json::json!({
                "enabled": true,
                "devices": report.devices,
                "leaf": leaf.map(|l| format!("{l:?}")),
                "capabilities": {"cake": caps.cake, "fq_codel": caps.fq_codel, "fw": caps.fw},
                "last_changes": report.changes,
            }));
            for a in &report.actions {
                log::debug!("shaping: {a}");
            }
            Ok(Reconciled {
                changes: report.changes,
                summary: format!(
                    "{} device(s) shaped ({}), leaf {}",
                    report.devices.len(),
                    report.devices.join(", "),
                    leaf.map(|l| format!("{l:?}")).unwrap_or_else(|| "-".into())
                ),
            })
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>> {
        // Shaping stays in force while the agent restarts (procd respawn); `hearth apply
        // --remove` takes it down.
        Box::pin(async { Ok(()) })
    }
}
