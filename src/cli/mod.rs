//! Command-line interface: argument parsing and dispatch.

mod client;
mod compile;
mod decrypt;
mod demo;
mod encrypt;
mod eval;
mod files;
mod input;
mod inspect;
mod keygen;
mod measure;
mod plot;
mod predict;
mod records;
mod run_circuit;
mod serve;
mod sweep;
mod trace;

use clap::{Args, Parser, Subcommand};

/// The memory a server process gives to encoded plaintext operands.
#[derive(Clone, Copy, Debug, Args)]
pub struct CacheArgs {
    /// Memory for the circuit's plaintext operands, encoded once when the server starts (MiB);
    /// operands beyond it are encoded at each run. Larger circuits run up to twice as fast
    /// with all of them kept: `blindfold inspect` on the circuit says how much that takes.
    #[arg(long, value_name = "MIB", default_value_t = blindfold::runtime::exec::DEFAULT_PLAINTEXT_CACHE_BYTES >> 20)]
    pub plaintext_cache_mib: usize,
}

impl CacheArgs {
    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.plaintext_cache_mib.saturating_mul(1 << 20)
    }
}

impl Default for CacheArgs {
    fn default() -> Self {
        Self {
            plaintext_cache_mib: blindfold::runtime::exec::DEFAULT_PLAINTEXT_CACHE_BYTES >> 20,
        }
    }
}

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
    /// Classify a few bundled images encrypted, end to end, with timings and errors.
    Demo(demo::DemoArgs),
    /// Print the layers of an ONNX model, or the costs and parameters of a compiled circuit.
    Inspect(inspect::InspectArgs),
    /// Classify one input (.npy or image) with a model.
    Predict(predict::PredictArgs),
    /// Client: make a secret key and the evaluation keys of a circuit.
    Keygen(keygen::KeygenArgs),
    /// Client: preprocess and encrypt an image for a circuit.
    Encrypt(encrypt::EncryptArgs),
    /// Server: run a circuit on an encrypted input with evaluation keys (no secret key).
    Run(run_circuit::RunArgs),
    /// Client: decrypt the scores of an encrypted output and print the class.
    Decrypt(decrypt::DecryptArgs),
    /// Encrypted inference over a test set: accuracy, agreement, errors, latency, memory.
    Eval(eval::EvalArgs),
    /// Serve encrypted inference over HTTP for one circuit (keys uploaded by clients).
    Serve(serve::ServeArgs),
    /// Classify an image on a `blindfold serve` service: keys, upload, encrypt, infer, decrypt.
    Client(client::ClientArgs),
    /// The bit-scale study: accuracy, errors and time against the CKKS scale (table + SVG).
    Sweep(sweep::SweepArgs),
    /// Owner's diagnostic: the error of every step of an encrypted run against the estimate.
    Trace(trace::TraceArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Compile(args) => compile::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Encrypt(args) => encrypt::run(&args),
        Command::Run(args) => run_circuit::run(&args),
        Command::Decrypt(args) => decrypt::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Client(args) => client::run(&args),
        Command::Trace(args) => trace::run(&args),
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
