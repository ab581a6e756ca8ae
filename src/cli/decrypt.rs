//! `blindfold decrypt model.bfc --secret-key sk.bin --input out.ct [--json]`: the scores and
//! the class of an encrypted answer.

use super::files::read;
use super::keygen::read_circuit;
use super::predict::{print_result, Mode};
use anyhow::{Context, Result};
use blindfold::compiler::ir::Tensor;
use blindfold::Client;
use clap::Args;
use std::path::PathBuf;

/// Options of `blindfold decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The compiled circuit (.bfc).
    circuit: PathBuf,
    /// The secret key written by `blindfold keygen`.
    #[arg(long)]
    secret_key: PathBuf,
    /// The encrypted output written by `blindfold run`.
    #[arg(long)]
    input: PathBuf,
    /// Print one JSON object (output, shape, class, mode, warning: why the scores cannot be
    /// trusted, or null).
    #[arg(long)]
    json: bool,
}

/// Runs `decrypt`.
pub fn run(args: &DecryptArgs) -> Result<()> {
    let circuit = read_circuit(&args.circuit)?;
    let client = Client::with_secret_key(circuit, &read(&args.secret_key, "secret key")?)?;
    let scores = client
        .decrypt_bytes(&read(&args.input, "encrypted output")?)
        .with_context(|| format!("decrypting {}", args.input.display()))?;
    let shape = client.circuit().output.shape.clone();
    let class = Tensor::new(shape.clone(), scores.clone())?.argmax();
    let warning = client.circuit().meta.out_of_range(&scores);
    if args.json {
        let obj = serde_json::json!({
            "output": scores,
            "shape": shape,
            "class": class,
            "mode": Mode::Encrypted.name(),
            "warning": warning,
        });
        println!("{obj}");
    } else {
        if let Some(w) = &warning {
            eprintln!("warning: {w}");
        }
        print_result(Mode::Encrypted, &shape, &scores, class);
    }
    Ok(())
}
