//! `blindfold demo`: encrypted classification end to end on the bundled default model.
//!
//! Compiles `models/mnist_seed.onnx` with its bundled calibration images, makes keys,
//! encrypts a few bundled test images, runs the circuit as the server would (evaluation keys
//! only, through serialized bytes), decrypts, and prints per image the true label, the
//! plaintext and encrypted classes, the largest logit error and the time of each phase, then
//! key and ciphertext sizes. Fails if an encrypted answer is off by more than 1% of the logit
//! range, so the demo doubles as a smoke test.

use super::files::mb;
use super::measure::{argmax, median_p90, ms, Session};
use super::CacheArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The bundled default model, relative to the repository root.
const DEFAULT_MODEL: &str = "models/mnist_seed.onnx";

/// Options of `blindfold demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The ONNX model (default: the bundled mnist_seed network).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Images to classify (default: the model's bundled samples).
    #[arg(long)]
    images: Option<PathBuf>,
    /// How many images.
    #[arg(long, default_value_t = 5)]
    count: usize,
}

/// `path` as given, else relative to the source tree the binary was built from (so the demo
/// also works from another directory).
fn bundled(path: &str) -> PathBuf {
    let here = PathBuf::from(path);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let model = args.model.clone().unwrap_or_else(|| bundled(DEFAULT_MODEL));
    if !model.is_file() {
        bail!(
            "{} not found; run the demo from the repository root or pass --model",
            model.display()
        );
    }
    let images_path = match &args.images {
        Some(p) => p.clone(),
        None => blindfold::compile::default_calibration_dir(&model).with_context(|| {
            format!("{} has no bundled samples; pass --images", model.display())
        })?,
    };
    let start = Instant::now();
    let (_, compiled) = blindfold::compile_file(
        &model,
        None,
        Some(200),
        blindfold::compiler::CompileOptions::default(),
    )
    .with_context(|| format!("compiling {}", model.display()))?;
    let compile_time = start.elapsed();
    let circuit = compiled.circuit;
    let p = &circuit.params;
    println!(
        "model     {} compiled in {:.2} s: N = 2^{}, {} levels, scale 2^{}, {}-bit security",
        model.display(),
        compile_time.as_secs_f64(),
        p.log_n,
        circuit.input.level,
        p.log_scale,
        p.security.bits()
    );
    let session = Session::new(circuit, Some(&model), CacheArgs::default())?;
    println!(
        "keys      secret key kept by the client; {} of evaluation keys ({} rotations) for \
         the server, made in {:.2} s",
        mb(session.eval_key_bytes),
        session.server.circuit().rotations.len(),
        session.keygen.as_secs_f64()
    );
    let mut images = blindfold::dataset::load(&images_path, None)
        .with_context(|| format!("reading {}", images_path.display()))?;
    images.truncate(args.count.max(1));
    println!();
    println!(
        "{:<22} {:>5} {:>9} {:>9} {:>14} {:>10} {:>10} {:>10}",
        "image", "label", "plaintext", "encrypted", "max|logit err|", "encrypt", "run", "decrypt"
    );
    let mut results = Vec::new();
    for image in &images {
        let r = session.classify(image)?;
        let name = Path::new(&r.source)
            .file_name()
            .map_or(r.source.clone(), |n| n.to_string_lossy().into_owned());
        let class = |v: &[f64]| argmax(v).map_or("-".to_string(), |c| c.to_string());
        println!(
            "{:<22} {:>5} {:>9} {:>9} {:>14.2e} {:>7.1} ms {:>7.1} ms {:>7.1} ms",
            name,
            r.label.map_or("-".into(), |l| l.to_string()),
            class(r.plain.as_deref().unwrap_or(&r.simulated)),
            class(&r.encrypted),
            r.max_logit_error(),
            ms(r.encrypt),
            ms(r.run),
            ms(r.decrypt)
        );
        results.push(r);
    }
    let runs: Vec<f64> = results.iter().map(|r| ms(r.run)).collect();
    let (median, _) = median_p90(&runs);
    let same = results
        .iter()
        .filter(|r| argmax(&r.encrypted) == argmax(r.plain.as_deref().unwrap_or(&r.simulated)))
        .count();
    println!();
    if let Some(r) = results.first() {
        println!(
            "sizes     encrypted input {}, encrypted output {}",
            mb(r.input_bytes),
            mb(r.output_bytes)
        );
    }
    println!(
        "result    {same}/{} encrypted classes equal the plaintext ones; server time median {median:.1} ms per image",
        results.len()
    );
    for r in &results {
        let base = r.plain.as_deref().unwrap_or(&r.simulated);
        let range = base.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - base.iter().copied().fold(f64::INFINITY, f64::min);
        if r.max_logit_error() > 0.01 * range {
            bail!(
                "{}: the encrypted scores differ from the plaintext ones by {:.3e}, more than 1% \
                 of their range {range:.3}",
                r.source,
                r.max_logit_error()
            );
        }
    }
    Ok(())
}
