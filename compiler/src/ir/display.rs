//! Text form of the IR, one node per line in topological order:
//! `n3 = conv[5x5, 1->8, stride 1x1, pad 2,2,2,2, groups 1, bias](n0) : [1,8,28,28]  # conv1`.

use super::graph::Graph;
use std::fmt::{self, Write as _};

/// Renders the graph as text (what `--print-ir-after-all` prints).
pub fn to_text(graph: &Graph) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = write_text(graph, &mut s);
    s
}

fn write_text(graph: &Graph, out: &mut String) -> fmt::Result {
    let order = match graph.topo_order() {
        Ok(o) => o,
        Err(e) => return writeln!(out, "<invalid graph: {e}>"),
    };
    for id in order {
        let Ok(node) = graph.node(id) else { continue };
        let operands: Vec<String> = graph.operands(id).iter().map(|o| o.to_string()).collect();
        write!(out, "{id} = {}", node.op)?;
        if !operands.is_empty() {
            write!(out, "({})", operands.join(", "))?;
        }
        writeln!(out, " : {}  # {}", node.fact, node.name)?;
    }
    let outs: Vec<String> = graph.outputs().iter().map(|o| o.to_string()).collect();
    writeln!(out, "output {}", outs.join(", "))
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_text(self))
    }
}
