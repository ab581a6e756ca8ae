//! The IR verifier: the invariants every pass must keep.
//!
//! 1. The graph is acyclic and every designated input/output exists.
//! 2. Inputs are `Input` nodes, and every `Input` node is a designated input.
//! 3. Every node has exactly `op.arity()` operands at positions `0..arity`.
//! 4. Every fact equals the shape its op infers from its operands' facts.

use super::graph::Graph;
use super::op::Op;
use crate::error::{CompileError, Result};

/// Checks the invariants listed in the module documentation; `after` names the pass (or
/// "import") for the error message.
pub fn verify(graph: &Graph, after: &str) -> Result<()> {
    let fail = |reason: String| CompileError::Verify {
        after: after.into(),
        reason,
    };
    let order = graph.topo_order()?;
    for &id in graph.inputs().iter().chain(graph.outputs()) {
        if !graph.contains(id) {
            return Err(fail(format!("designated input/output {id} does not exist")));
        }
    }
    for id in order {
        let node = graph.node(id)?;
        let positions = graph.operand_positions(id);
        let arity = node.op.arity();
        if positions != (0..arity).collect::<Vec<_>>() {
            return Err(fail(format!(
                "{id} ({}, '{}') has operands at positions {positions:?}, expected 0..{arity}",
                node.op.name(),
                node.name
            )));
        }
        if let Op::Input = node.op {
            if !graph.inputs().contains(&id) {
                return Err(fail(format!("{id} is an input node but not a graph input")));
            }
            continue;
        }
        let operands = graph.operands(id);
        let shapes: Vec<&[usize]> = operands
            .iter()
            .map(|&o| graph.fact(o).map(|f| f.shape.as_slice()))
            .collect::<Result<_>>()?;
        let inferred = node
            .op
            .output_shape(&shapes)
            .map_err(|r| fail(format!("{id} ({}, '{}'): {r}", node.op.name(), node.name)))?;
        if inferred != node.fact.shape {
            return Err(fail(format!(
                "{id} ({}, '{}') claims shape {} but its operands give {inferred:?}",
                node.op.name(),
                node.name,
                node.fact
            )));
        }
    }
    for &id in graph.inputs() {
        if !matches!(graph.node(id)?.op, Op::Input) {
            return Err(fail(format!("graph input {id} is not an input node")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Fact, Tensor};

    #[test]
    fn wrong_fact_is_reported_with_the_node_id() {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![1, 4]), &[]);
        g.add_input(x);
        let r = g.add_node("r", Op::Relu, Fact::new(vec![1, 5]), &[x]);
        g.set_outputs(vec![r]);
        let err = verify(&g, "test").unwrap_err().to_string();
        assert!(err.contains("n1 (relu, 'r') claims shape [1,5]"), "{err}");
    }

    #[test]
    fn missing_operand_is_reported() {
        let mut g = Graph::new();
        let x = g.add_node("x", Op::Input, Fact::new(vec![2]), &[]);
        g.add_input(x);
        let c = g.add_node("c", Op::Const(Tensor::scalar(1.0)), Fact::new(vec![]), &[]);
        let a = g.add_node("a", Op::Add, Fact::new(vec![2]), &[x]);
        g.set_outputs(vec![a, c]);
        let err = verify(&g, "test").unwrap_err().to_string();
        assert!(err.contains("expected 0..2"), "{err}");
    }
}
