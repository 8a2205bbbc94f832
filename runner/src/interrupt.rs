//! Ctrl-C and SIGTERM during a run.
//!
//! The handlers are installed before the run creates anything, so a signal at any moment
//! (even while namespaces are being made) is caught, the cluster is torn down, and the
//! run ends `unknown` as interrupted instead of dying with its namespaces and servers
//! left behind.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// An Interrupt watches for SIGINT and SIGTERM from the moment it is installed.
pub struct Interrupt {
    fired: watch::Receiver<Option<&'static str>>,
}

impl Interrupt {
    /// Installs the handlers: from now on these signals no longer kill the process.
    pub fn install() -> std::io::Result<Interrupt> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, fired) = watch::channel(None);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = tx.send(Some(name));
        });
        Ok(Interrupt { fired })
    }

    /// The signal that arrived, if one has.
    pub fn fired(&self) -> Option<&'static str> {
        *self.fired.borrow()
    }

    /// Resolves with the signal's name once one arrives.
    pub async fn wait(&self) -> &'static str {
        let mut rx = self.fired.clone();
        loop {
            if let Some(name) = *rx.borrow_and_update() {
                return name;
            }
            if rx.changed().await.is_err() {
                // The watcher is gone without a signal: never resolve.
                std::future::pending::<()>().await;
            }
        }
    }
}
