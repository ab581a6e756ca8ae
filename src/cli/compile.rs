//! `blindfold compile model.onnx -o model.bfc`: compiles a model into a circuit file and
//! prints what it costs and how accurate it is predicted to be.

use anyhow::{Context, Result};
use blindfold::compiler::report::{self, Report};
use blindfold::compiler::CompileOptions;
use blindfold::runtime::ckks::SecurityLevel;
use clap::Args;
use std::path::PathBuf;

/// Options of `blindfold compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Where to write the circuit (default: the model's name with the extension .bfc).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Calibration data: a data set (IDX, CIFAR batches, an image folder or archive), a folder
    /// of images, or a .npy file. Default: the model's bundled samples (samples/<dataset>/).
    #[arg(long)]
    pub calibrate: Option<PathBuf>,
    /// Use at most this many calibration images. The activation intervals come from all of
    /// them (more images, safer intervals: a polynomial is garbage outside its interval); the
    /// degree and scale searches and the simulation use the first 1000.
    #[arg(long, default_value_t = 200)]
    pub calibration_limit: usize,
    /// Degree of the ReLU/sigmoid/tanh polynomials (default: the lowest degree within
    /// --max-accuracy-drop).
    #[arg(long)]
    pub relu_degree: Option<usize>,
    /// Accuracy the polynomial activations may lose on the calibration set, in points.
    #[arg(long, default_value_t = 0.5)]
    pub max_accuracy_drop: f64,
    /// log2 of the CKKS scale (the "bit scale"); default: chosen automatically, the smallest
    /// parameter set whose predicted CKKS error keeps the scores accurate.
    #[arg(long)]
    pub scale_bits: Option<u32>,
    /// Smaller evaluation keys at the price of server time: one baby-step count for every
    /// layer and giant steps as chains of rotations (mnist_seed: 12 MB of keys instead of 44,
    /// about twice the server time).
    #[arg(long)]
    pub small_keys: bool,
    /// Security level in bits: 128, 192 or 256.
    #[arg(long, default_value_t = 128, value_parser = parse_security)]
    pub security: u32,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--security`.
pub fn parse_security(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|b| SecurityLevel::from_bits(*b).is_some())
        .ok_or_else(|| format!("'{s}' is not a supported security level: use 128, 192 or 256"))
}

impl CompileArgs {
    /// The compile options these arguments describe.
    pub fn options(&self) -> Result<CompileOptions> {
        let security = SecurityLevel::from_bits(self.security)
            .with_context(|| format!("unsupported security level {}", self.security))?;
        Ok(CompileOptions {
            relu_degree: self.relu_degree,
            max_accuracy_drop: self.max_accuracy_drop,
            scale_bits: self.scale_bits,
            security,
            small_keys: self.small_keys,
            ..CompileOptions::default()
        })
    }
}

/// Runs `compile`.
pub fn run(args: &CompileArgs) -> Result<()> {
    let options = args.options()?;
    blindfold::compiler::compile::check_options(&options)?;
    let started = std::time::Instant::now();
    let (_, compiled) = blindfold::compile_file(
        &args.model,
        args.calibrate.as_deref(),
        Some(args.calibration_limit),
        options,
    )
    .with_context(|| format!("compiling {}", args.model.display()))?;
    let elapsed = started.elapsed();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.model.with_extension("bfc"));
    let bytes = compiled.circuit.to_bytes();
    std::fs::write(&output, &bytes)
        .with_context(|| format!("writing the circuit to {}", output.display()))?;
    let report = Report::new(&compiled.circuit)?;
    if args.json {
        let mut obj = report::to_json(&compiled.circuit, &report);
        if let Some(map) = obj.as_object_mut() {
            map.insert("circuit_file".into(), output.display().to_string().into());
            map.insert("circuit_bytes".into(), bytes.len().into());
            map.insert(
                "max_simulation_error".into(),
                compiled.max_simulation_error.into(),
            );
            map.insert("compile_seconds".into(), elapsed.as_secs_f64().into());
            if let Some(n) = &compiled.noise {
                map.insert(
                    "noise".into(),
                    serde_json::json!({
                        "scale_bits": n.scale_bits,
                        "automatic": n.automatic,
                        "std_dev": n.std_dev,
                        "bound": n.bound,
                        "output_range": n.output_range,
                        "min_margin": n.min_margin,
                        "expected_flips": n.expected_flips,
                        "calibration_images": n.images,
                        "accurate": n.accurate,
                    }),
                );
            }
        }
        println!("{obj}");
    } else {
        print!("{}", report::to_text(&compiled.circuit, &report));
        println!(
            "check     cleartext circuit vs IR on the calibration images: max relative error {:.2e}",
            compiled.max_simulation_error
        );
        if let Some(n) = &compiled.noise {
            println!(
                "noise     scale 2^{}{}: estimated CKKS error σ {:.2e}, bound {:.0}σ = {:.2e} \
                 ({:.1e} of the output range {:.3}; smallest top-2 margin {}; {:.1e} of {} \
                 calibration images expected to change class)",
                n.scale_bits,
                if n.automatic { " (automatic)" } else { "" },
                n.std_dev,
                blindfold::compiler::compile::NOISE_SIGMAS,
                n.bound,
                n.bound / n.output_range,
                n.output_range,
                n.min_margin.map_or("-".to_string(), |m| format!("{m:.3e}")),
                n.expected_flips,
                n.images,
            );
        }
        println!(
            "wrote     {} ({} bytes) in {:.1} s",
            output.display(),
            bytes.len(),
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}
