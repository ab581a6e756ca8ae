//! `blindfold encrypt model.bfc --secret-key sk.bin --input IMG -o in.ct`: preprocesses an
//! image as recorded in the circuit and encrypts it into the circuit's input ciphertexts.

use super::files::{first_image, mb, read, write};
use super::keygen::read_circuit;
use anyhow::Result;
use blindfold::Client;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `blindfold encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The compiled circuit (.bfc).
    circuit: PathBuf,
    /// The secret key written by `blindfold keygen`.
    #[arg(long)]
    secret_key: PathBuf,
    /// The input: an image (PNG/JPEG) or a .npy array; resized, converted and normalised as
    /// the circuit records.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the encrypted input.
    #[arg(short, long)]
    output: PathBuf,
}

/// Runs `encrypt`.
pub fn run(args: &EncryptArgs) -> Result<()> {
    let circuit = read_circuit(&args.circuit)?;
    let client = Client::with_secret_key(circuit, &read(&args.secret_key, "secret key")?)?;
    let image = first_image(&args.input)?;
    let start = Instant::now();
    let bytes = client.encrypt_image(&image)?.to_bytes(client.params());
    let elapsed = start.elapsed();
    write(&args.output, &bytes, "encrypted input")?;
    println!(
        "encrypted {} -> {} ({}) in {:.1} ms",
        args.input.display(),
        args.output.display(),
        mb(bytes.len()),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
