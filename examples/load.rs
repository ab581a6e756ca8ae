//! Load test of `blindfold serve`: N concurrent clients on loopback, each with its own keys,
//! sending encrypted MNIST images; reports throughput, latency percentiles and errors.
//!
//! ```sh
//! cargo run --release --example load -- --clients 8 --requests 20
//! cargo run --release --example load -- --server http://127.0.0.1:8080 --clients 4
//! ```
//!
//! Without `--server` it compiles `models/mnist_seed.onnx` and starts the service in this
//! process (same code as `blindfold serve`, default limits). Each client makes its keys and
//! uploads them before the clock starts, encrypts its inputs ahead, then sends its requests one
//! after another; latency is the client's wall time of `POST /v1/infer` (queueing, network and
//! the server's run). Every answer is decrypted and its class compared with the circuit's
//! simulation on the same input.

use anyhow::{Context, Result};
use blindfold::compiler::ir::Tensor;
use blindfold::compiler::CompileOptions;
use blindfold::runtime::exec::Simulator;
use blindfold::service::{self, HttpClient, ServiceConfig, ServiceError};
use blindfold::{compile_file, dataset, Client, PreparedCircuit};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Barrier, Mutex};
use std::time::Instant;

/// Load test of a blindfold service.
#[derive(Debug, Parser)]
struct Args {
    /// The service to load; default: start one in this process for models/mnist_seed.onnx.
    #[arg(long)]
    server: Option<String>,
    /// Concurrent clients, each with its own keys.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Requests per client.
    #[arg(long, default_value_t = 10)]
    requests: usize,
    /// Images to send (cycled).
    #[arg(long, default_value = "models/samples/mnist")]
    images: PathBuf,
    /// Inferences the in-process service runs at once (default: the number of cores).
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Bearer token of the service.
    #[arg(long, env = "BLINDFOLD_TOKEN")]
    token: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// What one request gave.
struct Outcome {
    latency_ms: f64,
    server_ms: Option<f64>,
    retries: u32,
    agrees: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut _running = None;
    let url = match &args.server {
        Some(url) => url.clone(),
        None => {
            let (_, compiled) = compile_file(
                std::path::Path::new("models/mnist_seed.onnx"),
                None,
                Some(200),
                CompileOptions::default(),
            )
            .context("compiling models/mnist_seed.onnx (run from the repository root)")?;
            let defaults = ServiceConfig::default();
            let running = service::start(
                PreparedCircuit::new(compiled.circuit)?,
                ServiceConfig {
                    addr: "127.0.0.1:0".parse()?,
                    max_concurrent: args.max_concurrent.unwrap_or(defaults.max_concurrent),
                    max_queue: args.clients.max(defaults.max_queue),
                    loaded_keys: args.clients.max(defaults.loaded_keys),
                    token: args.token.clone(),
                    ..defaults
                },
            )?;
            let url = running.url();
            _running = Some(running);
            url
        }
    };
    let images = dataset::load(&args.images, Some(args.clients * args.requests))?;
    anyhow::ensure!(!images.is_empty(), "no image in {}", args.images.display());

    let circuit = HttpClient::new(&url, args.token.clone(), None)?.circuit()?;
    let simulator = Simulator::new(&circuit)?;
    let outcomes: Mutex<Vec<Outcome>> = Mutex::default();
    let errors: Mutex<BTreeMap<String, usize>> = Mutex::default();
    let ready = Barrier::new(args.clients + 1);
    let setup = Instant::now();
    let mut elapsed = 0.0;
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for c in 0..args.clients {
            let (url, circuit, images) = (&url, &circuit, &images);
            let (outcomes, errors, ready, simulator) = (&outcomes, &errors, &ready, &simulator);
            let token = args.token.clone();
            let requests = args.requests;
            handles.push(scope.spawn(move || -> Result<()> {
                let prepared = (|| -> Result<_> {
                    let http = HttpClient::new(url, token, None)?;
                    let client = Client::new(circuit.clone())?;
                    let id = http.upload_keys(&client.eval_keys()?.to_bytes(client.params()))?;
                    let inputs = (0..requests)
                        .map(|r| {
                            let image = &images[(c * requests + r) % images.len()];
                            let x = client.preprocess(image)?;
                            let expected = simulator.run(&x)?;
                            let bytes = client.encrypt(&x)?.to_bytes(client.params());
                            Ok((bytes, argmax(&expected)))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok((http, client, id, inputs))
                })();
                ready.wait();
                let (http, client, id, inputs) = prepared?;
                for (input, expected) in inputs {
                    let start = Instant::now();
                    match http.infer(&id, &input) {
                        Ok(reply) => {
                            let latency_ms = start.elapsed().as_secs_f64() * 1e3;
                            let scores = client.decrypt_bytes(&reply.output)?;
                            lock(outcomes).push(Outcome {
                                latency_ms,
                                server_ms: reply.server_ms,
                                retries: reply.retries,
                                agrees: argmax(&scores) == expected,
                            });
                        }
                        Err(e) => {
                            let key = match e {
                                ServiceError::Api { code, .. } => code,
                                other => other.to_string(),
                            };
                            *lock(errors).entry(key).or_default() += 1;
                        }
                    }
                }
                Ok(())
            }));
        }
        ready.wait();
        let start = Instant::now();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        }
        elapsed = start.elapsed().as_secs_f64();
        Ok(())
    })?;
    let setup_s = setup.elapsed().as_secs_f64() - elapsed;

    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut latency: Vec<f64> = outcomes.iter().map(|o| o.latency_ms).collect();
    latency.sort_by(f64::total_cmp);
    let mut server: Vec<f64> = outcomes.iter().filter_map(|o| o.server_ms).collect();
    server.sort_by(f64::total_cmp);
    let ok = outcomes.len();
    let failed: usize = errors.values().sum();
    let agree = outcomes.iter().filter(|o| o.agrees).count();
    let retries: u32 = outcomes.iter().map(|o| o.retries).sum();
    let throughput = ok as f64 / elapsed;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.json {
        let obj = serde_json::json!({
            "server": url,
            "cores": cores,
            "clients": args.clients,
            "requests": args.clients * args.requests,
            "ok": ok,
            "errors": errors,
            "agreement": agree as f64 / ok.max(1) as f64,
            "retries_503": retries,
            "seconds": elapsed,
            "throughput_per_s": throughput,
            "latency_ms": {
                "p50": percentile(&latency, 50.0),
                "p90": percentile(&latency, 90.0),
                "p99": percentile(&latency, 99.0),
                "max": latency.last(),
            },
            "server_ms_p50": percentile(&server, 50.0),
            "setup_s": setup_s,
        });
        println!("{obj}");
    } else {
        println!("server       {url} ({cores} cores)");
        println!(
            "load         {} clients x {} requests (keys made and uploaded in {setup_s:.1} s)",
            args.clients, args.requests
        );
        println!(
            "answers      {ok} ok, {failed} failed {errors:?}, {retries} waits on 503; \
             {agree}/{ok} classes equal the simulation"
        );
        println!("throughput   {throughput:.1} inferences/s over {elapsed:.1} s");
        println!(
            "latency      p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (server run p50 \
             {:.1} ms)",
            percentile(&latency, 50.0),
            percentile(&latency, 90.0),
            percentile(&latency, 99.0),
            latency.last().copied().unwrap_or(f64::NAN),
            percentile(&server, 50.0)
        );
    }
    anyhow::ensure!(failed == 0, "{failed} requests failed");
    Ok(())
}

/// The class of a score vector (the compiler's tensor argmax).
fn argmax(v: &[f64]) -> Option<usize> {
    Tensor::new(vec![v.len()], v.to_vec()).ok()?.argmax()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
