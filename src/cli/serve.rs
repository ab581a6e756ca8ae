//! `blindfold serve model.bfc`: encrypted inference as an HTTP service (see
//! `blindfold::service` and docs/service.md).

use super::keygen::read_circuit;
use super::CacheArgs;
use anyhow::{Context, Result};
use blindfold::service::{self, ServiceConfig, TlsFiles};
use blindfold::PreparedCircuit;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `blindfold serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The compiled circuit (.bfc) to serve.
    circuit: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Folder where uploaded evaluation keys persist across restarts (default: memory only).
    #[arg(long)]
    key_store: Option<PathBuf>,
    /// Cap on the bytes of stored evaluation keys; least recently used ones are evicted.
    #[arg(long, default_value_t = ServiceConfig::default().key_store_bytes)]
    key_store_bytes: u64,
    /// Largest request body accepted, in bytes (evaluation keys are the largest).
    #[arg(long, default_value_t = ServiceConfig::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Inferences and key uploads run at once (default: the number of cores).
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Requests admitted to wait for a slot beyond those (default: 4 per core); more get 503.
    #[arg(long)]
    max_queue: Option<usize>,
    /// Clients' key sets kept bound in memory (each holds its evaluation keys).
    #[arg(long, default_value_t = ServiceConfig::default().loaded_keys)]
    loaded_keys: usize,
    /// Bearer token required on the /v1 routes (or the BLINDFOLD_TOKEN variable).
    #[arg(long, env = "BLINDFOLD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Runs `serve` until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    let circuit = read_circuit(&args.circuit)?;
    let model = circuit.meta.model.clone();
    let log_n = circuit.params.log_n;
    let start = Instant::now();
    let prepared = PreparedCircuit::with_plaintext_cache(circuit, args.cache.bytes())
        .context("preparing the circuit")?;
    let prepare_s = start.elapsed().as_secs_f64();
    let defaults = ServiceConfig::default();
    let config = ServiceConfig {
        addr: args.addr,
        key_store: args.key_store.clone(),
        key_store_bytes: args.key_store_bytes,
        max_body_bytes: args.max_body_bytes,
        max_concurrent: args.max_concurrent.unwrap_or(defaults.max_concurrent),
        max_queue: args.max_queue.unwrap_or(defaults.max_queue),
        loaded_keys: args.loaded_keys,
        token: args.token.clone(),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        stop_on_signals: true,
    };
    let running = service::start(prepared, config.clone())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", running.url())?;
    writeln!(
        out,
        "model {model} (N = 2^{log_n}), prepared in {prepare_s:.2} s; {} running, {} queued",
        config.max_concurrent, config.max_queue
    )?;
    match &config.key_store {
        Some(dir) => writeln!(
            out,
            "key store {} (cap {} bytes)",
            dir.display(),
            config.key_store_bytes
        )?,
        None => writeln!(
            out,
            "keys are kept in memory only (give --key-store DIR to keep them across restarts)"
        )?,
    }
    if config.token.is_none() && !args.addr.ip().is_loopback() {
        writeln!(
            out,
            "warning: listening beyond this machine without --token: anyone who reaches it can \
             use its CPU (never your data: it only sees ciphertexts)"
        )?;
    }
    out.flush()?;
    drop(out);
    running.wait().context("serving")?;
    println!("stopped");
    Ok(())
}
