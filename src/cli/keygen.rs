//! `blindfold keygen model.bfc --secret-key sk.bin --eval-keys evk.bin`: the client's keys for
//! one circuit. The secret key stays with the client; the evaluation keys go to the server.

use super::files::{mb, read, write, write_secret};
use anyhow::{Context, Result};
use blindfold::runtime::circuit::Circuit;
use blindfold::Client;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `blindfold keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The compiled circuit (.bfc).
    circuit: PathBuf,
    /// Where to write the secret key (kept by the client; never give it to a server).
    #[arg(long)]
    secret_key: PathBuf,
    /// Where to write the evaluation keys (for the server).
    #[arg(long)]
    eval_keys: PathBuf,
    /// Replace an existing secret key file.
    #[arg(long)]
    force: bool,
}

/// Runs `keygen`.
pub fn run(args: &KeygenArgs) -> Result<()> {
    let circuit = read_circuit(&args.circuit)?;
    let start = Instant::now();
    let client = Client::new(circuit)?;
    let eval_keys = client.eval_keys()?.to_bytes(client.params());
    let elapsed = start.elapsed();
    write_secret(&args.secret_key, &client.secret_key_bytes(), args.force)?;
    write(&args.eval_keys, &eval_keys, "evaluation keys")?;
    let c = client.circuit();
    println!(
        "secret key       {} (keep it; it decrypts the answers)",
        args.secret_key.display()
    );
    println!(
        "evaluation keys  {} ({}, {} rotation keys{}) for the server",
        args.eval_keys.display(),
        mb(eval_keys.len()),
        c.rotations.len(),
        if c.needs_relinearization() {
            " + relinearization"
        } else {
            ""
        }
    );
    println!("time             {:.2} s", elapsed.as_secs_f64());
    Ok(())
}

/// Reads and validates a circuit file, refusing an ONNX model with a hint.
pub fn read_circuit(path: &std::path::Path) -> Result<Circuit> {
    if !super::inspect::is_circuit(path) {
        let bytes = read(path, "circuit")?;
        if bytes.len() >= 4 && bytes[..4] == blindfold::runtime::ckks::serial::MAGIC {
            anyhow::bail!(
                "{} is a blindfold file but not a circuit; give the .bfc file written by \
                 `blindfold compile`",
                path.display()
            );
        }
        anyhow::bail!(
            "{} is not a compiled circuit; compile the model first: blindfold compile {} -o \
             model.bfc",
            path.display(),
            path.display()
        );
    }
    super::inspect::read_circuit(path).context("loading the circuit")
}
