//! `recognise-square`: rewrites `Mul(x, x)` (from ONNX `Mul(x, x)` or `Pow(x, 2)`) into
//! `Square(x)`, the one non-linearity that CKKS computes exactly (one multiplication).
//! Reads: any IR. Guarantees: no `Mul` has the same operand twice.

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Op};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecogniseSquare;

impl Pass for RecogniseSquare {
    fn name(&self) -> &'static str {
        "recognise-square"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for id in graph.node_ids() {
            if !matches!(graph.node(id)?.op, Op::Mul) {
                continue;
            }
            if let [a, b] = graph.operands(id).as_slice() {
                if a == b {
                    let x = *a;
                    graph.node_mut(id)?.op = Op::Square;
                    graph.set_operands(id, &[x]);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}
