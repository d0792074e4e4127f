//! Shutdown: one signal that stops the accept loop and asks every
//! connection to finish its in-flight requests and close.

use std::future::Future;

/// Resolves on SIGTERM or SIGINT (Ctrl-C): what `rsgi serve` and the
/// examples stop on.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A shutdown trigger that can be fired from anywhere, for tests and
/// embedding: [`Trigger::fire`] makes [`Trigger::wait`] resolve.
#[derive(Clone, Debug)]
pub struct Trigger {
    /// `true` once shutdown was asked for; every `wait` watches it.
    tx: tokio::sync::watch::Sender<bool>,
}

impl Trigger {
    /// A trigger not fired yet.
    pub fn new() -> Self {
        Trigger { tx: tokio::sync::watch::Sender::new(false) }
    }

    /// Asks for shutdown.
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once [`Trigger::fire`] was called.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let _ = rx.wait_for(|fired| *fired).await;
        }
    }
}

impl Default for Trigger {
    fn default() -> Self {
        Self::new()
    }
}
