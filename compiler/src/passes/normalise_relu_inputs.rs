//! `normalise-relu-inputs`: divides each channel of a ReLU's operand by the largest magnitude
//! it took on the calibration images, and multiplies it back in the layer that reads the
//! ReLU's result.
//!
//! Why: one polynomial stands for a ReLU on all the slots of a ciphertext, so it is fitted on
//! one interval `[-B, B]`, and its error is proportional to `B` (`approx::activation`). With the
//! interval of the widest channel, a channel whose values stay ten times smaller is computed with
//! ten times its own share of error. ReLU is positively homogeneous (`relu(b·t) = b·relu(t)` for
//! `b > 0`), so dividing channel `c` by `b_c` before it and multiplying by `b_c` after it
//! computes the same network; after this pass every channel spans about `[-1, 1]` and each is
//! approximated with an error proportional to its own range. It costs no level: the factors are
//! folded into weights the circuit multiplies by anyway.
//!
//! Pattern (anything else is left alone): a `Conv`, or a `Dense` over `[batch, features]`,
//! whose only user is a `Relu`; from the ReLU, a chain of channel-wise linear nodes, each with a
//! single user (`AvgPool`, `GlobalAvgPool`, `Reshape` keeping the batch axis); at its end a
//! `Conv` or a `Dense` over `[batch, features]`. Padding of pooling and convolution is zero, so
//! scaling commutes with it.
//!
//! Reads: per-channel ranges of the ReLU operands (`Ranges::channels`, from `calibrate`).
//! Guarantees: the graph computes the same function up to rounding; node ids, names, ops and
//! shapes are unchanged (only weights and biases change). [`normalise_relu_inputs`] also
//! rescales the ranges of the nodes it changed, so that `approximate-activations` can use them.

use super::calibrate::Ranges;
use super::Pass;
use crate::error::Result;
use crate::ir::{Conv2d, Dense, Graph, NodeId, Op};

/// A channel below this fraction of the widest channel's magnitude is divided by that fraction
/// of it instead: a channel that is (nearly) always zero needs no precision, and a huge factor
/// would only amplify rounding.
pub const MIN_CHANNEL_FRACTION: f64 = 1e-3;

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct NormaliseReluInputs {
    ranges: Ranges,
}

impl NormaliseReluInputs {
    /// The pass, with the calibrated (per-channel) ranges of the graph it will run on.
    pub fn new(ranges: Ranges) -> Self {
        Self { ranges }
    }
}

impl Pass for NormaliseReluInputs {
    fn name(&self) -> &'static str {
        "normalise-relu-inputs"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let plans = plan(graph, &self.ranges)?;
        for p in &plans {
            apply(graph, p)?;
        }
        Ok(!plans.is_empty())
    }
}

/// Runs [`NormaliseReluInputs`] and rescales `ranges` to match the rewritten graph; returns
/// how many ReLUs were normalised.
pub fn normalise_relu_inputs(graph: &mut Graph, ranges: &mut Ranges) -> Result<usize> {
    let plans = plan(graph, ranges)?;
    for p in &plans {
        apply(graph, p)?;
        for &id in std::iter::once(&p.producer).chain(&p.chain) {
            rescale_range(graph, ranges, id, p)?;
        }
    }
    Ok(plans.len())
}

/// One ReLU to normalise.
#[derive(Clone, Debug)]
struct Plan {
    /// The Conv/Dense feeding the ReLU.
    producer: NodeId,
    /// The ReLU, then the channel-wise nodes after it.
    chain: Vec<NodeId>,
    /// The Conv/Dense reading the end of the chain.
    consumer: NodeId,
    /// The divisor of each channel.
    factors: Vec<f64>,
    /// Values per channel at the consumer's input (the product of the axes after the channel
    /// axis), which maps a feature of a flattened input to its channel.
    inner: usize,
}

impl Plan {
    /// The factor of entry `k` of axis 1 of a node of `shape` in the chain.
    fn factor_at(&self, shape: &[usize], k: usize, inner: usize) -> f64 {
        let channels = self.factors.len();
        let c = if shape.get(1) == Some(&channels) {
            k
        } else {
            k / inner.max(1)
        };
        self.factors.get(c).copied().unwrap_or(1.0)
    }
}

fn plan(graph: &Graph, ranges: &Ranges) -> Result<Vec<Plan>> {
    let mut plans = Vec::new();
    for relu in graph.topo_order()? {
        if !matches!(graph.node(relu)?.op, Op::Relu) {
            continue;
        }
        let &[producer] = graph.operands(relu).as_slice() else {
            continue;
        };
        if graph.use_count(producer) != 1 || !is_layer(graph, producer)? {
            continue;
        }
        let Some(channel_ranges) = ranges.channels(producer) else {
            continue;
        };
        let Some(factors) = factors(channel_ranges) else {
            continue;
        };
        if let Some((chain, consumer, inner)) = follow(graph, relu, factors.len())? {
            plans.push(Plan {
                producer,
                chain,
                consumer,
                factors,
                inner,
            });
        }
    }
    Ok(plans)
}

/// Whether `id` is a Conv, or a Dense with a `[batch, features]` output (whose channel axis is
/// axis 1).
fn is_layer(graph: &Graph, id: NodeId) -> Result<bool> {
    Ok(match graph.node(id)?.op {
        Op::Conv(_) => true,
        Op::Dense(_) => graph.fact(id)?.shape.len() == 2,
        _ => false,
    })
}

/// `b_c = max(|lo_c|, |hi_c|)`, at least [`MIN_CHANNEL_FRACTION`] of the largest; `None` when
/// every channel is zero.
fn factors(channel_ranges: &[(f64, f64)]) -> Option<Vec<f64>> {
    let mags: Vec<f64> = channel_ranges
        .iter()
        .map(|&(lo, hi)| lo.abs().max(hi.abs()))
        .collect();
    let widest = mags.iter().copied().fold(0.0f64, f64::max);
    if !(widest > 0.0 && widest.is_finite()) {
        return None;
    }
    let floor = MIN_CHANNEL_FRACTION * widest;
    Some(mags.into_iter().map(|m| m.max(floor)).collect())
}

/// From an activation (a ReLU, or the polynomial standing for one), the channel-wise nodes up
/// to the Conv/Dense reading them: `(chain starting with the activation, consumer, values per
/// channel at the consumer)`, or `None` if the pattern does not hold.
pub(super) fn follow(
    graph: &Graph,
    relu: NodeId,
    channels: usize,
) -> Result<Option<(Vec<NodeId>, NodeId, usize)>> {
    let relu_shape = &graph.fact(relu)?.shape;
    if relu_shape.len() < 2 || relu_shape[1] != channels {
        return Ok(None);
    }
    let batch = relu_shape[0];
    let mut inner: usize = relu_shape[2..].iter().product();
    let mut chain = vec![relu];
    let mut at = relu;
    loop {
        let users = graph.users(at);
        let (&[next], 1) = (users.as_slice(), graph.use_count(at)) else {
            return Ok(None);
        };
        let shape = &graph.fact(next)?.shape;
        match &graph.node(next)?.op {
            Op::AvgPool(_) | Op::GlobalAvgPool => inner = shape[2..].iter().product(),
            Op::Reshape { .. } if shape.first() == Some(&batch) => {}
            Op::Conv(c) => {
                let input = &graph.fact(at)?.shape;
                let fits = input.len() >= 2
                    && input[1] == channels
                    && input[2..].iter().product::<usize>() == inner
                    && c.weight.shape().len() == 4
                    && c.groups >= 1;
                return Ok(fits.then_some((chain, next, inner)));
            }
            Op::Dense(d) => {
                let input = &graph.fact(at)?.shape;
                let fits = input.len() == 2
                    && input[0] == batch
                    && input[1] == channels * inner
                    && d.weight.shape().get(1) == Some(&input[1]);
                return Ok(fits.then_some((chain, next, inner)));
            }
            _ => return Ok(None),
        }
        chain.push(next);
        at = next;
    }
}

/// Divides the producer's output channels by their factors and multiplies the consumer's
/// input channels by them.
fn apply(graph: &mut Graph, p: &Plan) -> Result<()> {
    match &mut graph.node_mut(p.producer)?.op {
        Op::Conv(c) => divide_rows(&mut c.weight, &mut c.bias, &p.factors),
        Op::Dense(d) => divide_rows(&mut d.weight, &mut d.bias, &p.factors),
        _ => {}
    }
    let Some(channels) = InputChannels::of(&graph.node(p.consumer)?.op, p.inner) else {
        return Ok(());
    };
    if let Op::Conv(Conv2d { weight, .. }) | Op::Dense(Dense { weight, .. }) =
        &mut graph.node_mut(p.consumer)?.op
    {
        for (i, w) in weight.data_mut().iter_mut().enumerate() {
            *w *= p.factors.get(channels.of_weight(i)).copied().unwrap_or(1.0);
        }
    }
    Ok(())
}

/// Which input channel each weight of a Conv or Dense reads.
#[derive(Clone, Copy, Debug)]
pub(super) enum InputChannels {
    /// A convolution with `[out, in / groups, kh, kw]` weights.
    Conv {
        out_per_group: usize,
        per_group_in: usize,
        kernel: usize,
    },
    /// A dense layer with `[out, features]` weights over a flattened input with `inner` values
    /// per channel.
    Dense { features: usize, inner: usize },
}

impl InputChannels {
    /// The map of a Conv or Dense `op` whose input has `inner` values per channel.
    pub(super) fn of(op: &Op, inner: usize) -> Option<Self> {
        match op {
            Op::Conv(c) => {
                let shape = c.weight.shape();
                let out = *shape.first()?;
                Some(Self::Conv {
                    out_per_group: (out / c.groups.max(1)).max(1),
                    per_group_in: shape.get(1).copied()?.max(1),
                    kernel: shape.get(2..)?.iter().product::<usize>().max(1),
                })
            }
            Op::Dense(d) => Some(Self::Dense {
                features: d.weight.shape().get(1).copied()?.max(1),
                inner: inner.max(1),
            }),
            _ => None,
        }
    }

    /// The input channel read by the weight at row-major index `i`.
    pub(super) fn of_weight(self, i: usize) -> usize {
        match self {
            Self::Conv {
                out_per_group,
                per_group_in,
                kernel,
            } => {
                let (o, j) = (i / (per_group_in * kernel), (i / kernel) % per_group_in);
                (o / out_per_group) * per_group_in + j
            }
            Self::Dense { features, inner } => (i % features) / inner,
        }
    }
}

fn divide_rows(
    weight: &mut crate::ir::Tensor,
    bias: &mut Option<crate::ir::Tensor>,
    factors: &[f64],
) {
    let per = weight.len() / factors.len().max(1);
    for (i, w) in weight.data_mut().iter_mut().enumerate() {
        *w /= factors[i / per.max(1)];
    }
    if let Some(b) = bias {
        for (v, f) in b.data_mut().iter_mut().zip(factors) {
            *v /= f;
        }
    }
}

/// Divides the calibrated ranges of `id` (a node the plan scaled) by the factors.
fn rescale_range(graph: &Graph, ranges: &mut Ranges, id: NodeId, p: &Plan) -> Result<()> {
    let shape = graph.fact(id)?.shape.clone();
    let inner = if shape.get(1) == Some(&p.factors.len()) {
        1
    } else {
        p.inner
    };
    let Some(old) = ranges.channels(id).map(<[_]>::to_vec) else {
        return Ok(());
    };
    let new: Vec<(f64, f64)> = old
        .iter()
        .enumerate()
        .map(|(k, &(lo, hi))| {
            let f = p.factor_at(&shape, k, inner);
            (lo / f, hi / f)
        })
        .collect();
    let overall = new
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, &(lo, hi)| {
            (a.0.min(lo), a.1.max(hi))
        });
    if overall.0 <= overall.1 {
        ranges.insert(id, overall);
    }
    ranges.insert_channels(id, new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Fact, Pool2d, Tensor};
    use crate::passes::calibrate;
    use crate::reference;

    /// conv 1->3 (3x3, pad 1) -> relu -> avgpool 2x2 -> flatten -> dense 12->2, with channels
    /// of very different magnitudes.
    fn network() -> (Graph, NodeId, NodeId, NodeId) {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![1, 1, 4, 4]), &[]);
        g.add_input(x);
        let kernel: Vec<f64> = (0..27)
            .map(|i| [0.1, 1.0, 30.0][i / 9] * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        let conv = Conv2d {
            weight: Tensor::new(vec![3, 1, 3, 3], kernel).unwrap(),
            bias: Some(Tensor::new(vec![3], vec![0.05, -0.5, 3.0]).unwrap()),
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            groups: 1,
        };
        let c = g.add_node("conv", Op::Conv(conv), Fact::new(vec![1, 3, 4, 4]), &[x]);
        let r = g.add_node("relu", Op::Relu, Fact::new(vec![1, 3, 4, 4]), &[c]);
        let pool = Pool2d {
            kernel: [2, 2],
            strides: [2, 2],
            pads: [0; 4],
            count_include_pad: true,
        };
        let p = g.add_node("pool", Op::AvgPool(pool), Fact::new(vec![1, 3, 2, 2]), &[r]);
        let f = g.add_node(
            "flat",
            Op::Reshape { shape: vec![1, 12] },
            Fact::new(vec![1, 12]),
            &[p],
        );
        let dense = Dense {
            weight: Tensor::new(
                vec![2, 12],
                (0..24).map(|i| (i as f64 * 0.37).sin()).collect(),
            )
            .unwrap(),
            bias: Some(Tensor::new(vec![2], vec![0.1, -0.2]).unwrap()),
        };
        let d = g.add_node("dense", Op::Dense(dense), Fact::new(vec![1, 2]), &[f]);
        g.set_outputs(vec![d]);
        (g, c, r, d)
    }

    fn images() -> Vec<Tensor> {
        (0..20)
            .map(|k| {
                Tensor::new(
                    vec![1, 1, 4, 4],
                    (0..16)
                        .map(|i| ((i * 13 + k * 5) % 11) as f64 / 10.0)
                        .collect(),
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_network_is_unchanged_and_every_channel_spans_one() {
        let (mut g, conv, relu, _) = network();
        let exact = g.clone();
        let mut ranges = calibrate(&g, &images()).unwrap();
        let before = ranges.channels(conv).unwrap().to_vec();
        let widest = before.iter().map(|r| r.0.abs().max(r.1.abs()));
        assert!(widest.clone().fold(0.0, f64::max) > 100.0 * widest.fold(1e9, f64::min));
        assert_eq!(normalise_relu_inputs(&mut g, &mut ranges).unwrap(), 1);
        for img in images() {
            let (a, b) = (
                reference::run(&exact, &img).unwrap(),
                reference::run(&g, &img).unwrap(),
            );
            for (a, b) in a.data().iter().zip(b.data()) {
                assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
            }
        }
        // The rescaled ranges are those a new calibration measures.
        let measured = calibrate(&g, &images()).unwrap();
        for id in [conv, relu] {
            let (want, got) = (measured.channels(id).unwrap(), ranges.channels(id).unwrap());
            for (w, r) in want.iter().zip(got) {
                assert!((w.0 - r.0).abs() < 1e-12 && (w.1 - r.1).abs() < 1e-12);
            }
            let (lo, hi) = ranges.get(id).unwrap();
            assert!(lo.abs().max(hi.abs()) <= 1.0 + 1e-12);
        }
        for &(lo, hi) in ranges.channels(conv).unwrap() {
            assert!((lo.abs().max(hi.abs()) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_relu_read_by_anything_else_is_left_alone() {
        let (mut g, _, relu, dense) = network();
        g.set_outputs(vec![dense, relu]);
        let mut ranges = calibrate(&g, &images()).unwrap();
        let before = g.clone();
        assert_eq!(normalise_relu_inputs(&mut g, &mut ranges).unwrap(), 0);
        assert_eq!(format!("{before:?}"), format!("{g:?}"));
    }
}
