//! `blindfold predict model.onnx --input X`: classifies one input. `--mode reference` (the
//! default, and the only mode so far) runs the float64 reference interpreter of the IR.

use super::input::read_input;
use super::parse_shape;
use anyhow::{bail, Context, Result};
use blindfold::compiler::import::{load_onnx, ImportOptions};
use blindfold::compiler::reference;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How to run the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The float64 reference interpreter of the IR.
    Reference,
    /// The slot simulator of the compiled circuit (with the back end).
    Simulate,
    /// Real CKKS encryption (with the back end and the executor).
    Encrypted,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Reference => "reference",
            Mode::Simulate => "simulate",
            Mode::Encrypted => "encrypted",
        }
    }
}

/// Options of `blindfold predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The ONNX model.
    model: PathBuf,
    /// The input: a .npy array (float32/float64; [C,H,W], [1,C,H,W] or the model's input
    /// shape) or an image (PNG/JPEG, scaled to [0, 1]).
    #[arg(long)]
    input: PathBuf,
    /// Execution mode.
    #[arg(long, value_enum, default_value_t = Mode::Reference)]
    mode: Mode,
    /// Print one JSON object (output, shape, class, mode, notes).
    #[arg(long)]
    json: bool,
    /// Input shape N,C,H,W, for models whose file leaves dimensions symbolic.
    #[arg(long, value_parser = parse_shape)]
    input_shape: Option<Vec<usize>>,
}

/// Runs `predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    if args.mode != Mode::Reference {
        bail!(
            "--mode {} is not available yet: it arrives with the compiler back end and the \
             circuit executor; use --mode reference",
            args.mode.name()
        );
    }
    let mut opts = ImportOptions::default();
    opts.input_shape.clone_from(&args.input_shape);
    let model = load_onnx(&args.model, &opts)
        .with_context(|| format!("importing {}", args.model.display()))?;
    let x = read_input(&args.input, &model.input_shape)?;
    let y = reference::run(&model.graph, &x).context("running the reference interpreter")?;
    let class = y.argmax();
    if args.json {
        let obj = serde_json::json!({
            "output": y.data(),
            "shape": y.shape(),
            "class": class,
            "mode": args.mode.name(),
            "notes": model.notes,
        });
        println!("{obj}");
    } else {
        for note in &model.notes {
            eprintln!("note: {note}");
        }
        println!("mode     {}", args.mode.name());
        println!("shape    {:?}", y.shape());
        let shown: Vec<String> = y.data().iter().map(|v| format!("{v:.6}")).collect();
        println!("output   [{}]", shown.join(", "));
        match class {
            Some(c) => println!("class    {c}"),
            None => println!("class    - (no finite output)"),
        }
    }
    Ok(())
}
