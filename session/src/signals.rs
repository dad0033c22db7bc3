//! The signals that stop a pvflow process: SIGINT (Ctrl-C) and SIGTERM (what Kubernetes,
//! Airflow and Step Functions send). A stopped run cleans up and exits with 128 + the signal's
//! number, as shells report a process killed by it; the scheduler and the API stop serving.

use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM. If a handler cannot be installed, that signal keeps
/// its default action (the process dies), which is logged.
pub async fn stop() -> Signal {
    let wait = |kind: SignalKind, name: &'static str| async move {
        match signal(kind) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(e) => {
                tracing::warn!(signal = name, error = %e, "cannot handle the signal");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = wait(SignalKind::interrupt(), "SIGINT") => Signal::Interrupt,
        () = wait(SignalKind::terminate(), "SIGTERM") => Signal::Terminate,
    }
}
