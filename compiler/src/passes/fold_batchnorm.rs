//! `fold-batchnorm`: folds every `BatchNorm` into the `Conv` or `Dense` that feeds it (when
//! that layer has no other user), scaling its weights and bias per output channel; any other
//! `BatchNorm` becomes the equivalent per-channel `Affine`.
//! Reads: any IR. Guarantees: no `BatchNorm` node remains.

use super::Pass;
use crate::error::Result;
use crate::ir::{Affine, Graph, NodeId, Op, Tensor};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct FoldBatchNorm;

impl Pass for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold-batchnorm"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for id in graph.topo_order()? {
            let Op::BatchNorm(bn) = &graph.node(id)?.op else {
                continue;
            };
            let affine = bn.to_affine();
            let &[producer] = graph.operands(id).as_slice() else {
                continue;
            };
            if graph.use_count(producer) == 1 && fold_into(graph, producer, &affine)? {
                graph.replace_all_uses(id, producer);
                graph.remove_node(id);
            } else {
                graph.node_mut(id)?.op = Op::Affine(affine);
            }
            changed = true;
        }
        Ok(changed)
    }
}

/// Scales output channel `c` of a Conv/Dense by `a.scale[c]` and adds `a.bias[c]`; returns
/// false (and changes nothing) for any other producer.
pub(crate) fn fold_into(graph: &mut Graph, producer: NodeId, a: &Affine) -> Result<bool> {
    let rank = graph.fact(producer)?.shape.len();
    let (weight, bias) = match &mut graph.node_mut(producer)?.op {
        Op::Conv(c) => (&mut c.weight, &mut c.bias),
        // A dense layer's channel axis is axis 1 only for matrices [N, features].
        Op::Dense(d) if rank == 2 => (&mut d.weight, &mut d.bias),
        _ => return Ok(false),
    };
    let channels = weight.shape().first().copied().unwrap_or(0);
    if channels != a.scale.len() {
        return Ok(false);
    }
    let per = weight.len() / channels.max(1);
    for (i, w) in weight.data_mut().iter_mut().enumerate() {
        *w *= a.scale[i / per];
    }
    let old = bias.take().unwrap_or_else(|| Tensor::zeros(vec![channels]));
    let new: Vec<f64> = old
        .data()
        .iter()
        .enumerate()
        .map(|(c, &b)| a.scale[c] * b + a.bias[c])
        .collect();
    *bias = Some(Tensor::new(vec![channels], new)?);
    Ok(true)
}
