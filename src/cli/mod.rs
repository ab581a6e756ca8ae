//! Command-line interface: argument parsing and dispatch.

mod compile;
mod demo;
mod input;
mod inspect;
mod predict;

use clap::{Parser, Subcommand};

/// Compile CNNs into CKKS circuits and classify encrypted images.
#[derive(Debug, Parser)]
#[command(name = "blindfold", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compile an ONNX model into a CKKS circuit file (.bfc).
    Compile(compile::CompileArgs),
    /// Run an encrypted computation end to end on bundled data and print precision and timings.
    Demo(demo::DemoArgs),
    /// Print the layers of an ONNX model, or the costs and parameters of a compiled circuit.
    Inspect(inspect::InspectArgs),
    /// Classify one input (.npy or image) with a model.
    Predict(predict::PredictArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Compile(args) => compile::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Predict(args) => predict::run(&args),
    }
}

/// Parses a shape written `1,3,32,32` (or with `x` separators).
fn parse_shape(s: &str) -> Result<Vec<usize>, String> {
    s.split([',', 'x'])
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("'{d}' is not a positive dimension"))
        })
        .collect()
}
