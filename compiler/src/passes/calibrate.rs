//! `calibrate`: an analysis, not a transformation. Runs the reference interpreter on sample
//! images and records, for every node, the smallest and largest value it produced.
//!
//! Reads: any IR the reference interpreter runs. Writes nothing to the graph. The [`Ranges`] it
//! returns are keyed by [`NodeId`] and stay valid while those nodes live (passes that rewrite a
//! node in place, like `fuse-polynomials`, keep its id). `approximate-activations` needs the
//! range of every activation's operand; `fuse-polynomials` uses them to choose the Chebyshev
//! interval of each fused polynomial.
//!
//! Images are interpreted in parallel (rayon), each with a node evaluation order and use counts
//! computed once, and values are dropped as soon as their last user has run.

use crate::error::{CompileError, Result};
use crate::ir::{Graph, NodeId, Op, Tensor};
use crate::reference::{eval_op, fit_input};
use rayon::prelude::*;
use std::collections::HashMap;

/// The observed `[min, max]` of every node's values over the calibration images.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranges {
    map: HashMap<NodeId, (f64, f64)>,
}

impl Ranges {
    /// No range.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `(min, max)` of a node's values, if it was calibrated.
    pub fn get(&self, id: NodeId) -> Option<(f64, f64)> {
        self.map.get(&id).copied()
    }

    /// Sets (or replaces) a node's range.
    pub fn insert(&mut self, id: NodeId, range: (f64, f64)) {
        self.map.insert(id, range);
    }

    /// Number of calibrated nodes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no node is calibrated.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every `(node, (min, max))`, in node order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, (f64, f64))> + '_ {
        let mut v: Vec<_> = self.map.iter().map(|(&k, &r)| (k, r)).collect();
        v.sort_by_key(|(k, _)| *k);
        v.into_iter()
    }
}

/// `[lo − margin·h, hi + margin·h]` with `h = (hi − lo)/2` the half-width (`h = 1` for a
/// single-point range): a calibrated range widened to cover inputs slightly beyond those seen.
pub fn widen((lo, hi): (f64, f64), margin: f64) -> (f64, f64) {
    let h = 0.5 * (hi - lo);
    let h = if h > 0.0 { h } else { 1.0 };
    (lo - margin * h, hi + margin * h)
}

/// Runs `graph` on every image (in parallel) and returns each node's value range. No image
/// gives empty ranges (a network without activations to approximate needs none; the passes
/// that need a range say so, naming the node).
///
/// Errors: an image that does not fit the graph input; a node the interpreter fails on; a node
/// producing a non-finite value (its range would be meaningless), naming the node.
pub fn calibrate(graph: &Graph, images: &[Tensor]) -> Result<Ranges> {
    if images.is_empty() {
        return Ok(Ranges::new());
    }
    let plan = Plan::new(graph)?;
    let per_image: Vec<Vec<(f64, f64)>> = images
        .par_iter()
        .map(|img| plan.run(graph, img))
        .collect::<Result<_>>()?;
    let mut acc = vec![(f64::INFINITY, f64::NEG_INFINITY); plan.order.len()];
    for ranges in &per_image {
        for (a, r) in acc.iter_mut().zip(ranges) {
            *a = (a.0.min(r.0), a.1.max(r.1));
        }
    }
    let mut out = Ranges::new();
    for (&id, &r) in plan.order.iter().zip(&acc) {
        if r.0 <= r.1 {
            out.insert(id, r);
        }
    }
    Ok(out)
}

/// The evaluation order, operand slots and use counts, shared by all images.
struct Plan {
    input: NodeId,
    order: Vec<NodeId>,
    /// Operands of `order[i]`, as indices into `order`.
    operands: Vec<Vec<usize>>,
    /// How many operand slots read `order[i]`, plus one if it is a graph output.
    uses: Vec<usize>,
}

impl Plan {
    fn new(graph: &Graph) -> Result<Self> {
        let &[input] = graph.inputs() else {
            return Err(CompileError::InvalidInput {
                reason: format!("the graph has {} inputs, expected 1", graph.inputs().len()),
            });
        };
        let order = graph.topo_order()?;
        let slot: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let operands: Vec<Vec<usize>> = order
            .iter()
            .map(|&n| {
                graph
                    .operands(n)
                    .iter()
                    .map(|o| slot.get(o).copied().ok_or_else(|| missing(n, *o)))
                    .collect::<Result<_>>()
            })
            .collect::<Result<_>>()?;
        let uses = order.iter().map(|&n| graph.use_count(n)).collect();
        Ok(Self {
            input,
            order,
            operands,
            uses,
        })
    }

    /// The `(min, max)` of every node (in `order`) on one image.
    fn run(&self, graph: &Graph, image: &Tensor) -> Result<Vec<(f64, f64)>> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.order.len()];
        let mut left = self.uses.clone();
        let mut ranges = Vec::with_capacity(self.order.len());
        for (i, &id) in self.order.iter().enumerate() {
            let node = graph.node(id)?;
            let value = if id == self.input {
                fit_input(image, &graph.fact(id)?.shape)?
            } else if let Op::Input = node.op {
                return Err(CompileError::InvalidInput {
                    reason: format!("{id} is an input without a value"),
                });
            } else {
                let args: Vec<&Tensor> = self.operands[i]
                    .iter()
                    .map(|&o| values[o].as_ref().ok_or_else(|| missing(id, self.order[o])))
                    .collect::<Result<_>>()?;
                eval_op(&node.op, &args, &node.fact.shape).map_err(|reason| {
                    CompileError::InvalidNode {
                        op: node.op.name().into(),
                        node: format!("{id} '{}'", node.name),
                        reason,
                    }
                })?
            };
            ranges.push(range_of(&value).ok_or_else(|| CompileError::InvalidNode {
                op: node.op.name().into(),
                node: format!("{id} '{}'", node.name),
                reason: "produced a non-finite value on a calibration image".into(),
            })?);
            for &o in &self.operands[i] {
                left[o] -= 1;
                if left[o] == 0 {
                    values[o] = None;
                }
            }
            if left[i] > 0 {
                values[i] = Some(value);
            }
        }
        Ok(ranges)
    }
}

/// `(min, max)` of the values; `None` if one is not finite. An empty tensor gives `(∞, −∞)`.
fn range_of(t: &Tensor) -> Option<(f64, f64)> {
    let mut r = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in t.data() {
        if !v.is_finite() {
            return None;
        }
        r = (r.0.min(v), r.1.max(v));
    }
    Some(r)
}

fn missing(user: NodeId, operand: NodeId) -> CompileError {
    CompileError::Verify {
        after: "calibrate".into(),
        reason: format!("{operand} used by {user} has no value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Fact;

    #[test]
    fn records_min_and_max_over_all_images() {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![1, 3]), &[]);
        g.add_input(x);
        let s = g.add_node("s", Op::Square, Fact::new(vec![1, 3]), &[x]);
        g.set_outputs(vec![s]);
        let imgs = [
            Tensor::new(vec![1, 3], vec![-2.0, 0.5, 1.0]).unwrap(),
            Tensor::new(vec![3], vec![0.0, 3.0, -1.0]).unwrap(),
        ];
        let r = calibrate(&g, &imgs).unwrap();
        assert_eq!(r.get(x), Some((-2.0, 3.0)));
        assert_eq!(r.get(s), Some((0.0, 9.0)));
        assert!(calibrate(&g, &[]).unwrap().is_empty());
        let bad = Tensor::new(vec![3], vec![f64::NAN, 0.0, 0.0]).unwrap();
        let err = calibrate(&g, &[bad]).unwrap_err().to_string();
        assert!(err.contains("non-finite") && err.contains("'x'"), "{err}");
    }

    #[test]
    fn widen_adds_a_fraction_of_the_half_width() {
        assert_eq!(widen((-1.0, 3.0), 0.1), (-1.2, 3.2));
        assert_eq!(widen((2.0, 2.0), 0.5), (1.5, 2.5));
    }
}
