//! `blindfold run model.bfc --eval-keys evk.bin --input in.ct -o out.ct`: the server's step.
//! It reads no secret key and refuses one given by mistake.

use super::files::{mb, read, write};
use super::keygen::read_circuit;
use super::CacheArgs;
use anyhow::{Context, Result};
use blindfold::PreparedCircuit;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `blindfold run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The compiled circuit (.bfc).
    circuit: PathBuf,
    /// The evaluation keys written by `blindfold keygen --eval-keys`.
    #[arg(long)]
    eval_keys: PathBuf,
    /// The encrypted input written by `blindfold encrypt`.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the encrypted output.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

/// Runs `run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let circuit = read_circuit(&args.circuit)?;
    let keys = read(&args.eval_keys, "evaluation keys")?;
    let server = PreparedCircuit::with_plaintext_cache(circuit, args.cache.bytes())
        .and_then(|prepared| prepared.bind_bytes(&keys))
        .with_context(|| format!("loading the evaluation keys {}", args.eval_keys.display()))?;
    let input = read(&args.input, "encrypted input")?;
    let start = Instant::now();
    let output = server
        .run_bytes(&input)
        .with_context(|| format!("running on {}", args.input.display()))?;
    let elapsed = start.elapsed();
    write(&args.output, &output, "encrypted output")?;
    println!(
        "ran {} on {} -> {} ({}) in {:.1} ms",
        args.circuit.display(),
        args.input.display(),
        args.output.display(),
        mb(output.len()),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
