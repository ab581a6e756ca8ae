//! `correct-activation-bias`: removes, channel by channel, the average error of every
//! approximated activation, through the bias of the layer that reads it.
//!
//! Why: the minimax polynomial standing for a ReLU errs most at its kink, and most ReLU inputs
//! lie near the kink; there its error has one sign (`p(0) − relu(0)` is the polynomial's largest
//! error). The convolution or dense layer that reads the activation sums hundreds of these
//! values, so their common part adds up where the oscillating rest cancels. The average error
//! `δ_c` of channel `c` over the calibration images is known at compile time, and subtracting
//! `W·δ` from the reading layer's bias removes it at no cost in the circuit (the bias is added
//! anyway). The same holds for sigmoid and tanh polynomials.
//!
//! Reads: `Poly` nodes standing for an activation (`approximate-activations`) whose result
//! reaches a Conv or Dense through channel-wise nodes (the pattern of `normalise-relu-inputs`),
//! and calibration images. Guarantees: only the biases of those reading layers change (a layer
//! without a bias gets one); the graph stays valid.

use super::calibrate::Plan;
use super::normalise_relu_inputs::{follow, InputChannels};
use crate::approx::Activation;
use crate::error::Result;
use crate::ir::{Conv2d, Dense, Graph, NodeId, Op, Tensor};
use rayon::prelude::*;

/// An activation polynomial whose average error the pass removes.
#[derive(Clone, Debug)]
struct Target {
    poly: NodeId,
    function: Activation,
    consumer: NodeId,
    channels: usize,
    /// Values per channel at the polynomial's output.
    inner_at_poly: usize,
    /// Values per channel at the consumer's input.
    inner_at_consumer: usize,
}

/// Runs the graph on `images`, measures the average error of every activation polynomial per
/// channel, and subtracts its effect from the bias of the layer reading it; returns how many
/// layers were corrected. With no image, nothing changes.
pub fn correct_activation_bias(graph: &mut Graph, images: &[Tensor]) -> Result<usize> {
    let targets = targets(graph)?;
    if targets.is_empty() || images.is_empty() {
        return Ok(0);
    }
    let plan = Plan::new(graph)?;
    let zero: Vec<Vec<(f64, usize)>> = targets.iter().map(|t| vec![(0.0, 0); t.channels]).collect();
    let sums = images
        .par_iter()
        .map(|image| {
            let mut sums = zero.clone();
            plan.run(graph, image, |id, args, value| {
                if let Some(k) = targets.iter().position(|t| t.poly == id) {
                    accumulate(&targets[k], args[0], value, &mut sums[k]);
                }
                Ok(())
            })?;
            Ok::<_, crate::error::CompileError>(sums)
        })
        .try_reduce(
            || zero.clone(),
            |mut a, b| {
                for (a, b) in a.iter_mut().zip(b) {
                    for (a, b) in a.iter_mut().zip(b) {
                        *a = (a.0 + b.0, a.1 + b.1);
                    }
                }
                Ok(a)
            },
        )?;
    for (t, sums) in targets.iter().zip(&sums) {
        let mean: Vec<f64> = sums
            .iter()
            .map(|&(s, n)| if n > 0 { s / n as f64 } else { 0.0 })
            .collect();
        subtract_from_bias(graph, t, &mean)?;
    }
    Ok(targets.len())
}

/// The activation polynomials whose result reaches a Conv/Dense through channel-wise nodes.
fn targets(graph: &Graph) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for id in graph.topo_order()? {
        let Op::Poly(p) = &graph.node(id)?.op else {
            continue;
        };
        let Some(function) = Activation::from_name(&p.approximates) else {
            continue;
        };
        let shape = &graph.fact(id)?.shape;
        if shape.len() < 2 || graph.operands(id).len() != 1 {
            continue;
        }
        let channels = shape[1];
        if let Some((_, consumer, inner_at_consumer)) = follow(graph, id, channels)? {
            out.push(Target {
                poly: id,
                function,
                consumer,
                channels,
                inner_at_poly: shape[2..].iter().product(),
                inner_at_consumer,
            });
        }
    }
    Ok(out)
}

/// Adds `p(x) − f(x)` of every value to its channel's sum.
fn accumulate(t: &Target, input: &Tensor, output: &Tensor, sums: &mut [(f64, usize)]) {
    let inner = t.inner_at_poly.max(1);
    for (i, (&x, &y)) in input.data().iter().zip(output.data()).enumerate() {
        let error = y - t.function.eval(x);
        if error.is_finite() {
            let c = (i / inner) % t.channels;
            sums[c].0 += error;
            sums[c].1 += 1;
        }
    }
}

/// `bias −= W·mean`, `mean` being the average error of each input channel of the consumer.
fn subtract_from_bias(graph: &mut Graph, t: &Target, mean: &[f64]) -> Result<()> {
    let op = &graph.node(t.consumer)?.op;
    let (Some(channels), Op::Conv(Conv2d { weight, .. }) | Op::Dense(Dense { weight, .. })) =
        (InputChannels::of(op, t.inner_at_consumer), op)
    else {
        return Ok(());
    };
    let out = weight.shape().first().copied().unwrap_or(0);
    let per_out = weight.len() / out.max(1);
    let shift: Vec<f64> = weight
        .data()
        .chunks(per_out.max(1))
        .enumerate()
        .map(|(o, row)| {
            row.iter()
                .enumerate()
                .map(|(k, w)| {
                    let c = channels.of_weight(o * per_out + k);
                    w * mean.get(c).copied().unwrap_or(0.0)
                })
                .sum()
        })
        .collect();
    let bias = match &mut graph.node_mut(t.consumer)?.op {
        Op::Conv(c) => &mut c.bias,
        Op::Dense(d) => &mut d.bias,
        _ => return Ok(()),
    };
    let b = bias.get_or_insert_with(|| Tensor::zeros(vec![out]));
    for (b, s) in b.data_mut().iter_mut().zip(shift) {
        *b -= s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Fact;
    use crate::passes::{approximate_activations, calibrate};
    use crate::reference;

    /// conv 1->4 (3x3, pad 1) -> relu -> flatten -> dense 64->3.
    fn network() -> Graph {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![1, 1, 4, 4]), &[]);
        g.add_input(x);
        let conv = Conv2d {
            weight: Tensor::new(
                vec![4, 1, 3, 3],
                (0..36).map(|i| ((i * 7 % 11) as f64 - 5.0) / 5.0).collect(),
            )
            .unwrap(),
            bias: Some(Tensor::new(vec![4], vec![0.1, -0.3, 0.2, 0.0]).unwrap()),
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            groups: 1,
        };
        let c = g.add_node("conv", Op::Conv(conv), Fact::new(vec![1, 4, 4, 4]), &[x]);
        let r = g.add_node("relu", Op::Relu, Fact::new(vec![1, 4, 4, 4]), &[c]);
        let f = g.add_node(
            "flat",
            Op::Reshape { shape: vec![1, 64] },
            Fact::new(vec![1, 64]),
            &[r],
        );
        let dense = Dense {
            weight: Tensor::new(
                vec![3, 64],
                (0..192)
                    .map(|i| 0.2 + 0.1 * (i as f64 * 0.7).sin())
                    .collect(),
            )
            .unwrap(),
            bias: None,
        };
        let d = g.add_node("dense", Op::Dense(dense), Fact::new(vec![1, 3]), &[f]);
        g.set_outputs(vec![d]);
        g
    }

    fn images(seed: usize) -> Vec<Tensor> {
        (0..40)
            .map(|k| {
                let data = (0..16)
                    .map(|i| (((i * 31 + (k + seed) * 17) % 23) as f64 / 23.0 - 0.4) * 0.5)
                    .collect();
                Tensor::new(vec![1, 1, 4, 4], data).unwrap()
            })
            .collect()
    }

    /// (mean signed error, root-mean-square error) of `g` against `exact` over `imgs`.
    fn errors(exact: &Graph, g: &Graph, imgs: &[Tensor]) -> (f64, f64) {
        let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0);
        for img in imgs {
            let (a, b) = (
                reference::run(exact, img).unwrap(),
                reference::run(g, img).unwrap(),
            );
            for (a, b) in a.data().iter().zip(b.data()) {
                sum += b - a;
                sq += (b - a) * (b - a);
                n += 1.0;
            }
        }
        ((sum / n).abs(), (sq / n).sqrt())
    }

    #[test]
    fn the_average_error_of_a_low_degree_relu_is_removed() {
        let exact = network();
        let ranges = calibrate(&exact, &images(0)).unwrap();
        let mut approx = exact.clone();
        approximate_activations(&mut approx, &ranges, 6).unwrap();
        let mut corrected = approx.clone();
        assert_eq!(
            correct_activation_bias(&mut corrected, &images(0)).unwrap(),
            1
        );
        // Measured on other images than the correction's.
        let (mean_before, rms_before) = errors(&exact, &approx, &images(100));
        let (mean_after, rms_after) = errors(&exact, &corrected, &images(100));
        assert!(
            mean_after < 0.2 * mean_before && rms_after < 0.7 * rms_before,
            "mean {mean_before} -> {mean_after}, rms {rms_before} -> {rms_after}"
        );
        // No image, or no activation polynomial: nothing to correct.
        let mut g = approx.clone();
        assert_eq!(correct_activation_bias(&mut g, &[]).unwrap(), 0);
        let mut g = exact.clone();
        assert_eq!(correct_activation_bias(&mut g, &images(0)).unwrap(), 0);
    }
}
