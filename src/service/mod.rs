//! Encrypted inference as an HTTP service (`blindfold serve`) and its client.
//!
//! The server holds one compiled circuit, prepared once ([`PreparedCircuit`]), and the
//! evaluation keys clients upload (a [`KeyStore`]); it never receives a secret key and refuses
//! one sent by mistake. The routes:
//!
//! - `GET /v1/circuit`: the circuit file, so a client checks what it talks to and encrypts in
//!   its layout;
//! - `POST /v1/keys`: evaluation keys for this circuit, answered with a key id;
//! - `POST /v1/infer` (header `x-key-id`): an encrypted input, answered with the encrypted
//!   output;
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//!
//! HTTP and I/O run on a small tokio runtime; CKKS work (binding keys, running the circuit)
//! runs on tokio's blocking pool, at most `max_concurrent` at a time, with at most `max_queue`
//! more requests admitted and waiting; beyond that the answer is 503 with `Retry-After`.
//! Errors are JSON with a stable `code` ([`ApiError`]). [`HttpClient`] is the other end.

mod api_error;
mod http_client;
mod key_store;
mod metrics;
mod routes;

pub use api_error::ApiError;
pub use http_client::{HttpClient, Inference};
pub use key_store::{KeyId, KeyStore, KeyStoreError};
pub use metrics::{Gauges, Metrics};

use crate::error::Error;
use crate::runtime::ckks::serial::to_hex;
use crate::server::PreparedCircuit;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Header naming the key id of `POST /v1/infer`.
pub const KEY_ID_HEADER: &str = "x-key-id";
/// Header of the circuit fingerprint (hex) on `GET /v1/circuit`.
pub const CIRCUIT_HEADER: &str = "x-blindfold-circuit";
/// Header of the largest body the server accepts, on `GET /v1/circuit` (so a client checks
/// before sending).
pub const MAX_BODY_HEADER: &str = "x-blindfold-max-body-bytes";
/// Header of the server time of an inference, in milliseconds.
pub const RUN_MS_HEADER: &str = "x-blindfold-run-ms";

/// Certificate and private key files (PEM) for HTTPS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// How to run the service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Address to listen on (port 0: any free port; [`RunningService::addr`] says which).
    pub addr: SocketAddr,
    /// Folder of the key store; `None` keeps keys in memory only (lost on restart). Keys of
    /// this circuit live in a sub-folder named by its fingerprint, so several services (or
    /// replicas) can share one folder.
    pub key_store: Option<PathBuf>,
    /// Cap on the bytes of stored keys; least recently used keys are evicted beyond it.
    pub key_store_bytes: u64,
    /// Largest request body accepted (evaluation keys are the largest).
    pub max_body_bytes: usize,
    /// CKKS jobs (inferences, key uploads) run at once.
    pub max_concurrent: usize,
    /// Requests admitted beyond the running ones, waiting for a slot.
    pub max_queue: usize,
    /// Key sets kept bound to the circuit in memory (each holds its evaluation keys).
    pub loaded_keys: usize,
    /// Bearer token the `/v1` routes require, if any.
    pub token: Option<String>,
    /// Serve HTTPS with these files instead of HTTP.
    pub tls: Option<TlsFiles>,
    /// Stop gracefully on Ctrl-C or SIGTERM (the CLI); tests stop with
    /// [`RunningService::shutdown`].
    pub stop_on_signals: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            key_store: None,
            key_store_bytes: 4 << 30,
            max_body_bytes: 256 << 20,
            max_concurrent: cores,
            max_queue: 4 * cores,
            loaded_keys: 8,
            token: None,
            tls: None,
            stop_on_signals: false,
        }
    }
}

/// Why the service could not start, or why a call of [`HttpClient`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another --addr or stop what uses it")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate and key: {0}; give PEM files with --tls-cert and --tls-key")]
    Tls(String),
    /// The key store could not be opened.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The server answered with an error.
    #[error("the server answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The server's explanation.
        message: String,
        /// Seconds the server asked to wait before trying again (503).
        retry_after: Option<u64>,
    },
    /// A body is larger than the server accepts (checked before sending it).
    #[error(
        "the {what} ({bytes} bytes) are larger than the server accepts ({limit} bytes); ask its \
         operator to raise --max-body-bytes"
    )]
    TooLarge {
        /// What was to be sent.
        what: &'static str,
        /// Its size.
        bytes: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The server could not be reached, or the exchange broke off.
    #[error("cannot talk to {url}: {detail}")]
    Transport {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The server answered something that is not what the protocol says.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// Keys, ciphertexts or the circuit were refused locally.
    #[error(transparent)]
    Blindfold(#[from] Error),
}

/// A service running on its own threads; dropping it stops it.
#[derive(Debug)]
pub struct RunningService {
    addr: SocketAddr,
    tls: bool,
    handle: axum_server::Handle<SocketAddr>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningService {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL (`http://` or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting requests, lets those running finish (up to 30 s), and returns.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop()
    }

    /// Blocks until the service stops (on a signal, with
    /// [`ServiceConfig::stop_on_signals`]).
    pub fn wait(mut self) -> std::io::Result<()> {
        self.wait_inner()
    }

    fn stop(&mut self) -> std::io::Result<()> {
        self.handle.graceful_shutdown(Some(Duration::from_secs(30)));
        self.wait_inner()
    }

    fn wait_inner(&mut self) -> std::io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the service thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

/// Starts the service for `prepared` on its own threads and returns once it listens.
pub fn start(
    prepared: PreparedCircuit,
    config: ServiceConfig,
) -> Result<RunningService, ServiceError> {
    if config.max_concurrent == 0 || config.loaded_keys == 0 {
        return Err(ServiceError::Config(
            "--max-concurrent and --loaded-keys must be at least 1".into(),
        ));
    }
    // One process-wide TLS crypto provider (ring), for the server and the client alike; a
    // second installation attempt is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fingerprint = prepared.fingerprint();
    let store = match &config.key_store {
        Some(dir) => KeyStore::open(&dir.join(to_hex(&fingerprint)), config.key_store_bytes)?,
        None => KeyStore::in_memory(config.key_store_bytes),
    };
    let listener =
        std::net::TcpListener::bind(config.addr).map_err(|source| ServiceError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServiceError::Bind {
        addr: config.addr,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServiceError::Bind { addr, source })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("blindfold-http")
        .enable_all()
        .build()
        .map_err(|e| ServiceError::Config(format!("cannot start the async runtime: {e}")))?;
    let tls = match &config.tls {
        Some(files) => Some(
            runtime
                .block_on(axum_server::tls_rustls::RustlsConfig::from_pem_file(
                    &files.cert,
                    &files.key,
                ))
                .map_err(|e| ServiceError::Tls(e.to_string()))?,
        ),
        None => None,
    };
    let state = Arc::new(routes::AppState::new(prepared, store, &config));
    let app = routes::router(state);
    let handle = axum_server::Handle::new();
    let served = handle.clone();
    // Registered before the service listens: a signal sent as soon as the address is printed
    // must stop it, not kill it.
    let signals = if config.stop_on_signals {
        let _context = runtime.enter();
        Some(StopSignals::register().map_err(|e| {
            ServiceError::Config(format!("cannot listen for Ctrl-C and SIGTERM: {e}"))
        })?)
    } else {
        None
    };
    let is_tls = tls.is_some();
    let thread = std::thread::Builder::new()
        .name("blindfold-serve".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Some(signals) = signals {
                    let on_signal = served.clone();
                    tokio::spawn(async move {
                        signals.wait().await;
                        on_signal.graceful_shutdown(Some(Duration::from_secs(30)));
                    });
                }
                let service = app.into_make_service_with_connect_info::<SocketAddr>();
                match tls {
                    Some(tls) => {
                        axum_server::from_tcp_rustls(listener, tls)?
                            .handle(served)
                            .serve(service)
                            .await
                    }
                    None => {
                        axum_server::from_tcp(listener)?
                            .handle(served)
                            .serve(service)
                            .await
                    }
                }
            })
        })
        .map_err(|e| ServiceError::Config(format!("cannot start the service thread: {e}")))?;
    Ok(RunningService {
        addr,
        tls: is_tls,
        handle,
        thread: Some(thread),
    })
}

/// Ctrl-C and SIGTERM, the signals that stop the service gracefully.
struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers now (inside a Tokio runtime context), so that no signal is missed
    /// between the start of the service and the first wait.
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves on the first of the signals.
    async fn wait(self) {
        #[cfg(unix)]
        {
            let Self {
                mut terminate,
                mut interrupt,
            } = self;
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
