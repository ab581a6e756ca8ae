//! `dce`: removes nodes that no graph output depends on (graph inputs are kept).
//! Reads: any IR. Guarantees: every node other than an input reaches an output.

use super::Pass;
use crate::error::Result;
use crate::ir::Graph;
use std::collections::HashSet;

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut live = HashSet::new();
        let mut stack: Vec<_> = graph.outputs().to_vec();
        while let Some(id) = stack.pop() {
            if live.insert(id) {
                stack.extend(graph.operands(id));
            }
        }
        let dead: Vec<_> = graph
            .node_ids()
            .into_iter()
            .filter(|id| !live.contains(id) && !graph.inputs().contains(id))
            .collect();
        for &id in &dead {
            graph.remove_node(id);
        }
        Ok(!dead.is_empty())
    }
}
