//! `const-fold`: replaces every node whose operands are all constants by the constant it
//! computes (with the reference kernels, so folding cannot change results).
//! Reads: any IR. Guarantees: no node other than `Const` has only `Const` operands.
//! Leaves the now unused constants to `dce`.

use super::Pass;
use crate::error::{CompileError, Result};
use crate::ir::{Graph, Op, Tensor};
use crate::reference::eval_op;

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConstFold;

impl Pass for ConstFold {
    fn name(&self) -> &'static str {
        "const-fold"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for id in graph.topo_order()? {
            let node = graph.node(id)?;
            if matches!(node.op, Op::Input | Op::Const(_)) {
                continue;
            }
            let operands = graph.operands(id);
            let mut args: Vec<&Tensor> = Vec::with_capacity(operands.len());
            for &o in &operands {
                match &graph.node(o)?.op {
                    Op::Const(t) => args.push(t),
                    _ => break,
                }
            }
            if args.len() != operands.len() || operands.is_empty() {
                continue;
            }
            let value = eval_op(&node.op, &args, &node.fact.shape).map_err(|reason| {
                CompileError::InvalidNode {
                    op: node.op.name().into(),
                    node: format!("{id} '{}'", node.name),
                    reason,
                }
            })?;
            graph.node_mut(id)?.op = Op::Const(value);
            graph.set_operands(id, &[]);
            changed = true;
        }
        Ok(changed)
    }
}
