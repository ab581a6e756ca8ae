//! Encrypted inference in one process, with the two roles kept apart: the client compiles
//! nothing and holds the secret key; the server holds the circuit and the evaluation keys
//! only. In a deployment the bytes exchanged below travel over a network.
//!
//! ```text
//! cargo run --release --example client_server [model.onnx] [image]
//! ```

use anyhow::{Context, Result};
use blindfold::{compile_file, dataset, Client, Server};
use std::path::PathBuf;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "models/mnist_seed.onnx".into()),
    );
    let image = PathBuf::from(args.next().unwrap_or_else(|| "models/samples/mnist".into()));

    // Compile once (the model owner or the server operator does this); the circuit is public.
    let (_, compiled) = compile_file(&model, None, None, Default::default())?;
    let circuit = compiled.circuit;

    // Client: a secret key, evaluation keys for the server, one encrypted image.
    let client = Client::new(circuit.clone())?;
    let eval_keys = client.eval_keys()?.to_bytes(client.params());
    let image = dataset::load(&image, Some(1))?
        .into_iter()
        .next()
        .context("no image")?;
    let input = client.encrypt_image(&image)?.to_bytes(client.params());

    // Server: the circuit and the evaluation keys; it never sees the secret key or the image.
    let server = Server::from_key_bytes(circuit, &eval_keys)?;
    let output = server.run_bytes(&input)?;

    // Client: decrypt the scores.
    let scores = client.decrypt_bytes(&output)?;
    let class = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .context("no scores")?;
    println!("image {} (label {:?})", image.source, image.label);
    println!("encrypted class {class}, scores {scores:.3?}");
    println!(
        "sent {:.1} MB of evaluation keys and {:.1} MB of input; received {:.1} MB",
        eval_keys.len() as f64 / 1e6,
        input.len() as f64 / 1e6,
        output.len() as f64 / 1e6
    );
    Ok(())
}
