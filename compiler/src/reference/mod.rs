//! The float64 reference interpreter of the IR: the oracle that the slot simulator and the
//! encrypted executor are compared to. It is itself checked against tract on the original
//! ONNX file (see `tests/zoo.rs`).

mod kernels;

pub use kernels::eval as eval_op;

use crate::error::{CompileError, Result};
use crate::ir::{Graph, Op, Tensor};
use std::collections::HashMap;

/// Runs the graph on one input and returns its (first) output.
///
/// The input must have the graph input's shape, or the same shape up to leading unit axes
/// (`[C,H,W]` for a `[1,C,H,W]` model).
pub fn run(graph: &Graph, input: &Tensor) -> Result<Tensor> {
    let outputs = run_all(graph, input)?;
    outputs
        .into_iter()
        .next()
        .ok_or_else(|| CompileError::InvalidInput {
            reason: "the graph has no output".into(),
        })
}

/// Runs the graph on one input and returns every graph output.
pub fn run_all(graph: &Graph, input: &Tensor) -> Result<Vec<Tensor>> {
    let &[input_id] = graph.inputs() else {
        return Err(CompileError::InvalidInput {
            reason: format!("the graph has {} inputs, expected 1", graph.inputs().len()),
        });
    };
    let want = &graph.fact(input_id)?.shape;
    let x = fit_input(input, want)?;
    let mut values: HashMap<_, Tensor> = HashMap::new();
    values.insert(input_id, x);
    for id in graph.topo_order()? {
        let node = graph.node(id)?;
        if let Op::Input = node.op {
            if id != input_id {
                return Err(CompileError::InvalidInput {
                    reason: format!("{id} is an input without a value"),
                });
            }
            continue;
        }
        let operands = graph.operands(id);
        let args: Vec<&Tensor> = operands
            .iter()
            .map(|o| {
                values.get(o).ok_or_else(|| CompileError::Verify {
                    after: "reference".into(),
                    reason: format!("{o} used by {id} has no value"),
                })
            })
            .collect::<Result<_>>()?;
        let out = kernels::eval(&node.op, &args, &node.fact.shape).map_err(|reason| {
            CompileError::InvalidNode {
                op: node.op.name().into(),
                node: format!("{id} '{}'", node.name),
                reason,
            }
        })?;
        values.insert(id, out);
    }
    graph
        .outputs()
        .iter()
        .map(|o| {
            values.get(o).cloned().ok_or_else(|| CompileError::Verify {
                after: "reference".into(),
                reason: format!("output {o} has no value"),
            })
        })
        .collect()
}

fn strip_leading_ones(s: &[usize]) -> &[usize] {
    let k = s.iter().take_while(|&&d| d == 1).count();
    &s[k..]
}

/// Reshapes `input` to `want` when they differ only by leading unit axes.
pub fn fit_input(input: &Tensor, want: &[usize]) -> Result<Tensor> {
    if input.shape() == want {
        return Ok(input.clone());
    }
    if strip_leading_ones(input.shape()) == strip_leading_ones(want) {
        return input.clone().reshaped(want.to_vec());
    }
    Err(CompileError::InvalidInput {
        reason: format!("the model expects shape {want:?}, got {:?}", input.shape()),
    })
}
