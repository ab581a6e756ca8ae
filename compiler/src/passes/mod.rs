//! Graph-to-graph passes. Each pass lives in the file named after it (`fold-batchnorm` in
//! `fold_batchnorm.rs`), says in its module documentation what it reads and guarantees, and
//! is run by a [`PassManager`], which verifies the IR after every pass.

mod approximate_activations;
mod calibrate;
mod const_fold;
mod correct_activation_bias;
mod dce;
mod fold_batchnorm;
mod fuse_polynomials;
mod merge_bias;
mod normalise_relu_inputs;
mod recognise_square;
mod remove_identity;

pub use approximate_activations::{
    approximate_activations, ApproxConfig, ApproximateActivations, MAX_DEGREE,
};
pub use calibrate::{calibrate, widen, Ranges};
pub use const_fold::ConstFold;
pub use correct_activation_bias::correct_activation_bias;
pub use dce::Dce;
pub use fold_batchnorm::FoldBatchNorm;
pub use fuse_polynomials::{fuse_polynomials, FusePolynomials};
pub use merge_bias::MergeBias;
pub use normalise_relu_inputs::{normalise_relu_inputs, NormaliseReluInputs, MIN_CHANNEL_FRACTION};
pub use recognise_square::RecogniseSquare;
pub use remove_identity::RemoveIdentity;

use crate::error::Result;
use crate::ir::{to_text, verify, Graph};

/// A transformation of the IR.
pub trait Pass {
    /// The pass name (kebab-case, as in dumps and `--print-ir-after-all`).
    fn name(&self) -> &'static str;
    /// Runs the pass; returns whether the graph changed.
    fn run(&self, graph: &mut Graph) -> Result<bool>;
}

/// Runs passes in order, verifying the IR after each one.
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
    print_ir_after_all: bool,
}

impl std::fmt::Debug for PassManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.passes.iter().map(|p| p.name()).collect();
        f.debug_struct("PassManager")
            .field("passes", &names)
            .finish()
    }
}

impl Default for PassManager {
    fn default() -> Self {
        Self::new()
    }
}

impl PassManager {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self {
            passes: Vec::new(),
            print_ir_after_all: false,
        }
    }

    /// The normalising pipeline run after import: remove-identity, const-fold,
    /// fold-batchnorm, merge-bias, recognise-square, const-fold, dce.
    pub fn normalize() -> Self {
        let mut pm = Self::new();
        pm.add(RemoveIdentity);
        pm.add(ConstFold);
        pm.add(FoldBatchNorm);
        pm.add(MergeBias);
        pm.add(RecogniseSquare);
        pm.add(ConstFold);
        pm.add(Dce);
        pm
    }

    /// Appends a pass.
    pub fn add(&mut self, pass: impl Pass + 'static) -> &mut Self {
        self.passes.push(Box::new(pass));
        self
    }

    /// Prints the IR to stderr after each pass.
    pub fn with_print_ir_after_all(mut self, on: bool) -> Self {
        self.print_ir_after_all = on;
        self
    }

    /// The pass names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Runs every pass, verifying after each; returns whether anything changed.
    pub fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for pass in &self.passes {
            changed |= pass.run(graph)?;
            verify(graph, pass.name())?;
            if self.print_ir_after_all {
                eprintln!("// IR after {}\n{}", pass.name(), to_text(graph));
            }
        }
        Ok(changed)
    }
}
