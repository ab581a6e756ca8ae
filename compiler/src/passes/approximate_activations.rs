//! `approximate-activations`: replaces every `Relu`, `Sigmoid` and `Tanh` node by an
//! `Op::Poly`, the minimax polynomial of the activation ([`approx::approximate`]) on the
//! calibrated range of its operand.
//!
//! Reads: an IR whose activations' operands all have a range in the given [`Ranges`] (from
//! [`calibrate`](super::calibrate)). Guarantees: no `Relu`, `Sigmoid` or `Tanh` remains; node
//! ids, names and shapes are unchanged (each activation is rewritten in place).
//!
//! The interval is symmetric, `[-B, B]` with `B = (1 + margin)·max(|min|, |max|)` of the
//! operand's calibrated range (`B = 1` when the operand was always 0): symmetric because the
//! ReLU approximation approximates `|x|`, and for sigmoid and tanh it costs little. The margin
//! (default 25% of the half-width `max(|min|, |max|)`) covers inputs beyond those seen in
//! calibration: a polynomial is only accurate on its interval and grows like `T_d` outside it
//! (`T_15(1.1) ≈ 770`, `T_31(1.1) ≈ 10^6`), so an unseen image exceeding the calibrated range
//! must still land inside, or its scores are garbage. On the 10,000 test images of
//! Fashion-MNIST and KMNIST, ranges calibrated on 1000 training images were exceeded by up to
//! 57%, and a 10% margin let 2 and 19 images explode at degree 31; ranges calibrated on 10,000
//! training images were exceeded by at most 8%, and with a 25% margin none exploded. A wider
//! margin costs accuracy everywhere (the ReLU error grows linearly with `B`): on Fashion-MNIST,
//! 25% lost 0.20 points at degree 31 and 50% lost 0.48.

use super::calibrate::Ranges;
use super::{Pass, PassManager};
use crate::approx::{self, Activation};
use crate::error::{CompileError, Result};
use crate::ir::{Graph, NodeId, Op};
use std::collections::BTreeMap;

/// The largest degree accepted: far beyond what a CKKS circuit without bootstrapping affords,
/// and it bounds the time spent on the approximation.
pub const MAX_DEGREE: usize = 1023;

/// Degrees and interval margin of [`ApproximateActivations`].
#[derive(Clone, Debug, PartialEq)]
pub struct ApproxConfig {
    /// The degree of every approximation without an override.
    pub degree: usize,
    /// Per-node degrees, by node (ONNX) name of the activation.
    pub overrides: BTreeMap<String, usize>,
    /// Fraction of the half-width added on each side of the calibrated range.
    pub margin: f64,
}

impl Default for ApproxConfig {
    /// Degree 15 (depth 4) and a 25% margin.
    fn default() -> Self {
        Self {
            degree: 15,
            overrides: BTreeMap::new(),
            margin: 0.25,
        }
    }
}

impl ApproxConfig {
    /// A global degree, no override, the default margin.
    pub fn new(degree: usize) -> Self {
        Self {
            degree,
            ..Self::default()
        }
    }

    /// Uses `degree` for the activation node named `node`.
    pub fn with_override(mut self, node: impl Into<String>, degree: usize) -> Self {
        self.overrides.insert(node.into(), degree);
        self
    }

    /// Sets the margin (a fraction of the half-width, `>= 0`).
    pub fn with_margin(mut self, margin: f64) -> Self {
        self.margin = margin;
        self
    }

    fn check(&self) -> Result<()> {
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(CompileError::Options(format!(
                "the activation interval margin must be a finite number >= 0, got {}",
                self.margin
            )));
        }
        for (what, d) in std::iter::once(("the activation degree".to_string(), self.degree)).chain(
            self.overrides
                .iter()
                .map(|(n, &d)| (format!("the degree of node '{n}'"), d)),
        ) {
            if !(1..=MAX_DEGREE).contains(&d) {
                return Err(CompileError::Options(format!(
                    "{what} must be between 1 and {MAX_DEGREE}, got {d}"
                )));
            }
        }
        Ok(())
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct ApproximateActivations {
    ranges: Ranges,
    config: ApproxConfig,
}

impl ApproximateActivations {
    /// The pass, with the calibrated ranges and the degrees to use.
    pub fn new(ranges: Ranges, config: ApproxConfig) -> Self {
        Self { ranges, config }
    }

    /// The symmetric interval `[-B, B]` for the operand `x` of activation `id`.
    fn interval(&self, graph: &Graph, id: NodeId, x: NodeId) -> Result<(f64, f64)> {
        let node = graph.node(id)?;
        let fail = |reason: String| CompileError::InvalidNode {
            op: node.op.name().into(),
            node: format!("{id} '{}'", node.name),
            reason,
        };
        let (lo, hi) = self.ranges.get(x).ok_or_else(|| {
            fail(format!(
                "its operand {x} ('{}') has no calibrated range; run passes::calibrate on \
                 sample images and give its ranges to approximate-activations",
                graph.node(x).map_or("?", |n| n.name.as_str())
            ))
        })?;
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(fail(format!(
                "the calibrated range [{lo}, {hi}] of its operand is not a finite interval"
            )));
        }
        let b = (1.0 + self.config.margin) * lo.abs().max(hi.abs());
        let b = if b > 0.0 { b } else { 1.0 };
        Ok((-b, b))
    }
}

impl Pass for ApproximateActivations {
    fn name(&self) -> &'static str {
        "approximate-activations"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        self.config.check()?;
        let mut todo = Vec::new();
        for id in graph.node_ids() {
            let node = graph.node(id)?;
            let activation = match node.op {
                Op::Relu => Activation::Relu,
                Op::Sigmoid => Activation::Sigmoid,
                Op::Tanh => Activation::Tanh,
                _ => continue,
            };
            let degree = self
                .config
                .overrides
                .get(&node.name)
                .copied()
                .unwrap_or(self.config.degree);
            todo.push((id, activation, degree, node.name.clone()));
        }
        if let Some(name) = self
            .config
            .overrides
            .keys()
            .find(|n| !todo.iter().any(|t| &t.3 == *n))
        {
            return Err(CompileError::Options(format!(
                "a degree is given for node '{name}', but the graph has no ReLU, sigmoid or \
                 tanh node of that name"
            )));
        }
        for &(id, activation, degree, _) in &todo {
            let x = match graph.operands(id).as_slice() {
                [x] => *x,
                _ => continue,
            };
            let interval = self.interval(graph, id, x)?;
            graph.node_mut(id)?.op = Op::Poly(approx::approximate(activation, interval, degree));
        }
        Ok(!todo.is_empty())
    }
}

/// Runs [`ApproximateActivations`] with one `degree` for every activation and the default
/// margin, then verifies the IR; returns whether anything changed.
pub fn approximate_activations(graph: &mut Graph, ranges: &Ranges, degree: usize) -> Result<bool> {
    let mut pm = PassManager::new();
    pm.add(ApproximateActivations::new(
        ranges.clone(),
        ApproxConfig::new(degree),
    ));
    pm.run(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Fact, Tensor};
    use crate::reference;

    fn graph() -> (Graph, NodeId, NodeId) {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![1, 4]), &[]);
        g.add_input(x);
        let r = g.add_node("act", Op::Relu, Fact::new(vec![1, 4]), &[x]);
        g.set_outputs(vec![r]);
        (g, x, r)
    }

    #[test]
    fn relu_becomes_a_polynomial_on_the_widened_symmetric_range() {
        let (mut g, x, r) = graph();
        let mut ranges = Ranges::new();
        ranges.insert(x, (-1.0, 2.0));
        let pass = ApproximateActivations::new(ranges, ApproxConfig::new(16));
        assert!(pass.run(&mut g).unwrap());
        let Op::Poly(p) = &g.node(r).unwrap().op else {
            panic!("not a polynomial")
        };
        assert_eq!(p.interval, (-2.5, 2.5));
        assert_eq!((p.degree(), p.approximates.as_str()), (16, "relu"));
        let input = Tensor::new(vec![1, 4], vec![-1.0, -0.3, 0.4, 2.0]).unwrap();
        let out = reference::run(&g, &input).unwrap();
        for (o, i) in out.data().iter().zip(input.data()) {
            assert!((o - i.max(0.0)).abs() < 0.04, "{o} vs {i}");
        }
    }

    #[test]
    fn missing_range_and_bad_options_are_errors() {
        let (mut g, _, _) = graph();
        let pass = ApproximateActivations::new(Ranges::new(), ApproxConfig::default());
        let err = pass.run(&mut g).unwrap_err().to_string();
        assert!(err.contains("'act'") && err.contains("calibrate"), "{err}");
        for config in [
            ApproxConfig::new(0),
            ApproxConfig::default().with_margin(-1.0),
            ApproxConfig::default().with_override("nope", 3),
        ] {
            let pass = ApproximateActivations::new(Ranges::new(), config);
            assert!(matches!(pass.run(&mut g), Err(CompileError::Options(_))));
        }
    }
}
