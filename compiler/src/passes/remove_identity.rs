//! `remove-identity`: removes `Identity` nodes (ONNX Identity, Dropout, float Casts) and
//! reshapes to the shape they already have, rewiring their users to their operand.
//! Reads: any IR. Guarantees: no `Identity` node and no no-op `Reshape` remain.

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Op};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveIdentity;

impl Pass for RemoveIdentity {
    fn name(&self) -> &'static str {
        "remove-identity"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for id in graph.topo_order()? {
            let node = graph.node(id)?;
            let &[operand] = graph.operands(id).as_slice() else {
                continue;
            };
            let removable = match &node.op {
                Op::Identity => true,
                Op::Reshape { shape } => *shape == graph.fact(operand)?.shape,
                _ => false,
            };
            if removable {
                graph.replace_all_uses(id, operand);
                graph.remove_node(id);
                changed = true;
            }
        }
        Ok(changed)
    }
}
