//! TLS for pvflow's servers: a rustls acceptor from a PEM certificate chain and key (the run
//! API's `[api] tls_cert`/`tls_key`, Flight SQL's `[flight_sql] tls_cert`/`tls_key`), and an
//! axum listener whose connections completed their handshake.
//!
//! ```no_run
//! # async fn serve(router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! let acceptor = pvflow_tls::acceptor(
//!     Some(Path::new("/etc/pvflow-tls/tls.crt")),
//!     Some(Path::new("/etc/pvflow-tls/tls.key")),
//!     pvflow_tls::Protocol::Http1,
//! )?
//! .expect("both files given");
//! let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! axum::serve(pvflow_tls::TlsListener::new(tcp, acceptor)?, router).await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls_cert and tls_key go together: {0} is set, the other not")]
    Half(&'static str),
    #[error("cannot read the certificate chain {path}: {why}")]
    Certificate { path: PathBuf, why: String },
    #[error("cannot read the private key {path}: {why}")]
    Key { path: PathBuf, why: String },
    #[error("{cert} and {key} do not make a TLS configuration: {why}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        why: String,
    },
}

/// A client has this long to complete its handshake; a silent one is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server speaks inside TLS, which it announces in the handshake (ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, announced by nothing: what every client assumes.
    Http1,
    /// HTTP/2 (`h2`), which gRPC clients such as Flight SQL's insist on.
    Http2,
}

/// The acceptor for `cert` and `key` (PEM) serving `protocol`, when both are set; `None` when
/// neither is.
pub fn acceptor(
    cert: Option<&Path>,
    key: Option<&Path>,
    protocol: Protocol,
) -> Result<Option<TlsAcceptor>, TlsError> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(TlsError::Half("tls_cert")),
        (None, Some(_)) => return Err(TlsError::Half("tls_key")),
        (Some(cert), Some(key)) => (cert, key),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.into(),
            why: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.into(),
            why: "it holds no certificate".into(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.into(),
        why: e.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| TlsError::Config {
            cert: cert.into(),
            key: key.into(),
            why: e.to_string(),
        })?;
    if protocol == Protocol::Http2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// A listener whose connections completed a TLS handshake. Handshakes run concurrently, so a
/// slow or silent client delays no other.
pub struct TlsListener {
    local: SocketAddr,
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp`, handshaking with `acceptor`, until the listener is dropped.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (send, handshaken) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: pause, as axum's listener does.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if send.is_closed() {
                    return;
                }
                let (acceptor, send) = (acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = send.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, handshaken })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task ended, which it does only once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
