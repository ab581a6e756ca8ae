//! `blindfold predict model.onnx|model.bfc --input X`: classifies one input. `--mode
//! reference` (the default) runs the float64 reference interpreter of the IR; `--mode
//! simulate` runs the compiled circuit on cleartext slots (compiling first when given an ONNX
//! model), through the same executor as encrypted execution.

use super::input::read_input;
use super::parse_shape;
use anyhow::{bail, Context, Result};
use blindfold::compiler::import::{load_onnx, ImportOptions};
use blindfold::compiler::ir::Tensor;
use blindfold::compiler::reference;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How to run the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The float64 reference interpreter of the IR.
    Reference,
    /// The compiled circuit on cleartext slots (the simulator).
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
    /// The ONNX model, or a compiled circuit (.bfc) for --mode simulate.
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
    match args.mode {
        Mode::Reference => {}
        Mode::Simulate => return simulate(args),
        Mode::Encrypted => bail!(
            "--mode encrypted is not available yet: it arrives with the CKKS backend of the \
             executor; use --mode simulate to run the compiled circuit on cleartext slots"
        ),
    }
    if super::inspect::is_circuit(&args.model) {
        bail!(
            "{} is a compiled circuit: --mode reference needs the ONNX model; use --mode simulate",
            args.model.display()
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
        print_result(args.mode, y.shape(), y.data(), class);
    }
    Ok(())
}

fn print_result(mode: Mode, shape: &[usize], data: &[f64], class: Option<usize>) {
    println!("mode     {}", mode.name());
    println!("shape    {shape:?}");
    let shown: Vec<String> = data.iter().map(|v| format!("{v:.6}")).collect();
    println!("output   [{}]", shown.join(", "));
    match class {
        Some(c) => println!("class    {c}"),
        None => println!("class    - (no finite output)"),
    }
}

/// `--mode simulate`: the circuit (read, or compiled from the ONNX model with the default
/// options and the bundled calibration samples) on cleartext slots.
fn simulate(args: &PredictArgs) -> Result<()> {
    use blindfold::runtime::exec::Simulator;
    let mut notes = Vec::new();
    let circuit = if super::inspect::is_circuit(&args.model) {
        super::inspect::read_circuit(&args.model)?
    } else {
        let (_, compiled) = blindfold::compile_file(
            &args.model,
            None,
            Some(200),
            blindfold::compiler::CompileOptions::default(),
        )
        .with_context(|| format!("compiling {}", args.model.display()))?;
        notes.push(format!(
            "compiled {} with the default options (degree {:?}, N = 2^{})",
            args.model.display(),
            compiled.degree,
            compiled.circuit.params.log_n
        ));
        compiled.circuit
    };
    let pre = &circuit.input.preprocess;
    let images = blindfold::dataset::load(&args.input, Some(1))
        .with_context(|| format!("reading {}", args.input.display()))?;
    let image = images
        .first()
        .with_context(|| format!("{} holds no image", args.input.display()))?;
    let x = blindfold::dataset::to_tensor(
        image,
        pre.channels,
        pre.height,
        pre.width,
        pre.pixel_scale,
        &pre.mean,
        &pre.std,
    )?;
    let y = Simulator::new(&circuit)?
        .run(&x)
        .context("running the circuit on cleartext slots")?;
    let class = Tensor::new(circuit.output.shape.clone(), y.clone())?.argmax();
    if args.json {
        let obj = serde_json::json!({
            "output": y,
            "shape": circuit.output.shape,
            "class": class,
            "mode": args.mode.name(),
            "notes": notes,
        });
        println!("{obj}");
    } else {
        for note in &notes {
            eprintln!("note: {note}");
        }
        print_result(args.mode, &circuit.output.shape, &y, class);
    }
    Ok(())
}
