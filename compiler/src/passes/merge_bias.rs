//! `merge-bias`: merges `Add(layer, c)` / `Sub(layer, c)`, where `layer` is a `Conv` or `Dense`
//! with no other user and `c` a constant that is uniform except along the layer's channel axis
//! (axis 1 of a convolution, the last axis of a dense layer), into the layer's bias. This is
//! what `MatMul + Add` and convolutions exported without bias become.
//! Reads: any IR. Guarantees: such adds are gone; other adds are unchanged.

use super::Pass;
use crate::error::Result;
use crate::ir::{broadcast_shapes, Graph, NodeId, Op, Tensor};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeBias;

impl Pass for MergeBias {
    fn name(&self) -> &'static str {
        "merge-bias"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for id in graph.topo_order()? {
            let sign = match graph.node(id)?.op {
                Op::Add => 1.0,
                Op::Sub => -1.0,
                _ => continue,
            };
            let &[a, b] = graph.operands(id).as_slice() else {
                continue;
            };
            let candidates: &[(NodeId, NodeId)] = if sign > 0.0 {
                &[(a, b), (b, a)]
            } else {
                &[(a, b)]
            };
            for &(layer, constant) in candidates {
                if try_merge(graph, id, layer, constant, sign)? {
                    changed = true;
                    break;
                }
            }
        }
        Ok(changed)
    }
}

fn try_merge(graph: &mut Graph, add: NodeId, layer: NodeId, c: NodeId, sign: f64) -> Result<bool> {
    let Op::Const(t) = &graph.node(c)?.op else {
        return Ok(false);
    };
    if graph.use_count(layer) != 1 {
        return Ok(false);
    }
    let out = graph.fact(layer)?.shape.clone();
    let axis = match &graph.node(layer)?.op {
        Op::Conv(_) => 1,
        Op::Dense(_) => out.len().saturating_sub(1),
        _ => return Ok(false),
    };
    let Some(per_channel) = channel_values(t, &out, axis) else {
        return Ok(false);
    };
    let bias = match &mut graph.node_mut(layer)?.op {
        Op::Conv(conv) => &mut conv.bias,
        Op::Dense(d) => &mut d.bias,
        _ => return Ok(false),
    };
    let n = per_channel.len();
    let mut values = bias.take().map_or_else(|| vec![0.0; n], Tensor::into_data);
    values
        .iter_mut()
        .zip(&per_channel)
        .for_each(|(v, c)| *v += sign * c);
    *bias = Some(Tensor::new(vec![n], values)?);
    graph.replace_all_uses(add, layer);
    graph.remove_node(add);
    Ok(true)
}

/// The value of `t` per channel of `out` along `axis`, when `t` broadcasts into `out`
/// without enlarging it and only varies along `axis`.
fn channel_values(t: &Tensor, out: &[usize], axis: usize) -> Option<Vec<f64>> {
    if broadcast_shapes(t.shape(), out).as_deref() != Some(out) || t.shape().len() > out.len() {
        return None;
    }
    let offset = out.len() - t.shape().len();
    let channels = *out.get(axis)?;
    let mut along = 1;
    for (i, &d) in t.shape().iter().enumerate() {
        if i + offset == axis {
            along = d;
        } else if d != 1 {
            return None;
        }
    }
    Some(if along == 1 {
        vec![t.data().first().copied()?; channels]
    } else {
        t.data().to_vec()
    })
}
