//! The `blindfold` command-line tool.

mod cli;

use clap::Parser;

/// CKKS allocates and frees megabyte-sized polynomials at a high rate; mimalloc reuses them
/// instead of returning pages to the system (about 25% faster key switching than the system
/// allocator, see docs/benchmarks.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    cli::run(cli)
}
