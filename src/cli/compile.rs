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
    /// --max-accuracy-drop, --min-agreement and --max-logit-error).
    #[arg(long)]
    pub relu_degree: Option<usize>,
    /// The degree of one activation, by its ONNX node name (`blindfold inspect` lists them):
    /// `--degree /4/Relu=31`. Repeat for several; the others keep --relu-degree or the
    /// automatic degree.
    #[arg(long = "degree", value_name = "NODE=DEGREE", value_parser = parse_degree_override)]
    pub degree_overrides: Vec<(String, usize)>,
    /// Accuracy the polynomial activations may lose on the calibration set, in points.
    #[arg(long, default_value_t = 0.5)]
    pub max_accuracy_drop: f64,
    /// Percentage of the calibration images that must keep the original network's class with
    /// polynomial activations (the automatic degree meets this too).
    #[arg(long, default_value_t = 100.0 * blindfold::compiler::compile::DEFAULT_MIN_AGREEMENT)]
    pub min_agreement: f64,
    /// Largest median logit error of the polynomial activations on the calibration images, in
    /// percent of the spread of the network's outputs (the automatic degree meets this too).
    #[arg(long, default_value_t = 100.0 * blindfold::compiler::compile::DEFAULT_MAX_LOGIT_ERROR)]
    pub max_logit_error: f64,
    /// log2 of the CKKS scale (the "bit scale"); default: chosen automatically, the smallest
    /// parameter set whose predicted CKKS error keeps the scores accurate.
    #[arg(long)]
    pub scale_bits: Option<u32>,
    /// Smaller evaluation keys at the price of server time: one baby-step count for every
    /// layer and giant steps as chains of rotations (mnist_seed: 12 MB of keys instead of 44,
    /// about twice the server time).
    #[arg(long)]
    pub small_keys: bool,
    /// Fit each ReLU polynomial to the range of the widest channel of its input, instead of
    /// normalising every channel to its own range (the default, more accurate at the same
    /// degree and depth; this flag is for comparison).
    #[arg(long)]
    pub no_per_channel_relu: bool,
    /// Leave the average error of the activation polynomials in the scores, instead of
    /// removing it per channel through the bias of the next layer (the default; this flag is
    /// for comparison).
    #[arg(long)]
    pub no_bias_correction: bool,
    /// Security level in bits: 128, 192 or 256.
    #[arg(long, default_value_t = 128, value_parser = parse_security)]
    pub security: u32,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--degree NODE=DEGREE`.
pub fn parse_degree_override(s: &str) -> Result<(String, usize), String> {
    let (node, degree) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("'{s}' is not NODE=DEGREE (e.g. /4/Relu=31)"))?;
    let degree = degree
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("'{degree}' in '{s}' is not a degree (a whole number, e.g. 31)"))?;
    Ok((node.trim().to_string(), degree))
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
            degree_overrides: self.degree_overrides.iter().cloned().collect(),
            max_accuracy_drop: self.max_accuracy_drop,
            min_agreement: self.min_agreement / 100.0,
            max_logit_error: self.max_logit_error / 100.0,
            scale_bits: self.scale_bits,
            security,
            small_keys: self.small_keys,
            per_channel_relu: !self.no_per_channel_relu,
            correct_bias: !self.no_bias_correction,
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
    if let Some(warning) = compiled.degree_warning() {
        eprintln!("{warning}");
    }
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
            map.insert(
                "degree_search".into(),
                compiled
                    .degree_search
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "degree": t.degree,
                            "accuracy": t.accuracy,
                            "agreement": t.agreement,
                            "median_logit_error": t.median_logit_error,
                            "accepted": t.accepted(),
                            "unmet": t.unmet,
                        })
                    })
                    .collect::<Vec<_>>()
                    .into(),
            );
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
        for t in &compiled.degree_search {
            println!(
                "degree    {:>3}: accuracy {:.2}%, same class as the original network on {:.2}% \
                 of the calibration images, median logit error {:.2}% of the output range{}",
                t.degree,
                100.0 * t.accuracy,
                100.0 * t.agreement,
                100.0 * t.median_logit_error,
                if t.accepted() { " (accepted)" } else { "" }
            );
        }
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
