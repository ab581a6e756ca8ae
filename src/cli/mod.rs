//! Command-line interface: argument parsing and dispatch.

mod demo;

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
    /// Run an encrypted computation end to end on bundled data and print precision and timings.
    Demo(demo::DemoArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
    }
}
