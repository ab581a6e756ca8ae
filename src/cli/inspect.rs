//! `blindfold inspect model.onnx`: the layers of the imported (normalised) model with their
//! output shapes and parameter counts. `blindfold inspect model.bfc [--json]`: the compiled
//! circuit's costs per layer, parameters, key and ciphertext sizes, predicted accuracy.

use super::parse_shape;
use anyhow::{Context, Result};
use blindfold::compiler::import::{load_onnx, ImportOptions};
use blindfold::compiler::ir::Op;
use blindfold::compiler::passes::PassManager;
use clap::Args;
use std::path::PathBuf;

/// Options of `blindfold inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model, or a compiled circuit (.bfc).
    model: PathBuf,
    /// For a circuit: print the report as JSON (fields in docs/circuit.md).
    #[arg(long)]
    json: bool,
    /// Input shape N,C,H,W, for models whose file leaves dimensions symbolic.
    #[arg(long, value_parser = parse_shape)]
    input_shape: Option<Vec<usize>>,
    /// Also print the IR text (one node per line).
    #[arg(long)]
    ir: bool,
    /// Print the IR after import and after each normalising pass (to stderr).
    #[arg(long)]
    print_ir_after_all: bool,
}

/// Runs `inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    if is_circuit(&args.model) {
        return inspect_circuit(args);
    }
    if args.json {
        anyhow::bail!("--json is available for compiled circuits (.bfc); compile the model first with `blindfold compile`");
    }
    let mut opts = ImportOptions::default().with_normalize(!args.print_ir_after_all);
    opts.input_shape.clone_from(&args.input_shape);
    let mut model = load_onnx(&args.model, &opts)
        .with_context(|| format!("importing {}", args.model.display()))?;
    if args.print_ir_after_all {
        eprintln!("// IR after import\n{}", model.graph);
        PassManager::normalize()
            .with_print_ir_after_all(true)
            .run(&mut model.graph)?;
    }
    let g = &model.graph;
    println!("model     {}", args.model.display());
    println!(
        "producer  {} (ONNX opset {})",
        if model.producer.is_empty() {
            "?"
        } else {
            &model.producer
        },
        model.opset
    );
    println!("input     '{}' {:?}", model.input_name, model.input_shape);
    println!();
    println!(
        "{:<5} {:<60} {:<16} {:>10}  onnx name",
        "node", "layer", "output", "params"
    );
    let mut layers = 0;
    for id in g.topo_order()? {
        let node = g.node(id)?;
        if matches!(node.op, Op::Const(_)) && g.users(id).is_empty() {
            continue;
        }
        if !matches!(node.op, Op::Input | Op::Const(_)) {
            layers += 1;
        }
        let operands: Vec<String> = g.operands(id).iter().map(ToString::to_string).collect();
        let layer = if operands.is_empty() {
            node.op.to_string()
        } else {
            format!("{}({})", node.op, operands.join(", "))
        };
        println!(
            "{:<5} {:<60} {:<16} {:>10}  {}",
            id.to_string(),
            layer,
            node.fact.to_string(),
            node.op.param_count(),
            node.name
        );
    }
    let out = g.outputs().first().map(|&o| g.fact(o)).transpose()?;
    println!();
    println!(
        "{layers} layers, {} parameters, output {}",
        g.param_count(),
        out.map_or("-".into(), ToString::to_string)
    );
    for note in &model.notes {
        println!("note: {note}");
    }
    println!("multiplicative depth and the CKKS plan: not available yet (they come with the compiler back end)");
    if args.ir {
        println!();
        print!("{g}");
    }
    Ok(())
}

/// Whether the file is a blindfold circuit (by its header, else by its extension).
pub fn is_circuit(path: &std::path::Path) -> bool {
    use blindfold::runtime::ckks::serial::{peek_kind, Kind};
    let mut head = [0u8; 8];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    match peek_kind(&head[..read]) {
        Some(kind) => kind == Kind::Circuit,
        None => path.extension().is_some_and(|e| e == "bfc"),
    }
}

/// Reads and validates a circuit file.
pub fn read_circuit(path: &std::path::Path) -> Result<blindfold::runtime::circuit::Circuit> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the circuit {}", path.display()))?;
    let circuit = blindfold::runtime::circuit::Circuit::from_bytes(&bytes)
        .with_context(|| format!("reading the circuit {}", path.display()))?;
    circuit
        .validate()
        .with_context(|| format!("validating the circuit {}", path.display()))?;
    Ok(circuit)
}

fn inspect_circuit(args: &InspectArgs) -> Result<()> {
    use blindfold::compiler::report::{self, Report};
    let circuit = read_circuit(&args.model)?;
    let r = Report::new(&circuit)?;
    if args.json {
        println!("{}", report::to_json(&circuit, &r));
    } else {
        println!("file      {}", args.model.display());
        print!("{}", report::to_text(&circuit, &r));
    }
    Ok(())
}
