//! `hearth run`: the daemon's lifecycle.
//!
//! Start: load and validate the config (refuse to start on a bad one), then reconcile every
//! subsystem. `SIGHUP`: load the file again; a bad new config is reported and the running
//! one is kept; a good one is reconciled. `SIGTERM`/`SIGINT`: trigger [`Shutdown`], then give
//! every subsystem a bounded time to flush its state, in reverse start order.
//!
//! Reconcile is the one shape every subsystem follows: config -> desired state (pure) ->
//! apply to the world. Later issues plug shaping, VPN, the balancer, budgets and the planner
//! in as [`Subsystem`]s.

pub mod shutdown;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, Config, LoadError};
pub use shutdown::Shutdown;

/// A boxed future, so subsystems can be kept as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a subsystem could not reach its desired state.
#[derive(Debug, thiserror::Error)]
#[error("{subsystem}: {message}")]
pub struct SubsystemError {
    /// Which subsystem failed.
    pub subsystem: &'static str,
    /// What failed and what state it left (a subsystem rolls back before returning this).
    pub message: String,
}

/// What a reconcile pass did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Number of changes made to the world (0 when already in the desired state).
    pub changes: usize,
    /// One-line human summary.
    pub summary: String,
}

/// A part of the agent that turns config into state in the world.
pub trait Subsystem {
    /// Short name for logs (`shaping`, `vpn`, `balancer`, ...).
    fn name(&self) -> &'static str;

    /// Brings the world to the state `config` asks for. Called at start and after every
    /// successful reload; must be idempotent (an unchanged config makes no changes) and must
    /// leave the previous state in place when it fails.
    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>>;

    /// Persists whatever must survive a restart. Called once at shutdown.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>>;
}

/// How long one subsystem may take to flush at shutdown before we stop waiting.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The running agent: current config, its generation, and the subsystems.
pub struct Daemon {
    /// Where the config comes from (re-read on reload).
    path: PathBuf,
    /// The config in force.
    config: Arc<Config>,
    /// Bumped on every accepted reload, for logs and status.
    generation: u64,
    /// Every subsystem, in start order.
    subsystems: Vec<Box<dyn Subsystem>>,
    /// Fired once at shutdown.
    trigger: shutdown::ShutdownTrigger,
    /// Handed to subsystems.
    shutdown: Shutdown,
}

/// Prints config problems one per line, as `hearth check` does.
pub fn report_load_error(err: &LoadError) {
    for line in err.lines() {
        log::error!("{line}");
    }
}

impl Daemon {
    /// Loads the config at `path` and prepares the subsystems (nothing is applied yet).
    pub fn new(path: PathBuf, subsystems: Vec<Box<dyn Subsystem>>) -> Result<Daemon, LoadError> {
        let config = Arc::new(config::load(&path)?);
        let (trigger, shutdown) = shutdown::channel();
        Ok(Daemon {
            path,
            config,
            generation: 1,
            subsystems,
            trigger,
            shutdown,
        })
    }

    /// The config in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    async fn reconcile_all(&mut self) {
        for s in &mut self.subsystems {
            match s.reconcile(&self.config, &self.shutdown).await {
                Ok(r) => log::info!("{}: {} ({} changes)", s.name(), r.summary, r.changes),
                Err(e) => log::error!("{e}"),
            }
        }
    }

    /// SIGHUP: adopt the file's new content if it is valid; keep the running one otherwise.
    pub async fn reload(&mut self) -> bool {
        log::info!("reload requested: reading {}", self.path.display());
        match config::load(&self.path) {
            Ok(new) => {
                log::set_max_level(new.agent.log_level.filter());
                if *self.config == new {
                    log::info!(
                        "config unchanged (generation {}); checking the world anyway",
                        self.generation
                    );
                } else {
                    self.generation += 1;
                    log::info!(
                        "config generation {} loaded from {}",
                        self.generation,
                        self.path.display()
                    );
                }
                self.config = Arc::new(new);
                self.reconcile_all().await;
                true
            }
            Err(e) => {
                report_load_error(&e);
                log::error!(
                    "the new config is invalid; still running generation {} (fix the file and reload again)",
                    self.generation
                );
                false
            }
        }
    }

    /// Runs until SIGTERM or SIGINT, then flushes every subsystem.
    pub async fn run(mut self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        log::info!(
            "hearth {} started (pid {}); config generation 1 from {}",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            self.path.display()
        );
        raise_open_files_limit();
        self.reconcile_all().await;
        log::info!("ready");
        loop {
            tokio::select! {
                _ = hup.recv() => { self.reload().await; }
                _ = term.recv() => { log::info!("SIGTERM: shutting down"); break; }
                _ = int.recv() => { log::info!("SIGINT: shutting down"); break; }
            }
        }
        self.stop().await;
        Ok(())
    }

    /// Triggers shutdown and flushes subsystems in reverse order, each within a time bound.
    pub async fn stop(&mut self) {
        self.trigger.trigger();
        for s in self.subsystems.iter_mut().rev() {
            let name = s.name();
            match tokio::time::timeout(FLUSH_TIMEOUT, s.flush()).await {
                Ok(Ok(())) => log::debug!("{name}: flushed"),
                Ok(Err(e)) => log::error!("{e}"),
                Err(_) => {
                    log::error!("{name}: flush took longer than {FLUSH_TIMEOUT:?}; giving up")
                }
            }
        }
        log::info!("shutdown complete");
    }
}

/// The subsystems this build runs, in start order (shaping, VPN, budgets and the planner
/// join as their issues land).
pub fn subsystems() -> Vec<Box<dyn Subsystem>> {
    let neighbors = crate::balancer::NeighborLookup::system(std::path::Path::new(
        crate::devices::leases::DEFAULT_PATH,
    ));
    let budgets = crate::budget::subsystem::BudgetSubsystem::new();
    let ledgers = budgets.budgets();
    let balancer =
        crate::balancer::server::Balancer::new(crate::balancer::log_settlement(), Some(neighbors))
            .with_budgets(budgets.budgets());
    let sources = crate::control::Sources::new(Some(balancer.handle()), Some(budgets.budgets()));
    // Budgets load their ledger before the balancer takes requests.
    vec![
        Box::new(crate::control::Control::new(sources.clone())),
        Box::new(budgets),
        Box::new(crate::shaping::subsystem::Shaping::new(
            Some(sources.clone()),
            Some(ledgers),
        )),
        Box::new(crate::vpn::subsystem::VpnSubsystem::new(Some(sources))),
        Box::new(balancer),
    ]
}

#[cfg(test)]
mod tests;

/// Raises the soft limit on open files to the hard limit: every proxied stream holds two
/// sockets, so the kernel's soft default of 1024 would cap the balancer near 500 streams while
/// the hard limit allows more (4096 by the kernel's default, 8192 from our procd init script,
/// 524288 under systemd). Failure only logs.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => log::debug!("open files limit raised from {soft} to {hard}"),
            Err(e) => log::warn!("cannot raise the open files limit from {soft}: {e}"),
        },
        Ok(_) => {}
        Err(e) => log::warn!("cannot read the open files limit: {e}"),
    }
}
