//! `blindfold demo`: an encrypted computation end to end, with timings, sizes and precision.
//!
//! The client makes keys and encrypts a vector; the server, holding only evaluation keys,
//! evaluates a small polynomial network layer on it (square activation, then a sum over all
//! slots by rotations); the client decrypts and compares with the same computation in f64.

use anyhow::{Context, Result};
use blindfold::runtime::ckks::{
    os_rng, CkksParams, CkksParamsSpec, Decryptor, Encoder, Encryptor, EvalKeys, Evaluator,
    KeyGenerator, SecurityLevel,
};
use clap::Args;
use std::sync::Arc;
use std::time::Instant;

/// Options of `blindfold demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// log2 of the ring degree (13 to 16).
    #[arg(long, default_value_t = 14)]
    log_n: u32,
    /// Bits of the scale (the "bit scale").
    #[arg(long, default_value_t = 40)]
    scale_bits: u32,
}

fn precision_bits(max_error: f64) -> f64 {
    -max_error.max(f64::MIN_POSITIVE).log2()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let depth = 3usize;
    let mut q_bits = vec![50u32];
    q_bits.extend(std::iter::repeat_n(args.scale_bits, depth));
    let spec = CkksParamsSpec::from_bits(
        args.log_n,
        &q_bits,
        &[50, 50],
        2,
        args.scale_bits,
        SecurityLevel::Classical128,
    )
    .context("choosing the demo parameters")?;
    let params = CkksParams::new(spec).context("checking the demo parameters")?;
    let slots = params.slots();
    println!(
        "CKKS parameters: N = 2^{}, {} slots, log2(QP) = {:.1} (128-bit bound {}), scale 2^{}, {} levels",
        args.log_n,
        slots,
        params.log_qp(),
        SecurityLevel::Classical128.max_log_qp(args.log_n).unwrap_or(0),
        args.scale_bits,
        params.max_level()
    );

    // Client: keys and encryption.
    let mut rng = os_rng()?;
    let t = Instant::now();
    let keygen = KeyGenerator::new(&params);
    let sk = keygen.secret_key(&mut rng);
    let pk = keygen.public_key(&sk, &mut rng);
    let rotations: Vec<i64> = (0..slots.trailing_zeros()).map(|i| 1i64 << i).collect();
    let evk = keygen.eval_keys(&sk, true, &rotations, false, &mut rng);
    let keygen_ms = ms(t);
    let evk_bytes = evk.to_bytes(&params);

    let values: Vec<f64> = (0..slots)
        .map(|i| ((i as f64) * 0.618_033_988_7).fract() * 2.0 - 1.0)
        .collect();
    let encoder = Encoder::new(&params);
    let t = Instant::now();
    let pt = encoder.encode(&values, params.max_level(), params.default_scale())?;
    let ct = Encryptor::with_public_key(&params, &pk)?.encrypt(&pt, &mut rng);
    let encrypt_ms = ms(t);
    let ct_bytes = ct.to_bytes(&params);

    // Server: sees only the ciphertext and the evaluation keys.
    let server_keys = Arc::new(EvalKeys::from_bytes(&params, &evk_bytes)?);
    let eval = Evaluator::with_keys(&params, server_keys)?;
    let t = Instant::now();
    let squared = eval.mul_relin_rescale(&ct, &ct)?;
    let mut sum = squared.clone();
    for &step in &rotations {
        let rotated = eval.rotate(&sum, step)?;
        eval.add_assign(&mut sum, &rotated)?;
    }
    let evaluate_ms = ms(t);
    let out_bytes = sum.to_bytes(&params);

    // Client: decryption.
    let t = Instant::now();
    let decrypted = encoder.decode(&Decryptor::new(&params, &sk)?.decrypt(&sum));
    let decrypt_ms = ms(t);

    let squares: Vec<f64> = values.iter().map(|x| x * x).collect();
    let expected_sum: f64 = squares.iter().sum();
    let dec_squared = encoder.decode(&Decryptor::new(&params, &sk)?.decrypt(&squared));
    let max_square_error = squares
        .iter()
        .zip(&dec_squared)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let sum_error = (decrypted[0] - expected_sum).abs();

    println!();
    println!("{:<38} {:>14}", "phase", "time (ms)");
    println!(
        "{:<38} {:>14.1}",
        "keygen (sk, pk, relin, rotation keys)", keygen_ms
    );
    println!("{:<38} {:>14.1}", "encode + encrypt", encrypt_ms);
    println!(
        "{:<38} {:>14.1}",
        format!("evaluate (square + {} rotations)", rotations.len()),
        evaluate_ms
    );
    println!("{:<38} {:>14.1}", "decrypt + decode", decrypt_ms);
    println!();
    println!("{:<38} {:>14}", "object", "bytes");
    println!("{:<38} {:>14}", "evaluation keys", evk_bytes.len());
    println!("{:<38} {:>14}", "input ciphertext", ct_bytes.len());
    println!("{:<38} {:>14}", "output ciphertext", out_bytes.len());
    println!();
    println!(
        "x^2 on {slots} slots: max error {max_square_error:.3e} ({:.1} bits of precision)",
        precision_bits(max_square_error)
    );
    println!(
        "sum of x^2: encrypted {:.6}, plaintext {:.6}, error {sum_error:.3e} ({:.1} bits relative)",
        decrypted[0],
        expected_sum,
        precision_bits(sum_error / expected_sum.abs())
    );
    Ok(())
}
