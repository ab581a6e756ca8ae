//! `fuse-polynomials`: replaces each maximal subgraph of element-wise operations that computes
//! a polynomial of one variable by one exact `Op::Poly`.
//!
//! Fusable operations: `Add`, `Sub`, `Mul` (between two polynomials of the same variable, or
//! with a scalar constant, i.e. a `Const` whose values are all equal), `Square` and `Poly`. A
//! region is grown from its last node towards its operands, taking in an operand only if it is
//! fusable, has the same shape, is not a graph output and all its users are already in the
//! region (so no intermediate value is needed elsewhere); it is fused when its only
//! non-constant input is one node `x`. Networks that export `0.125·x² + 0.5·x + 0.25` as
//! `x * (0.125 * x + 0.5) + 0.25` (four nodes) get one degree-2 `Poly` per activation.
//!
//! Not fused: results of degree 0 or 1 (an affine map stays `Mul`/`Add`, which the layout
//! stage folds into the neighbouring linear layers), a lone `Square` or `Poly` (nothing to
//! gain), and results above `max_degree` (default 2: a degree-2 result lowers to one
//! completed square, one level, where its parts took two; higher composites, such as two
//! chained squares, would cost `ceil(log2(d+1))` levels, more than their parts). A fused result that is exactly `x²` becomes `Square`.
//!
//! The polynomial is computed exactly (up to rounding) in the Chebyshev basis of the range of
//! `x`: its calibrated range widened by `margin` (default 10% of the half-width, as in
//! `approximate-activations`) when ranges are given and hold `x`, otherwise `[-1, 1]`. The interval does not
//! change the function, only its basis: it should contain the values `x` takes so that the
//! homomorphic evaluator works on `t ∈ [-1, 1]`. `approximates` is `polynomial`, or `fused
//! relu` (etc.) when the region contained approximated activations.
//!
//! Reads: any IR (and [`Ranges`] of the variables when given). Guarantees: same values; the
//! last node of each region keeps its id and name and becomes the `Poly`; the other nodes of
//! the region, and constants left unused, are removed.

use super::calibrate::{widen, Ranges};
use super::{Pass, PassManager};
use crate::approx::{series, Polynomial};
use crate::error::{CompileError, Result};
use crate::ir::{Graph, NodeId, Op};
use std::collections::{BTreeSet, HashMap, HashSet};

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct FusePolynomials {
    ranges: Option<Ranges>,
    margin: f64,
    max_degree: usize,
}

impl Default for FusePolynomials {
    fn default() -> Self {
        Self::new()
    }
}

impl FusePolynomials {
    /// The pass without ranges (polynomials in the basis of `[-1, 1]`), margin 10%, maximum
    /// degree 31.
    pub fn new() -> Self {
        Self {
            ranges: None,
            margin: 0.1,
            max_degree: 2,
        }
    }

    /// Uses the calibrated ranges for the interval of each fused polynomial (a variable
    /// without a range still gets `[-1, 1]`).
    pub fn with_ranges(mut self, ranges: Ranges) -> Self {
        self.ranges = Some(ranges);
        self
    }

    /// Sets the margin added to calibrated ranges (a fraction of the half-width, `>= 0`).
    pub fn with_margin(mut self, margin: f64) -> Self {
        self.margin = margin;
        self
    }

    /// Sets the largest degree a fused polynomial may have.
    pub fn with_max_degree(mut self, max_degree: usize) -> Self {
        self.max_degree = max_degree;
        self
    }

    /// The Chebyshev interval for variable `x`, used by the region ending at `root`: its
    /// widened calibrated range, or `[-1, 1]` when it has none.
    fn interval(&self, graph: &Graph, root: NodeId, x: NodeId) -> Result<(f64, f64)> {
        let Some((lo, hi)) = self.ranges.as_ref().and_then(|r| r.get(x)) else {
            return Ok((-1.0, 1.0));
        };
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            let node = graph.node(root)?;
            return Err(CompileError::InvalidNode {
                op: node.op.name().into(),
                node: format!("{root} '{}'", node.name),
                reason: format!(
                    "the calibrated range [{lo}, {hi}] of the variable {x} of the polynomial \
                     ending here is not a finite interval"
                ),
            });
        }
        Ok(widen((lo, hi), self.margin))
    }
}

impl Pass for FusePolynomials {
    fn name(&self) -> &'static str {
        "fuse-polynomials"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(CompileError::Options(format!(
                "the polynomial interval margin must be a finite number >= 0, got {}",
                self.margin
            )));
        }
        let order = graph.topo_order()?;
        let var_of = single_variables(graph, &order)?;
        let mut claimed: HashSet<NodeId> = HashSet::new();
        let mut changed = false;
        for &root in order.iter().rev() {
            if claimed.contains(&root) {
                continue;
            }
            let Some(&v) = var_of.get(&root) else {
                continue;
            };
            let region = grow(graph, root, v, &var_of, &claimed)?;
            let Some(fused) = self.fuse(graph, &order, root, &region)? else {
                continue;
            };
            rewrite(graph, root, &region, fused)?;
            claimed.extend(region);
            changed = true;
        }
        Ok(changed)
    }
}

/// A fused region's replacement: the new op and its only operand.
struct Fused {
    op: Op,
    x: NodeId,
}

impl FusePolynomials {
    /// The op replacing `region` (ending at `root`), or `None` when it is not worth fusing.
    fn fuse(
        &self,
        graph: &Graph,
        order: &[NodeId],
        root: NodeId,
        region: &BTreeSet<NodeId>,
    ) -> Result<Option<Fused>> {
        let mut leaves = BTreeSet::new();
        for &n in region {
            for o in graph.operands(n) {
                if !region.contains(&o) && scalar_const(graph, o)?.is_none() {
                    leaves.insert(o);
                }
            }
        }
        let &[x] = leaves.iter().copied().collect::<Vec<_>>().as_slice() else {
            return Ok(None);
        };
        let lone = region.len() == 1 && matches!(graph.node(root)?.op, Op::Square | Op::Poly(_));
        if lone {
            return Ok(None);
        }
        let interval = self.interval(graph, root, x)?;
        let mut labels = BTreeSet::new();
        let mut values: HashMap<NodeId, Vec<f64>> = HashMap::new();
        values.insert(x, series::variable(interval));
        for &n in order.iter().filter(|n| region.contains(n)) {
            let args: Vec<Vec<f64>> = graph
                .operands(n)
                .iter()
                .map(|o| match values.get(o) {
                    Some(s) => Ok(s.clone()),
                    None => scalar_const(graph, *o)?.map(|c| vec![c]).ok_or_else(|| {
                        CompileError::Verify {
                            after: "fuse-polynomials".into(),
                            reason: format!("{o}, operand of {n}, is outside the region"),
                        }
                    }),
                })
                .collect::<Result<_>>()?;
            let value = match (&graph.node(n)?.op, args.as_slice()) {
                (Op::Add, [a, b]) => series::add(a, b),
                (Op::Sub, [a, b]) => series::sub(a, b),
                (Op::Mul, [a, b]) => series::mul(a, b),
                (Op::Square, [a]) => series::mul(a, a),
                (Op::Poly(p), [a]) => {
                    if p.approximates != "polynomial" {
                        labels.insert(p.approximates.clone());
                    }
                    let (alpha, beta) = series::unit_map(p.interval);
                    series::compose(&p.coeffs, &series::add(&series::scale(a, alpha), &[beta]))
                }
                _ => return Ok(None),
            };
            // Stop as soon as a partial result is too long: a chain of k squares would
            // otherwise build a series of 2^k coefficients.
            if value.len() > self.max_degree + 1 {
                return Ok(None);
            }
            values.insert(n, value);
        }
        let coeffs = series::trim(values.remove(&root).unwrap_or_default());
        let degree = coeffs.len() - 1;
        if degree < 2 || degree > self.max_degree || coeffs.iter().any(|c| !c.is_finite()) {
            return Ok(None);
        }
        let op = if is_square(&coeffs, interval) {
            Op::Square
        } else {
            Op::Poly(Polynomial {
                coeffs,
                interval,
                approximates: if labels.is_empty() {
                    "polynomial".into()
                } else {
                    let l: Vec<String> = labels.into_iter().collect();
                    format!("fused {}", l.join("+"))
                },
            })
        };
        Ok(Some(Fused { op, x }))
    }
}

/// For every fusable node whose non-constant inputs, looking through fusable operations,
/// reduce to a single node `v` of the same shape: `v`.
fn single_variables(graph: &Graph, order: &[NodeId]) -> Result<HashMap<NodeId, NodeId>> {
    let mut var_of: HashMap<NodeId, NodeId> = HashMap::new();
    for &n in order {
        let node = graph.node(n)?;
        if !matches!(
            node.op,
            Op::Add | Op::Sub | Op::Mul | Op::Square | Op::Poly(_)
        ) {
            continue;
        }
        let mut bases = BTreeSet::new();
        for o in graph.operands(n) {
            if scalar_const(graph, o)?.is_none() {
                bases.insert(var_of.get(&o).copied().unwrap_or(o));
            }
        }
        if let &[v] = bases.iter().copied().collect::<Vec<_>>().as_slice() {
            let v_node = graph.node(v)?;
            if v_node.fact.shape == node.fact.shape && !matches!(v_node.op, Op::Const(_)) {
                var_of.insert(n, v);
            }
        }
    }
    Ok(var_of)
}

/// The region ending at `root`: operands of variable `v` taken in while all their users are in.
fn grow(
    graph: &Graph,
    root: NodeId,
    v: NodeId,
    var_of: &HashMap<NodeId, NodeId>,
    claimed: &HashSet<NodeId>,
) -> Result<BTreeSet<NodeId>> {
    let mut region = BTreeSet::from([root]);
    loop {
        let mut added = false;
        for n in region.clone() {
            for o in graph.operands(n) {
                let absorb = !region.contains(&o)
                    && !claimed.contains(&o)
                    && var_of.get(&o) == Some(&v)
                    && !graph.outputs().contains(&o)
                    && graph.users(o).iter().all(|u| region.contains(u));
                if absorb {
                    region.insert(o);
                    added = true;
                }
            }
        }
        if !added {
            return Ok(region);
        }
    }
}

/// The value of a `Const` whose values are all equal (and finite).
fn scalar_const(graph: &Graph, id: NodeId) -> Result<Option<f64>> {
    Ok(match &graph.node(id)?.op {
        Op::Const(t) => t
            .data()
            .first()
            .copied()
            .filter(|&c| c.is_finite() && t.all_equal(c)),
        _ => None,
    })
}

/// Whether the series is `x²` on `interval`, up to rounding.
fn is_square(coeffs: &[f64], interval: (f64, f64)) -> bool {
    let x = series::variable(interval);
    let sq = series::mul(&x, &x);
    let scale: f64 = sq.iter().map(|c| c.abs()).sum();
    coeffs.len() == sq.len()
        && coeffs
            .iter()
            .zip(&sq)
            .all(|(a, b)| (a - b).abs() <= 16.0 * f64::EPSILON * scale)
}

/// Turns `root` into the fused op on `x` and removes the rest of the region and the constants
/// it leaves unused.
fn rewrite(graph: &mut Graph, root: NodeId, region: &BTreeSet<NodeId>, fused: Fused) -> Result<()> {
    let mut consts = BTreeSet::new();
    for &n in region {
        for o in graph.operands(n) {
            if matches!(graph.node(o)?.op, Op::Const(_)) {
                consts.insert(o);
            }
        }
    }
    graph.node_mut(root)?.op = fused.op;
    graph.set_operands(root, &[fused.x]);
    for &n in region.iter().filter(|&&n| n != root) {
        graph.remove_node(n);
    }
    for c in consts {
        if graph.use_count(c) == 0 {
            graph.remove_node(c);
        }
    }
    Ok(())
}

/// Runs [`FusePolynomials`] (with `ranges` when given, default margin and maximum degree),
/// then verifies the IR; returns whether anything changed.
pub fn fuse_polynomials(graph: &mut Graph, ranges: Option<&Ranges>) -> Result<bool> {
    let pass = match ranges {
        Some(r) => FusePolynomials::new().with_ranges(r.clone()),
        None => FusePolynomials::new(),
    };
    let mut pm = PassManager::new();
    pm.add(pass);
    pm.run(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{verify, Fact, Tensor};
    use crate::reference;

    fn scalar(g: &mut Graph, v: f64) -> NodeId {
        g.add_node("c", Op::Const(Tensor::scalar(v)), Fact::new(vec![]), &[])
    }

    /// `x → dense → x·(0.125·x + 0.5) + 0.25` and the dense node.
    fn poly_graph() -> (Graph, NodeId) {
        let mut g = Graph::new();
        let inp = g.add_node("in", Op::Input, Fact::new(vec![1, 3]), &[]);
        g.add_input(inp);
        let w = Tensor::new(
            vec![3, 3],
            vec![1.0, 2.0, 0.0, -1.0, 0.5, 3.0, 0.0, 0.0, 1.0],
        );
        let d = crate::ir::Dense {
            weight: w.unwrap(),
            bias: None,
        };
        let x = g.add_inferred("x", Op::Dense(d), &[inp]).unwrap();
        let (c1, c2, c3) = (
            scalar(&mut g, 0.125),
            scalar(&mut g, 0.5),
            scalar(&mut g, 0.25),
        );
        let a = g.add_inferred("a", Op::Mul, &[x, c1]).unwrap();
        let b = g.add_inferred("b", Op::Add, &[a, c2]).unwrap();
        let m = g.add_inferred("m", Op::Mul, &[x, b]).unwrap();
        let out = g.add_inferred("out", Op::Add, &[m, c3]).unwrap();
        g.set_outputs(vec![out]);
        (g, x)
    }

    fn count(g: &Graph, f: impl Fn(&Op) -> bool) -> usize {
        g.node_ids()
            .iter()
            .filter(|&&n| f(&g.node(n).unwrap().op))
            .count()
    }

    #[test]
    fn mul_add_chain_becomes_one_exact_quadratic() {
        let (mut g, x) = poly_graph();
        let input = Tensor::new(vec![1, 3], vec![0.3, -2.0, 1.5]).unwrap();
        let before = reference::run(&g, &input).unwrap();
        let mut ranges = Ranges::new();
        ranges.insert(x, (-5.0, 3.0));
        assert!(FusePolynomials::new()
            .with_ranges(ranges)
            .run(&mut g)
            .unwrap());
        verify(&g, "fuse-polynomials").unwrap();
        assert_eq!(g.len(), 3, "input, dense, poly");
        let out = g.outputs()[0];
        let Op::Poly(p) = &g.node(out).unwrap().op else {
            panic!("not fused")
        };
        assert_eq!((p.degree(), p.interval), (2, (-5.4, 3.4)));
        assert_eq!(g.node(out).unwrap().name, "out");
        let after = reference::run(&g, &input).unwrap();
        for (a, b) in after.data().iter().zip(before.data()) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn affine_maps_lone_squares_and_shared_values_are_left_alone() {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![4]), &[]);
        g.add_input(x);
        let c = scalar(&mut g, 2.0);
        let a = g.add_inferred("a", Op::Mul, &[x, c]).unwrap();
        let b = g.add_inferred("b", Op::Add, &[a, c]).unwrap();
        let s = g.add_inferred("s", Op::Square, &[b]).unwrap();
        let t = g.add_inferred("t", Op::Square, &[x]).unwrap();
        g.set_outputs(vec![s, b, t]);
        // b is an output: (2x+2)² is only a polynomial of b, and Square(b) is lone.
        assert!(!FusePolynomials::new().run(&mut g).unwrap());
        assert_eq!(g.len(), 6);
        // With b no longer an output, Square(2x + 2) fuses into a quadratic of x.
        g.set_outputs(vec![s, t]);
        assert!(FusePolynomials::new().run(&mut g).unwrap());
        assert_eq!(count(&g, |op| matches!(op, Op::Poly(_))), 1);
        assert_eq!(count(&g, |op| matches!(op, Op::Square)), 1);
        assert_eq!(count(&g, |op| matches!(op, Op::Const(_))), 0);
    }

    #[test]
    fn exact_square_becomes_square() {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![4]), &[]);
        g.add_input(x);
        let (c2, ch) = (scalar(&mut g, 2.0), scalar(&mut g, 0.5));
        let a = g.add_inferred("a", Op::Mul, &[x, c2]).unwrap();
        let b = g.add_inferred("b", Op::Mul, &[x, ch]).unwrap();
        let m = g.add_inferred("m", Op::Mul, &[a, b]).unwrap();
        g.set_outputs(vec![m]);
        assert!(fuse_polynomials(&mut g, Some(&Ranges::new())).unwrap());
        assert!(matches!(g.node(m).unwrap().op, Op::Square));
        assert_eq!(g.operands(m), vec![x]);
        assert_eq!(g.len(), 2);
    }
}
