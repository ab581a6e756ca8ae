//! `blindfold trace model.bfc --input IMG`: where an encrypted run loses precision. Makes keys,
//! encrypts the input, runs the circuit and decrypts every intermediate value, and prints per
//! step the measured error next to the compiler's noise estimate, and the step's server time.

use super::files::{circuit_of, first_image};
use super::CacheArgs;
use anyhow::{Context, Result};
use blindfold::precision::{self, StepPrecision};
use blindfold::{Client, PreparedCircuit};
use clap::Args;
use std::path::PathBuf;

/// Options of `blindfold trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The compiled circuit (.bfc), or an ONNX model (compiled with the default options and the
    /// bundled calibration samples).
    model: PathBuf,
    /// The input: an image (PNG/JPEG), a .npy array, or a data set (its first image).
    #[arg(long)]
    input: PathBuf,
    /// Print one JSON object per step, one per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

/// Runs `trace`.
pub fn run(args: &TraceArgs) -> Result<()> {
    let mut notes = Vec::new();
    let circuit = circuit_of(&args.model, &mut notes)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let client = Client::new(circuit.clone())?;
    let tensor = client.preprocess(&first_image(&args.input)?)?;
    let server = PreparedCircuit::with_plaintext_cache(circuit, args.cache.bytes())?
        .bind(client.eval_keys()?)?;
    let steps = precision::trace(&client, &server, &tensor)
        .context("running the circuit encrypted and in the noise estimator")?;
    if args.json {
        for s in &steps {
            println!("{}", json(s));
        }
    } else {
        print_table(&steps);
    }
    Ok(())
}

fn json(s: &StepPrecision) -> serde_json::Value {
    serde_json::json!({
        "step": s.index,
        "op": s.op,
        "level": s.level,
        "scale_bits": s.scale_bits,
        "magnitude": s.magnitude,
        "max_error": s.max_error,
        "predicted_std_dev": s.predicted_std_dev,
        "max_deviations": s.max_deviations,
        "worst_slot": s.worst_slot,
        "run_ms": s.run_ms,
        "expected_max_deviations": s.expected_max_deviations(),
        "above_estimate": s.above_estimate(),
    })
}

fn print_table(steps: &[StepPrecision]) {
    println!(
        "{:>4}  {:<18} {:>5} {:>6} {:>10} {:>10} {:>10} {:>8} {:>7} {:>9}",
        "step", "op", "level", "scale", "max |x|", "max error", "pred. σ", "max e/σ", "slot", "ms"
    );
    for s in steps {
        let flag = if s.above_estimate() {
            "  <- above the estimate"
        } else {
            ""
        };
        println!(
            "{:>4}  {:<18} {:>5} {:>6.1} {:>10.3e} {:>10.3e} {:>10.3e} {:>8.1} {:>7} {:>9.1}{flag}",
            s.index,
            s.op,
            s.level,
            s.scale_bits,
            s.magnitude,
            s.max_error,
            s.predicted_std_dev,
            s.max_deviations,
            s.worst_slot,
            s.run_ms
        );
    }
}
