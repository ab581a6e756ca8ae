//! Encrypted execution of a compiled circuit: the server's `Executor<CkksBackend>` on one
//! encrypted input, timed run by run (keys, encryption and the executor's preparation are
//! outside the timed part, as on a server that serves many images with one executor).
//!
//! ```text
//! BLINDFOLD_BENCH_CIRCUIT=model.bfc cargo bench -p blindfold-runtime --bench circuit
//! ```
//!
//! Optional: `BLINDFOLD_BENCH_RUNS` (default 7) runs; `BLINDFOLD_BENCH_CACHE_MB`, the plaintext
//! cache budget in MiB (default [`blindfold_runtime::exec::DEFAULT_PLAINTEXT_CACHE_BYTES`]). Prints the preparation time (the
//! plaintext cache) and its size, each run, the median, the largest difference between the
//! decrypted output and the cleartext simulation, and (on Linux) the resident memory.

#![allow(
    clippy::expect_used,
    reason = "benchmark setup: a missing or invalid circuit file stops it with its message"
)]

use blindfold_runtime::circuit::Circuit;
use blindfold_runtime::ckks::{CkksParams, Decryptor, Encoder, Encryptor, KeyGenerator};
use blindfold_runtime::exec::{scale_ladder, simulate, CkksBackend, Executor};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;
use std::time::Instant;

/// The same allocator as the `blindfold` binary, so that timings match what users see.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let Ok(path) = std::env::var("BLINDFOLD_BENCH_CIRCUIT") else {
        eprintln!("set BLINDFOLD_BENCH_CIRCUIT to a .bfc file to run this benchmark");
        return;
    };
    let runs: usize = std::env::var("BLINDFOLD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let bytes = std::fs::read(&path).expect("reading the circuit");
    let circuit = Circuit::from_bytes(&bytes).expect("a valid circuit");
    let params = CkksParams::new(circuit.params.clone()).expect("valid parameters");
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let pk = kg.public_key(&sk, &mut rng);
    let rotations: Vec<i64> = circuit.rotations.iter().map(|&r| i64::from(r)).collect();
    let keys = kg.eval_keys(
        &sk,
        circuit.needs_relinearization(),
        &rotations,
        false,
        &mut rng,
    );

    let rss_keys = status_mb("VmRSS:");
    let started = Instant::now();
    let mut backend = CkksBackend::new(&circuit, Arc::new(keys)).expect("keys for the circuit");
    if let Some(mb) = std::env::var("BLINDFOLD_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        backend = backend.with_plaintext_cache(mb << 20);
    }
    let executor = Executor::new(&circuit, backend).expect("a valid circuit");
    let prepare = started.elapsed().as_secs_f64() * 1e3;
    let rss_prepared = status_mb("VmRSS:");

    let elements: usize = circuit.input.shape.iter().product();
    let tensor: Vec<f64> = (0..elements)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let top = circuit.input.level;
    let ladder = scale_ladder(&circuit.params, top);
    let encoder = Encoder::new(&params);
    let encryptor = Encryptor::with_public_key(&params, &pk).expect("public key");
    let inputs: Vec<_> = circuit
        .input
        .pack(&tensor, params.slots())
        .expect("packing the input")
        .iter()
        .map(|v| {
            encryptor.encrypt(
                &encoder.encode(v, top, ladder[top]).expect("encoding"),
                &mut rng,
            )
        })
        .collect();

    let mut times = Vec::with_capacity(runs);
    let mut outputs = Vec::new();
    for _ in 0..runs {
        if std::env::var("BLINDFOLD_BENCH_RSS").is_ok() {
            let st = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let l: Vec<&str> = st
                .lines()
                .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
                .collect();
            eprintln!("{l:?}");
        }
        let t = Instant::now();
        outputs = executor.run(inputs.clone()).expect("running the circuit");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let decryptor = Decryptor::new(&params, &sk).expect("secret key");
    let slots: Vec<Vec<f64>> = outputs
        .iter()
        .map(|ct| encoder.decode(&decryptor.decrypt(ct)))
        .collect();
    let got = circuit.output.unpack(&slots).expect("unpacking");
    let expected = simulate(&circuit, &tensor).expect("simulation");
    let err = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f64, f64::max);
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    println!("circuit   {path} (N = 2^{})", circuit.params.log_n);
    let (kept, bytes) = executor.backend().plaintext_cache();
    println!(
        "prepare   {prepare:.1} ms ({kept} plaintexts kept, {:.1} MB)",
        bytes as f64 / 1e6
    );
    let shown: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    println!("runs      {} ms", shown.join(" "));
    println!("median    {median:.1} ms");
    println!("max |CKKS − simulation| {err:.3e}");
    if let (Some(keys), Some(prepared), Some(peak)) = (rss_keys, rss_prepared, status_mb("VmHWM:"))
    {
        println!(
            "memory    resident {keys:.0} MB with keys, {prepared:.0} MB prepared, peak {peak:.0} MB"
        );
    }
}

/// A `/proc/self/status` field in MB (Linux only; `None` elsewhere).
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}
