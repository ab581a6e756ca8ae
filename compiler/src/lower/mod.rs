//! Lowering: the polynomial-activation IR, a slot count and a top level become a
//! [`Circuit`].
//!
//! Linear ops accumulate into a pending [`LinearMap`] until a non-linear consumer needs their
//! value; the whole chain then becomes one [`Instr::LinearTransform`] (one level), with the
//! output layout chosen by [`layout::diagonals::plan`]. A polynomial's change of variable onto
//! `[-1, 1]` is folded into the transform that feeds it; a degree-2 polynomial becomes a
//! completed square (one product, one level). Reshapes are free: they rename positions.

mod emit;

use crate::approx::Polynomial;
use crate::error::{CompileError, Result};
use crate::ir::{Graph, NodeId, Op};
use crate::layout::diagonals::Planned;
use crate::layout::{self, cost, linear_map, Layout, LinearMap};
use blindfold_runtime::circuit::{
    ChebyshevPoly, Circuit, InputSpec, Instr, LayerInfo, Metadata, OutputSpec, Preprocess, ValueId,
};
use blindfold_runtime::ckks::CkksParamsSpec;
use emit::Emitter;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};

/// What lowering needs besides the graph.
#[derive(Clone, Debug)]
pub struct LowerOptions {
    /// The parameter set (its ring degree fixes the slot count, its chain the top level).
    pub params: CkksParamsSpec,
    /// How images become the input tensor.
    pub preprocess: Preprocess,
    /// Provenance recorded in the circuit.
    pub meta: Metadata,
    /// Fewer rotation keys at the price of server time: one baby-step count shared by every
    /// transform and giant steps as chains of rotations by `±n1` (see [`lower`]). Off, each
    /// transform gets its own cheapest baby-step count and one key per giant step, which is
    /// faster (giant rotations summed with one ModDown, in parallel) but needs more keys.
    pub small_keys: bool,
}

/// A tensor already held in ciphertexts.
#[derive(Clone, Debug)]
struct Held {
    values: Vec<ValueId>,
    layout: Layout,
    /// Whether every slot that holds no element is zero (up to CKKS noise), so a transform may
    /// replicate it: the circuit's input, fresh from the client; the output of an unfolded
    /// transform (its diagonals and bias reach output slots only); a polynomial of a clean
    /// value once the constant it leaves in the empty slots is taken away.
    clean: bool,
}

/// A linear chain not yet emitted: `map` applied to the tensor of `source`.
#[derive(Clone, Debug)]
struct Pending {
    source: NodeId,
    map: LinearMap,
    stride: [usize; 2],
    names: Vec<String>,
    kinds: Vec<String>,
}

/// Lowers `graph` (activations already polynomial) into a circuit for `options.params`.
/// The input is encrypted at the top level of the chain.
///
/// With [`LowerOptions::small_keys`], every transform uses one baby-step count `n1` shared by the whole circuit, so that the
/// baby steps (and the Horner giant steps `±n1`) of all layers need the same rotation keys:
/// powers of two up to [`MAX_SHARED_N1`] are tried (from 16 and 32 towards the cheaper side
/// while the cost falls), and the circuit with the smallest
/// total cost (rotations and diagonals of every transform, plus
/// [`layout::cost::ROTATION_KEY`] per distinct rotation key) is kept.
pub fn lower(graph: &Graph, options: &LowerOptions) -> Result<Circuit> {
    let slots = 1usize << (options.params.log_n - 1);
    let top = options.params.q.len().saturating_sub(1);
    if !options.small_keys {
        let (circuit, _) = Lowerer::new(graph, slots, top)?.run(options)?;
        return Ok(circuit);
    }
    let max = slots.clamp(1, MAX_SHARED_N1);
    let score_of = |n1: usize| -> Result<(f64, Circuit)> {
        let mut lowerer = Lowerer::new(graph, slots, top)?;
        lowerer.shared_n1 = n1;
        let (circuit, work) = lowerer.run(options)?;
        let score = work + layout::cost::ROTATION_KEY * circuit.rotations.len() as f64;
        Ok((score, circuit))
    };
    // The total cost is close to unimodal in n1: start from 16 and 32, then walk towards the
    // cheaper side while the cost falls.
    let (lo, hi) = (16.min(max), 32.min(max));
    let mut best = score_of(lo)?;
    if hi != lo {
        let up = score_of(hi)?;
        let step_up = up.0 < best.0;
        if step_up {
            best = up;
        }
        let mut n1 = if step_up { hi * 2 } else { lo / 2 };
        while (1..=max).contains(&n1) {
            let next = score_of(n1)?;
            if next.0 >= best.0 {
                break;
            }
            best = next;
            n1 = if step_up { n1 * 2 } else { n1 / 2 };
        }
    }
    Ok(best.1)
}

/// The largest baby-step count shared by a circuit's transforms that [`lower`] tries.
pub const MAX_SHARED_N1: usize = 128;

/// The number of levels `graph` consumes once lowered (independent of the slot count and of
/// the packings, which this does not plan).
pub fn depth(graph: &Graph) -> Result<usize> {
    const TOP: usize = 1 << 20;
    let mut lowerer = Lowerer::new(graph, 1 << 12, TOP)?;
    lowerer.levels_only = true;
    let (emitter, _) = lowerer.emit_all()?;
    Ok(TOP - emitter.min_level())
}

struct Lowerer<'g> {
    graph: &'g Graph,
    slots: usize,
    top: usize,
    order: Vec<NodeId>,
    /// Emit transforms without diagonals (compact packing, nothing planned): enough to
    /// count levels.
    levels_only: bool,
    /// The baby-step count of every transform (0: each transform picks its own).
    shared_n1: usize,
    /// The rotation keys the transforms planned so far need.
    keys: RefCell<BTreeSet<u32>>,
    /// The weighted rotations and diagonals of the transforms planned so far.
    work: Cell<f64>,
}

impl<'g> Lowerer<'g> {
    fn new(graph: &'g Graph, slots: usize, top: usize) -> Result<Self> {
        Ok(Self {
            graph,
            slots,
            top,
            order: graph.topo_order()?,
            levels_only: false,
            shared_n1: 0,
            keys: RefCell::new(BTreeSet::new()),
            work: Cell::new(0.0),
        })
    }

    fn run(self, options: &LowerOptions) -> Result<(Circuit, f64)> {
        let (emitter, (input, output)) = self.emit_all()?;
        let mut circuit = Circuit {
            params: options.params.clone(),
            input: InputSpec {
                preprocess: options.preprocess.clone(),
                ..input
            },
            output,
            rotations: Vec::new(),
            constants: emitter.constants,
            transforms: emitter.transforms,
            polynomials: emitter.polynomials,
            steps: emitter.steps,
            layers: emitter.layers,
            meta: options.meta.clone(),
        };
        circuit.rotations = circuit.required_rotations();
        circuit.validate()?;
        Ok((circuit, self.work.get()))
    }

    fn emit_all(&self) -> Result<(Emitter, (InputSpec, OutputSpec))> {
        let g = self.graph;
        let mut em = Emitter::new(self.slots);
        let mut held: HashMap<NodeId, Held> = HashMap::new();
        let mut pending: HashMap<NodeId, Pending> = HashMap::new();
        let mut input_spec = None;
        for &id in &self.order {
            let node = g.node(id)?;
            let shape = node.fact.shape.clone();
            match &node.op {
                Op::Const(_) => {}
                Op::Input => {
                    if input_spec.is_some() {
                        return Err(self.err(id, "the circuit supports one input"));
                    }
                    let layout = Layout::compact(&shape, self.slots);
                    let values = em.define_input(layout.ciphertexts, self.top);
                    let mut slots = vec![Vec::new(); layout.ciphertexts];
                    for e in 0..layout.positions.len() {
                        let (ct, s) = layout.locate(e);
                        slots[ct].push((s as u32, e as u32));
                    }
                    input_spec = Some(InputSpec {
                        shape: shape.clone(),
                        values: values.clone(),
                        slots,
                        level: self.top,
                        preprocess: Preprocess {
                            channels: 1,
                            height: 1,
                            width: 1,
                            pixel_scale: 1.0,
                            mean: vec![],
                            std: vec![],
                        },
                    });
                    held.insert(
                        id,
                        Held {
                            values,
                            layout,
                            clean: true,
                        },
                    );
                }
                Op::Poly(p) => {
                    let x = self.data_operand(id)?;
                    self.lower_poly(id, x, p, &mut em, &mut held, &mut pending)?;
                }
                Op::Square => {
                    let x = self.data_operand(id)?;
                    let hx = self.materialize(x, &mut em, &mut held, &mut pending)?;
                    let layer = em.layer(LayerInfo {
                        name: node.name.clone(),
                        kind: "square (x*x)".into(),
                        input_shape: shape.clone(),
                        output_shape: shape.clone(),
                    });
                    let values = hx
                        .values
                        .iter()
                        .map(|&v| em.push(layer, |dst| Instr::Mul { dst, a: v, b: v }))
                        .collect::<Result<Vec<_>>>()?;
                    // 0² = 0: a clean operand gives a clean square.
                    held.insert(
                        id,
                        Held {
                            values,
                            layout: hx.layout,
                            clean: hx.clean,
                        },
                    );
                }
                Op::Relu | Op::Sigmoid | Op::Tanh => {
                    return Err(self.err(
                        id,
                        "the activation was not replaced by a polynomial; run the approximate-activations pass (compile with calibration data)",
                    ))
                }
                Op::Add | Op::Sub | Op::Mul if self.constant_operand(id).is_none() => {
                    self.lower_binary(id, &mut em, &mut held, &mut pending)?;
                }
                op => {
                    let (x, constant) = match self.constant_operand(id) {
                        Some((c, pos)) => (g.operands(id)[1 - pos], Some((c, 1 - pos))),
                        None => (self.data_operand(id)?, None),
                    };
                    let in_shape = g.fact(x)?.shape.clone();
                    let map = linear_map::of_op(op, &in_shape, &shape, constant)
                        .ok_or_else(|| self.err(id, "no linear form for this op"))?
                        .map_err(|r| self.err(id, &r))?;
                    let stride = match op {
                        Op::Conv(c) => c.strides,
                        Op::AvgPool(p) => p.strides,
                        _ => [1, 1],
                    };
                    let kind = describe(op);
                    let p = match pending.get(&x) {
                        Some(prev) if g.use_count(x) == 1 && !g.outputs().contains(&x) => {
                            let mut p = prev.clone();
                            p.map = map.after(&prev.map);
                            p.stride = [p.stride[0] * stride[0], p.stride[1] * stride[1]];
                            p.names.push(node.name.clone());
                            p.kinds.push(kind);
                            p
                        }
                        _ => {
                            self.materialize(x, &mut em, &mut held, &mut pending)?;
                            Pending {
                                source: x,
                                map,
                                stride,
                                names: vec![node.name.clone()],
                                kinds: vec![kind],
                            }
                        }
                    };
                    pending.insert(id, p);
                }
            }
        }
        let out_id = match g.outputs() {
            [o] => *o,
            outs => {
                return Err(CompileError::Lower {
                    node: "<graph>".into(),
                    op: "output".into(),
                    reason: format!(
                        "the circuit supports one output, the graph has {}",
                        outs.len()
                    ),
                })
            }
        };
        let out = self.materialize(out_id, &mut em, &mut held, &mut pending)?;
        let output = OutputSpec {
            shape: g.fact(out_id)?.shape.clone(),
            values: out.values.clone(),
            positions: (0..out.layout.positions.len())
                .map(|e| {
                    let (ct, s) = out.layout.locate(e);
                    (ct as u32, s as u32)
                })
                .collect(),
        };
        let input = input_spec.ok_or_else(|| CompileError::Lower {
            node: "<graph>".into(),
            op: "input".into(),
            reason: "the graph has no input".into(),
        })?;
        Ok((em, (input, output)))
    }

    fn err(&self, id: NodeId, reason: &str) -> CompileError {
        let (node, op) = self
            .graph
            .node(id)
            .map(|n| (n.name.clone(), n.op.name().to_string()))
            .unwrap_or_else(|_| (id.to_string(), "?".into()));
        CompileError::Lower {
            node,
            op,
            reason: reason.into(),
        }
    }

    /// The constant operand of a binary op and its position, if one operand is a constant.
    fn constant_operand(&self, id: NodeId) -> Option<(&'g crate::ir::Tensor, usize)> {
        let ops = self.graph.operands(id);
        if ops.len() != 2 {
            return None;
        }
        for (pos, &o) in ops.iter().enumerate() {
            if let Ok(n) = self.graph.node(o) {
                if let Op::Const(t) = &n.op {
                    return Some((t, pos));
                }
            }
        }
        None
    }

    fn data_operand(&self, id: NodeId) -> Result<NodeId> {
        self.graph
            .operands(id)
            .first()
            .copied()
            .ok_or_else(|| self.err(id, "missing operand"))
    }

    /// Makes sure `id`'s tensor is held in ciphertexts, emitting its pending linear chain.
    fn materialize(
        &self,
        id: NodeId,
        em: &mut Emitter,
        held: &mut HashMap<NodeId, Held>,
        pending: &mut HashMap<NodeId, Pending>,
    ) -> Result<Held> {
        if let Some(h) = held.get(&id) {
            return Ok(h.clone());
        }
        let p = pending
            .remove(&id)
            .ok_or_else(|| self.err(id, "value is neither computed nor pending"))?;
        let src = held
            .get(&p.source)
            .cloned()
            .ok_or_else(|| self.err(p.source, "source of a linear chain is not computed"))?;
        let out_shape = self.graph.fact(id)?.shape.clone();
        let h = if p.map.is_identity() {
            Held {
                values: src.values.clone(),
                layout: src.layout.reshaped(&out_shape),
                clean: src.clean,
            }
        } else {
            let planned = if self.levels_only {
                let output = Layout::compact(&out_shape, self.slots);
                Planned {
                    bias: vec![Vec::new(); output.ciphertexts],
                    output,
                    blocks: Default::default(),
                    cost: Default::default(),
                }
            } else {
                let candidates = layout::candidates(&src.layout, &out_shape, p.stride, self.slots);
                let planned = if self.shared_n1 == 0 {
                    layout::diagonals::plan_clean(&p.map, &src.layout, candidates, src.clean)
                } else {
                    layout::diagonals::plan_shared(
                        &p.map,
                        &src.layout,
                        candidates,
                        self.shared_n1,
                        &self.keys.borrow(),
                    )
                }
                .ok_or_else(|| {
                    self.err(id, "no packing keeps every output ciphertext non-constant")
                })?;
                let offsets: Vec<(u32, u32, Vec<u32>)> = planned
                    .blocks
                    .iter()
                    .map(|(&(o, i), d)| (o, i, d.keys().copied().collect()))
                    .collect();
                let c = &planned.cost;
                self.keys.borrow_mut().extend(cost::keys(
                    &offsets,
                    c.n1.max(1),
                    self.slots,
                    c.horner,
                ));
                if c.fold_period != 0 {
                    self.keys
                        .borrow_mut()
                        .extend(cost::fold_steps(c.fold_period, self.slots));
                }
                self.keys.borrow_mut().extend(cost::replication_steps(
                    c.replica_period,
                    c.replicas,
                    self.slots,
                ));
                self.work.set(
                    self.work.get()
                        + cost::GIANT_ROTATION
                            * (c.giant_rotations + c.fold_rotations + c.replica_rotations) as f64
                        + cost::BABY_ROTATION * c.baby_rotations as f64
                        + cost::DIAGONAL * c.diagonals as f64,
                );
                planned
            };
            let layer = em.layer(LayerInfo {
                name: p.names.join(" + "),
                kind: format!(
                    "{} [{}, {} diagonals, n1 {}{}{}{}]",
                    p.kinds.join(" + "),
                    planned.output.name,
                    planned.cost.diagonals,
                    planned.cost.n1,
                    if planned.cost.horner { ", horner" } else { "" },
                    match planned.cost.fold_period {
                        0 => String::new(),
                        period => format!(", folded to period {period}"),
                    },
                    match planned.cost.replicas {
                        0 | 1 => String::new(),
                        copies => format!(", input replicated x{copies}"),
                    }
                ),
                input_shape: src.layout.shape.clone(),
                output_shape: out_shape.clone(),
            });
            let values = em.linear_transform(layer, &src.values, &planned)?;
            Held {
                values,
                layout: planned.output,
                clean: !self.levels_only && planned.cost.fold_period == 0,
            }
        };
        held.insert(id, h.clone());
        Ok(h)
    }

    /// Folds `y ↦ alpha·y + beta` into `x`'s pending chain when `x` has no other user, else
    /// emits it; returns the held result (the affine image of `x`).
    fn affine_of(
        &self,
        x: NodeId,
        (alpha, beta): (f64, f64),
        layer_name: &str,
        em: &mut Emitter,
        held: &mut HashMap<NodeId, Held>,
        pending: &mut HashMap<NodeId, Pending>,
    ) -> Result<Held> {
        let foldable = pending.contains_key(&x)
            && self.graph.use_count(x) == 1
            && !self.graph.outputs().contains(&x);
        if foldable {
            if let Some(p) = pending.get_mut(&x) {
                p.map.then_affine(alpha, beta);
            }
            let h = self.materialize(x, em, held, pending)?;
            // The held value is the affine image now; forget it under x's id.
            held.remove(&x);
            return Ok(h);
        }
        let hx = self.materialize(x, em, held, pending)?;
        let shape = hx.layout.shape.clone();
        let layer = em.layer(LayerInfo {
            name: layer_name.into(),
            kind: "change of variable".into(),
            input_shape: shape.clone(),
            output_shape: shape,
        });
        let mut values = Vec::with_capacity(hx.values.len());
        for &v in &hx.values {
            let mut cur = v;
            if alpha != 1.0 {
                cur = em.push(layer, |dst| Instr::MulConst {
                    dst,
                    src: cur,
                    c: alpha,
                })?;
            }
            if beta != 0.0 {
                cur = em.push(layer, |dst| Instr::AddConst {
                    dst,
                    src: cur,
                    c: beta,
                })?;
            }
            values.push(cur);
        }
        Ok(Held {
            values,
            layout: hx.layout,
            // Scaling keeps zeros zero.
            clean: hx.clean && beta == 0.0,
        })
    }

    /// Takes the constant `gap` that a slot-wise function of a clean value leaves in the
    /// slots holding no element away from `values` (an addition of a plaintext: no level), so
    /// they are clean again. Returns whether they are (a zero `gap` needs nothing; a
    /// levels-only lowering emits nothing and claims nothing).
    fn clean_gaps(
        &self,
        layer: u32,
        values: &mut [ValueId],
        layout: &Layout,
        gap: f64,
        em: &mut Emitter,
    ) -> Result<bool> {
        if self.levels_only {
            return Ok(false);
        }
        if gap == 0.0 {
            return Ok(true);
        }
        let mut occupied = vec![vec![false; layout.slots]; layout.ciphertexts];
        for e in 0..layout.positions.len() {
            let (ct, s) = layout.locate(e);
            occupied[ct][s] = true;
        }
        for (v, taken) in values.iter_mut().zip(&occupied) {
            let entries: Vec<(u32, f64)> = taken
                .iter()
                .enumerate()
                .filter(|(_, &t)| !t)
                .map(|(s, _)| (s as u32, -gap))
                .collect();
            if entries.is_empty() {
                continue;
            }
            let constant = em.constant(entries);
            let src = *v;
            *v = em.push(layer, |dst| Instr::AddPlain { dst, src, constant })?;
        }
        Ok(true)
    }

    fn lower_poly(
        &self,
        id: NodeId,
        x: NodeId,
        p: &Polynomial,
        em: &mut Emitter,
        held: &mut HashMap<NodeId, Held>,
        pending: &mut HashMap<NodeId, Pending>,
    ) -> Result<()> {
        let node = self.graph.node(id)?;
        let shape = node.fact.shape.clone();
        let (lo, hi) = p.interval;
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return Err(self.err(id, &format!("invalid interval [{lo}, {hi}]")));
        }
        // t = a·x + b maps [lo, hi] onto [-1, 1].
        let a = 2.0 / (hi - lo);
        let b = -(lo + hi) / (hi - lo);
        let c = &p.coeffs;
        let degree = p.degree();
        let info = |kind: String| LayerInfo {
            name: node.name.clone(),
            kind,
            input_shape: shape.clone(),
            output_shape: shape.clone(),
        };
        match degree {
            0 | 1 => {
                // c0 + c1·t is affine in x: a linear op, folded into the chain.
                let c1 = c.get(1).copied().unwrap_or(0.0);
                let alpha = c1 * a;
                let beta = c[0] + c1 * b;
                let h = self.affine_of(x, (alpha, beta), &node.name, em, held, pending)?;
                held.insert(id, h);
            }
            2 => {
                // c0 + c1 t + c2 (2t² − 1) = 2c2 (t + c1/(4c2))² + c0 − c2 − c1²/(8c2).
                let (c0, c1, c2) = (c[0], c[1], c[2]);
                let lead = 2.0 * c2;
                let shift = c1 / (4.0 * c2);
                let constant = c0 - c2 - c1 * c1 / (8.0 * c2);
                let r = lead.abs().sqrt();
                // u = r·(t + shift) = r·a·x + r·(b + shift), and p = sign·u² + constant.
                let hu =
                    self.affine_of(x, (r * a, r * (b + shift)), &node.name, em, held, pending)?;
                let layer = em.layer(info(format!("{p} as a completed square")));
                let mut values = Vec::with_capacity(hu.values.len());
                for &u in &hu.values {
                    let mut cur = em.push(layer, |dst| Instr::Mul { dst, a: u, b: u })?;
                    if lead < 0.0 {
                        cur = em.push(layer, |dst| Instr::MulConst {
                            dst,
                            src: cur,
                            c: -1.0,
                        })?;
                    }
                    if constant != 0.0 {
                        cur = em.push(layer, |dst| Instr::AddConst {
                            dst,
                            src: cur,
                            c: constant,
                        })?;
                    }
                    values.push(cur);
                }
                // Empty slots of a clean u hold sign·0² + constant.
                let clean =
                    hu.clean && self.clean_gaps(layer, &mut values, &hu.layout, constant, em)?;
                held.insert(
                    id,
                    Held {
                        values,
                        layout: hu.layout,
                        clean,
                    },
                );
            }
            _ => {
                let ht = self.affine_of(x, (a, b), &node.name, em, held, pending)?;
                let layer = em.layer(info(format!("{p}")));
                let poly = em.polynomial(ChebyshevPoly {
                    coeffs: c[..=degree].to_vec(),
                });
                let mut values = ht
                    .values
                    .iter()
                    .map(|&src| em.push(layer, |dst| Instr::Polynomial { dst, src, poly }))
                    .collect::<Result<Vec<_>>>()?;
                // Empty slots of a clean t hold the polynomial's value at 0.
                let at_zero = ChebyshevPoly {
                    coeffs: c[..=degree].to_vec(),
                }
                .eval(0.0);
                let clean =
                    ht.clean && self.clean_gaps(layer, &mut values, &ht.layout, at_zero, em)?;
                held.insert(
                    id,
                    Held {
                        values,
                        layout: ht.layout,
                        clean,
                    },
                );
            }
        }
        Ok(())
    }

    fn lower_binary(
        &self,
        id: NodeId,
        em: &mut Emitter,
        held: &mut HashMap<NodeId, Held>,
        pending: &mut HashMap<NodeId, Pending>,
    ) -> Result<()> {
        let node = self.graph.node(id)?;
        let ops = self.graph.operands(id);
        let (ha, hb) = match ops.as_slice() {
            [a, b] => (
                self.materialize(*a, em, held, pending)?,
                self.materialize(*b, em, held, pending)?,
            ),
            _ => return Err(self.err(id, "expects two operands")),
        };
        if ha.layout.positions != hb.layout.positions || ha.layout.shape != node.fact.shape {
            return Err(self.err(
                id,
                "element-wise operation on tensors of different shapes or packings is not supported yet",
            ));
        }
        let layer = em.layer(LayerInfo {
            name: node.name.clone(),
            kind: node.op.name().into(),
            input_shape: node.fact.shape.clone(),
            output_shape: node.fact.shape.clone(),
        });
        let mut values = Vec::with_capacity(ha.values.len());
        for (&a, &b) in ha.values.iter().zip(&hb.values) {
            values.push(em.push(layer, |dst| match node.op {
                Op::Add => Instr::Add { dst, a, b },
                Op::Sub => Instr::Sub { dst, a, b },
                _ => Instr::Mul { dst, a, b },
            })?);
        }
        held.insert(
            id,
            Held {
                values,
                layout: ha.layout,
                clean: false,
            },
        );
        Ok(())
    }
}

/// Short description of a linear op for reports.
fn describe(op: &Op) -> String {
    match op {
        Op::Conv(c) => {
            let s = c.weight.shape();
            let g = c.groups.max(1);
            format!(
                "conv {}x{} {}->{}{}",
                s.get(2).unwrap_or(&0),
                s.get(3).unwrap_or(&0),
                s.get(1).unwrap_or(&0) * g,
                s.first().unwrap_or(&0),
                if c.strides != [1, 1] {
                    format!(" stride {}", c.strides[0])
                } else {
                    String::new()
                }
            )
        }
        Op::Dense(d) => {
            let s = d.weight.shape();
            format!(
                "dense {}->{}",
                s.get(1).unwrap_or(&0),
                s.first().unwrap_or(&0)
            )
        }
        Op::AvgPool(p) => format!("avgpool {}x{}", p.kernel[0], p.kernel[1]),
        Op::Reshape { .. } => "flatten".into(),
        other => other.name().into(),
    }
}
