//! The IR graph: a petgraph `StableDiGraph` of single-output nodes. Edge weights are operand
//! positions, so `operands(n)` is ordered. Node ids stay valid when other nodes are removed.

use super::fact::Fact;
use super::op::Op;
use crate::error::{CompileError, Result};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::fmt;

/// Identifies a node of a [`Graph`]; prints as `n7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(NodeIndex);

impl NodeId {
    /// The index behind the id.
    pub fn index(self) -> usize {
        self.0.index()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0.index())
    }
}

/// One node: an operation, the shape of its output, and the ONNX name it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The ONNX node (or value) name, for messages and dumps.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// The output's shape.
    pub fact: Fact,
}

/// A tensor dataflow graph with designated inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    g: StableDiGraph<Node, usize>,
    inputs: Vec<NodeId>,
    outputs: Vec<NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node whose operands are `operands` (in order) and returns its id.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        fact: Fact,
        operands: &[NodeId],
    ) -> NodeId {
        let id = NodeId(self.g.add_node(Node {
            name: name.into(),
            op,
            fact,
        }));
        for (pos, src) in operands.iter().enumerate() {
            self.g.add_edge(src.0, id.0, pos);
        }
        id
    }

    /// Adds a node and infers its fact from its operands' facts.
    pub fn add_inferred(
        &mut self,
        name: impl Into<String>,
        op: Op,
        operands: &[NodeId],
    ) -> Result<NodeId> {
        let name = name.into();
        let shapes: Vec<&[usize]> = operands
            .iter()
            .map(|&o| self.fact(o).map(|f| f.shape.as_slice()))
            .collect::<Result<_>>()?;
        let shape = op
            .output_shape(&shapes)
            .map_err(|reason| CompileError::InvalidNode {
                op: op.name().into(),
                node: name.clone(),
                reason,
            })?;
        Ok(self.add_node(name, op, Fact::new(shape), operands))
    }

    /// Marks a node as a graph input.
    pub fn add_input(&mut self, id: NodeId) {
        self.inputs.push(id);
    }

    /// Sets the graph outputs.
    pub fn set_outputs(&mut self, outputs: Vec<NodeId>) {
        self.outputs = outputs;
    }

    /// The graph inputs.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    /// The graph outputs.
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> Result<&Node> {
        self.g.node_weight(id.0).ok_or_else(|| missing(id))
    }

    /// The node behind an id, mutable.
    pub fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        self.g.node_weight_mut(id.0).ok_or_else(|| missing(id))
    }

    /// The fact of a node.
    pub fn fact(&self, id: NodeId) -> Result<&Fact> {
        self.node(id).map(|n| &n.fact)
    }

    /// Whether the id names a live node.
    pub fn contains(&self, id: NodeId) -> bool {
        self.g.contains_node(id.0)
    }

    /// All live node ids, in insertion order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.g.node_indices().map(NodeId).collect()
    }

    /// Number of live nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// The operands of a node, in position order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut e: Vec<(usize, NodeId)> = self
            .g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source())))
            .collect();
        e.sort_by_key(|(pos, _)| *pos);
        e.into_iter().map(|(_, n)| n).collect()
    }

    /// The operand positions of a node, sorted (for the verifier).
    pub(crate) fn operand_positions(&self, id: NodeId) -> Vec<usize> {
        let mut p: Vec<usize> = self
            .g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| *e.weight())
            .collect();
        p.sort_unstable();
        p
    }

    /// The nodes using `id`, one entry per use (a node using it twice appears twice).
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut u: Vec<NodeId> = self
            .g
            .edges_directed(id.0, Direction::Outgoing)
            .map(|e| NodeId(e.target()))
            .collect();
        u.sort();
        u
    }

    /// Number of uses of `id`, counting graph outputs.
    pub fn use_count(&self, id: NodeId) -> usize {
        self.g.edges_directed(id.0, Direction::Outgoing).count()
            + self.outputs.iter().filter(|&&o| o == id).count()
    }

    /// Makes every user of `old` (and the graph outputs) use `new` instead.
    pub fn replace_all_uses(&mut self, old: NodeId, new: NodeId) {
        let edges: Vec<(NodeIndex, usize)> = self
            .g
            .edges_directed(old.0, Direction::Outgoing)
            .map(|e| (e.target(), *e.weight()))
            .collect();
        for (target, pos) in edges {
            if let Some(e) = self.g.find_edge(old.0, target) {
                self.g.remove_edge(e);
            }
            self.g.add_edge(new.0, target, pos);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    /// Replaces the operands of `id` by `operands`.
    pub fn set_operands(&mut self, id: NodeId, operands: &[NodeId]) {
        let edges: Vec<_> = self
            .g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| e.id())
            .collect();
        for e in edges {
            self.g.remove_edge(e);
        }
        for (pos, src) in operands.iter().enumerate() {
            self.g.add_edge(src.0, id.0, pos);
        }
    }

    /// Removes a node and its edges.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        self.inputs.retain(|&i| i != id);
        self.g.remove_node(id.0)
    }

    /// The nodes in a topological order (operands before users).
    pub fn topo_order(&self) -> Result<Vec<NodeId>> {
        petgraph::algo::toposort(&self.g, None)
            .map(|v| v.into_iter().map(NodeId).collect())
            .map_err(|c| CompileError::Verify {
                after: "topological sort".into(),
                reason: format!("the graph has a cycle through {}", NodeId(c.node_id())),
            })
    }

    /// Total number of parameters held by the nodes.
    pub fn param_count(&self) -> usize {
        self.g.node_weights().map(|n| n.op.param_count()).sum()
    }
}

fn missing(id: NodeId) -> CompileError {
    CompileError::Verify {
        after: "lookup".into(),
        reason: format!("node {id} does not exist"),
    }
}
