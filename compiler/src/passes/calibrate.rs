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

/// The observed `[min, max]` of every node's values over the calibration images, overall and
/// per channel (axis 1: the channels of an NCHW tensor, the features of a `[batch, features]`
/// one), for passes that treat channels separately.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranges {
    map: HashMap<NodeId, (f64, f64)>,
    channels: HashMap<NodeId, Vec<(f64, f64)>>,
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

    /// The `(min, max)` of each channel (axis 1) of a node's values, if it was calibrated and
    /// has a channel axis.
    pub fn channels(&self, id: NodeId) -> Option<&[(f64, f64)]> {
        self.channels.get(&id).map(Vec::as_slice)
    }

    /// Sets (or replaces) a node's per-channel ranges.
    pub fn insert_channels(&mut self, id: NodeId, ranges: Vec<(f64, f64)>) {
        self.channels.insert(id, ranges);
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
    let per_image: Vec<Vec<Vec<(f64, f64)>>> = images
        .par_iter()
        .map(|img| {
            let mut ranges = Vec::with_capacity(plan.order.len());
            plan.run(graph, img, |id, _, value| {
                ranges.push(channel_ranges(value).ok_or_else(|| {
                    let name = graph.node(id).map_or("?", |n| n.name.as_str());
                    let op = graph.node(id).map_or("?", |n| n.op.name());
                    CompileError::InvalidNode {
                        op: op.into(),
                        node: format!("{id} '{name}'"),
                        reason: "produced a non-finite value on a calibration image".into(),
                    }
                })?);
                Ok(())
            })?;
            Ok(ranges)
        })
        .collect::<Result<_>>()?;
    let mut acc: Vec<Vec<(f64, f64)>> = per_image[0].clone();
    for ranges in &per_image[1..] {
        for (a, r) in acc.iter_mut().zip(ranges) {
            for (a, r) in a.iter_mut().zip(r) {
                *a = union(*a, *r);
            }
        }
    }
    let mut out = Ranges::new();
    for (&id, channels) in plan.order.iter().zip(acc) {
        let r = channels.iter().fold(EMPTY, |a, &r| union(a, r));
        if r.0 <= r.1 {
            out.insert(id, r);
        }
        if graph.fact(id)?.shape.len() >= 2 && channels.iter().all(|r| r.0 <= r.1) {
            out.insert_channels(id, channels);
        }
    }
    Ok(out)
}

/// The range of no value.
const EMPTY: (f64, f64) = (f64::INFINITY, f64::NEG_INFINITY);

fn union(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0.min(b.0), a.1.max(b.1))
}

/// The evaluation order, operand slots and use counts of a graph, shared by all images: runs
/// the reference interpreter on one image and shows every node's value to a visitor, dropping
/// each value after its last use.
pub(super) struct Plan {
    input: NodeId,
    pub(super) order: Vec<NodeId>,
    /// Operands of `order[i]`, as indices into `order`.
    operands: Vec<Vec<usize>>,
    /// How many operand slots read `order[i]`, plus one if it is a graph output.
    uses: Vec<usize>,
}

impl Plan {
    pub(super) fn new(graph: &Graph) -> Result<Self> {
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

    /// Runs `graph` on one image, calling `visit(node, operand values, value)` for every node,
    /// in `order`.
    pub(super) fn run(
        &self,
        graph: &Graph,
        image: &Tensor,
        mut visit: impl FnMut(NodeId, &[&Tensor], &Tensor) -> Result<()>,
    ) -> Result<()> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.order.len()];
        let mut left = self.uses.clone();
        for (i, &id) in self.order.iter().enumerate() {
            let node = graph.node(id)?;
            let args: Vec<&Tensor> = self.operands[i]
                .iter()
                .map(|&o| values[o].as_ref().ok_or_else(|| missing(id, self.order[o])))
                .collect::<Result<_>>()?;
            let value = if id == self.input {
                fit_input(image, &graph.fact(id)?.shape)?
            } else if let Op::Input = node.op {
                return Err(CompileError::InvalidInput {
                    reason: format!("{id} is an input without a value"),
                });
            } else {
                eval_op(&node.op, &args, &node.fact.shape).map_err(|reason| {
                    CompileError::InvalidNode {
                        op: node.op.name().into(),
                        node: format!("{id} '{}'", node.name),
                        reason,
                    }
                })?
            };
            visit(id, &args, &value)?;
            drop(args);
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
        Ok(())
    }
}

/// `(min, max)` of the values of each channel (axis 1; the whole tensor is one channel below
/// rank 2); `None` if a value is not finite. An empty channel gives `(∞, −∞)`.
fn channel_ranges(t: &Tensor) -> Option<Vec<(f64, f64)>> {
    let shape = t.shape();
    let channels = if shape.len() >= 2 { shape[1] } else { 1 };
    let inner: usize = shape.iter().skip(2).product();
    let mut r = vec![EMPTY; channels];
    for (i, &v) in t.data().iter().enumerate() {
        if !v.is_finite() {
            return None;
        }
        let c = if shape.len() >= 2 {
            (i / inner) % channels
        } else {
            0
        };
        r[c] = union(r[c], (v, v));
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
        assert_eq!(
            r.channels(x),
            Some(&[(-2.0, 0.0), (0.5, 3.0), (-1.0, 1.0)][..])
        );
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
