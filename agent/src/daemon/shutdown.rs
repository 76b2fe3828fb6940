//! Shutdown as a value: subsystems hold a [`Shutdown`] and await it in their loops; the
//! daemon triggers it once on SIGTERM/SIGINT. Lifecycle is explicit, never implied by drops.

use tokio::sync::watch;

/// The sending half, owned by the daemon.
#[derive(Debug)]
pub struct ShutdownTrigger {
    /// `true` once shutdown has begun.
    tx: watch::Sender<bool>,
}

/// A receiver subsystems clone into their tasks.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Flips to `true` when the daemon stops.
    rx: watch::Receiver<bool>,
}

/// A linked trigger and receiver.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    /// Tells every holder of a [`Shutdown`] to stop.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// True once shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes when shutdown begins (at once if it already has).
    pub async fn recv(&mut self) {
        // An error means the trigger is gone, which only happens when the daemon is ending.
        let _ = self.rx.wait_for(|&v| v).await;
    }
}
