//! `blindfold predict model.onnx|model.bfc --input X`: classifies one input. `--mode
//! reference` (the default) runs the float64 reference interpreter of the IR; `--mode
//! simulate` runs the compiled circuit on cleartext slots (compiling first when given an ONNX
//! model), through the same executor as encrypted execution.

use super::files::{circuit_of, first_image};
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
pub(super) enum Mode {
    /// The float64 reference interpreter of the IR.
    Reference,
    /// The compiled circuit on cleartext slots (the simulator).
    Simulate,
    /// Real CKKS encryption (with the back end and the executor).
    Encrypted,
}

impl Mode {
    pub(super) fn name(self) -> &'static str {
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
    /// The ONNX model, or a compiled circuit (.bfc) for --mode simulate and --mode encrypted.
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
        Mode::Encrypted => return encrypted(args),
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

pub(super) fn print_result(mode: Mode, shape: &[usize], data: &[f64], class: Option<usize>) {
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
    let circuit = circuit_of(&args.model, &mut notes)?;
    let x = blindfold::client::preprocess(&circuit, &first_image(&args.input)?)?;
    let y = Simulator::new(&circuit)?
        .run(&x)
        .context("running the circuit on cleartext slots")?;
    let warning = circuit.meta.out_of_range(&y);
    finish(args, &circuit.output.shape, &y, &notes, warning, None)
}

/// `--mode encrypted`: keys, encryption, the server's run (through the serialized keys and
/// ciphertexts, as between two machines) and decryption in one process, with timings.
fn encrypted(args: &PredictArgs) -> Result<()> {
    use blindfold::{Client, Server};
    use std::time::Instant;
    let mut notes = Vec::new();
    let circuit = circuit_of(&args.model, &mut notes)?;
    let image = first_image(&args.input)?;
    let t = Instant::now();
    let client = Client::new(circuit.clone())?;
    let keys = client.eval_keys()?.to_bytes(client.params());
    let keygen = t.elapsed();
    let t = Instant::now();
    let input = client.encrypt_image(&image)?.to_bytes(client.params());
    let encrypt = t.elapsed();
    let server = Server::from_key_bytes(circuit, &keys)?;
    let t = Instant::now();
    let output = server.run_bytes(&input)?;
    let run = t.elapsed();
    let t = Instant::now();
    let y = client.decrypt_bytes(&output)?;
    let decrypt = t.elapsed();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let timings = Timings {
        phases: vec![
            ("keygen", ms(keygen)),
            ("encrypt", ms(encrypt)),
            ("run", ms(run)),
            ("decrypt", ms(decrypt)),
        ],
        sizes: vec![
            ("eval_keys", keys.len()),
            ("input", input.len()),
            ("output", output.len()),
        ],
    };
    finish(
        args,
        &client.circuit().output.shape,
        &y,
        &notes,
        client.circuit().meta.out_of_range(&y),
        Some(&timings),
    )
}

/// Time of each phase (ms) and size of each object sent (bytes) of an encrypted prediction.
struct Timings {
    phases: Vec<(&'static str, f64)>,
    sizes: Vec<(&'static str, usize)>,
}

fn finish(
    args: &PredictArgs,
    shape: &[usize],
    y: &[f64],
    notes: &[String],
    warning: Option<String>,
    timings: Option<&Timings>,
) -> Result<()> {
    let class = Tensor::new(shape.to_vec(), y.to_vec())?.argmax();
    if args.json {
        let mut obj = serde_json::json!({
            "output": y,
            "shape": shape,
            "class": class,
            "mode": args.mode.name(),
            "notes": notes,
            "warning": warning,
        });
        if let Some(t) = timings {
            let phases: serde_json::Map<_, _> = t
                .phases
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                .collect();
            let sizes: serde_json::Map<_, _> = t
                .sizes
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                .collect();
            obj["latency_ms"] = phases.into();
            obj["bytes"] = sizes.into();
        }
        println!("{obj}");
    } else {
        for note in notes {
            eprintln!("note: {note}");
        }
        if let Some(w) = &warning {
            eprintln!("warning: {w}");
        }
        print_result(args.mode, shape, y, class);
        if let Some(t) = timings {
            for (phase, ms) in &t.phases {
                println!("{phase:<8} {ms:.1} ms");
            }
            for (what, bytes) in &t.sizes {
                println!("{what:<9}{}", super::files::mb(*bytes));
            }
        }
    }
    Ok(())
}
