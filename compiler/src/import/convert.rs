//! Builds the IR from a decoded ONNX model: fixes the input shape, tracks which values are
//! constants (initializers, `Constant` nodes, and anything computed from them only, which is
//! evaluated right away so that shapes given as tensors are known), and dispatches each node
//! to [`super::ops`].

use super::onnx::{Attr, Dim, OnnxModel, OnnxNode};
use super::ImportOptions;
use crate::error::{CompileError, Result};
use crate::ir::{Fact, Graph, NodeId, Op, Tensor};
use std::collections::HashMap;

/// A value of the ONNX graph while importing.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Known at compile time.
    Const(Tensor),
    /// Computed from the input by an IR node.
    Node(NodeId),
}

/// Import state.
pub(crate) struct Converter {
    pub graph: Graph,
    pub values: HashMap<String, Value>,
    const_nodes: HashMap<String, NodeId>,
    pub notes: Vec<String>,
    /// The batch size the file fixes, when it is larger than 1.
    pub fixed_batch: Option<usize>,
    /// Uses of every value name (node inputs and graph outputs).
    pub uses: HashMap<String, usize>,
    pub graph_outputs: Vec<String>,
}

/// Result of the conversion.
pub(crate) struct Converted {
    pub graph: Graph,
    pub input_shape: Vec<usize>,
    pub input_name: String,
    pub output_name: String,
    pub notes: Vec<String>,
}

pub(crate) fn convert(m: &OnnxModel, model_name: &str, opts: &ImportOptions) -> Result<Converted> {
    let data_inputs: Vec<_> = m
        .inputs
        .iter()
        .filter(|v| !opts.constants.iter().any(|(n, _)| *n == v.name))
        .collect();
    let [input] = data_inputs.as_slice() else {
        let names: Vec<&str> = data_inputs.iter().map(|v| v.name.as_str()).collect();
        return Err(CompileError::InvalidGraph {
            model: model_name.into(),
            reason: format!(
                "the graph has {} data inputs {names:?}; blindfold needs exactly one (the image). \
                 Weights given as graph inputs must be stored as initializers",
                names.len()
            ),
        });
    };
    let [output_name] = m.outputs.as_slice() else {
        return Err(CompileError::InvalidGraph {
            model: model_name.into(),
            reason: format!(
                "the graph has {} outputs {:?}; blindfold needs exactly one (the class scores)",
                m.outputs.len(),
                m.outputs
            ),
        });
    };
    let mut cv = Converter {
        graph: Graph::new(),
        values: HashMap::new(),
        const_nodes: HashMap::new(),
        notes: Vec::new(),
        fixed_batch: None,
        uses: HashMap::new(),
        graph_outputs: m.outputs.clone(),
    };
    let input_shape = cv.input_shape(&input.name, input.dims.as_deref(), opts)?;
    let x = cv.graph.add_node(
        input.name.clone(),
        Op::Input,
        Fact::new(input_shape.clone()),
        &[],
    );
    cv.graph.add_input(x);
    cv.values.insert(input.name.clone(), Value::Node(x));
    for (k, v) in m
        .initializers
        .iter()
        .chain(opts.constants.iter().map(|(k, v)| (k, v)))
    {
        cv.values.insert(k.clone(), Value::Const(v.clone()));
    }
    for n in &m.nodes {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            *cv.uses.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &m.outputs {
        *cv.uses.entry(o.clone()).or_default() += 1;
    }
    for node in &m.nodes {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(CompileError::Unsupported {
                op: format!("{}:{}", node.domain, node.op_type),
                node: node.label(),
                hint: "custom-domain operators are not supported; export with standard ONNX ops"
                    .into(),
            });
        }
        super::ops::convert_node(&mut cv, node, m.opset)?;
    }
    let out = match cv.values.get(output_name) {
        Some(Value::Node(id)) => *id,
        Some(Value::Const(_)) => {
            return Err(CompileError::InvalidGraph {
                model: model_name.into(),
                reason: format!("output '{output_name}' does not depend on the input"),
            })
        }
        None => {
            return Err(CompileError::InvalidGraph {
                model: model_name.into(),
                reason: format!("output '{output_name}' is produced by no node"),
            })
        }
    };
    cv.graph.set_outputs(vec![out]);
    Ok(Converted {
        graph: cv.graph,
        input_shape,
        input_name: input.name.clone(),
        output_name: output_name.clone(),
        notes: cv.notes,
    })
}

impl Converter {
    fn input_shape(
        &mut self,
        name: &str,
        dims: Option<&[Dim]>,
        opts: &ImportOptions,
    ) -> Result<Vec<usize>> {
        let declared = dims.unwrap_or(&[]);
        if let Some(shape) = &opts.input_shape {
            if !declared.is_empty() && declared.len() != shape.len() {
                return Err(CompileError::InvalidInput {
                    reason: format!(
                        "input shape {shape:?} given, but '{name}' has rank {}",
                        declared.len()
                    ),
                });
            }
            for (i, (d, &s)) in declared.iter().zip(shape).enumerate() {
                if let Dim::Known(k) = d {
                    if *k != s && i > 0 {
                        return Err(CompileError::InvalidInput {
                            reason: format!(
                                "input shape {shape:?} given, but '{name}' fixes axis {i} to {k}"
                            ),
                        });
                    }
                }
            }
            return Ok(shape.clone());
        }
        let hint = "pass the input shape explicitly (ImportOptions::input_shape, or \
                    --input-shape N,C,H,W on the command line)";
        if declared.is_empty() {
            return Err(CompileError::DynamicShape {
                input: name.into(),
                dim: 0,
                symbol: "?".into(),
                hint: format!("the file declares no shape for it; {hint}"),
            });
        }
        let mut shape = Vec::with_capacity(declared.len());
        for (i, d) in declared.iter().enumerate() {
            match (i, d) {
                (0, Dim::Known(n)) => {
                    if *n > 1 {
                        self.fixed_batch = Some(*n);
                        self.notes.push(format!(
                            "the model fixes the batch size to {n}; it is compiled for batch 1 \
                             (images are classified one by one)"
                        ));
                    }
                    shape.push(1);
                }
                (0, Dim::Symbolic(_)) => shape.push(1),
                (_, Dim::Known(n)) => shape.push(*n),
                (_, Dim::Symbolic(s)) => {
                    return Err(CompileError::DynamicShape {
                        input: name.into(),
                        dim: i,
                        symbol: s.clone(),
                        hint: hint.into(),
                    })
                }
            }
        }
        Ok(shape)
    }

    /// The value named `name`, used by `node`.
    pub fn value(&self, node: &OnnxNode, name: &str) -> Result<&Value> {
        self.values
            .get(name)
            .ok_or_else(|| CompileError::InvalidNode {
                op: node.op_type.clone(),
                node: node.label(),
                reason: format!(
                "input '{name}' is produced by no earlier node and is no initializer (the file \
                 may be truncated, or its nodes are not in topological order)"
            ),
            })
    }

    /// Input `i` of `node` ("" or absent gives `None`).
    pub fn input(&self, node: &OnnxNode, i: usize) -> Result<Option<&Value>> {
        match node.inputs.get(i) {
            Some(n) if !n.is_empty() => self.value(node, n).map(Some),
            _ => Ok(None),
        }
    }

    /// Input `i` of `node`, which must exist.
    pub fn required(&self, node: &OnnxNode, i: usize) -> Result<&Value> {
        self.input(node, i)?
            .ok_or_else(|| CompileError::InvalidNode {
                op: node.op_type.clone(),
                node: node.label(),
                reason: format!("input {i} is missing"),
            })
    }

    /// Input `i` of `node` as a constant; a data-dependent value is a `NonConstantWeight`.
    pub fn constant(&self, node: &OnnxNode, i: usize) -> Result<Option<Tensor>> {
        match self.input(node, i)? {
            None => Ok(None),
            Some(Value::Const(t)) => Ok(Some(t.clone())),
            Some(Value::Node(_)) => Err(CompileError::NonConstantWeight {
                op: node.op_type.clone(),
                node: node.label(),
                input: node.inputs.get(i).cloned().unwrap_or_default(),
            }),
        }
    }

    /// Input `i` of `node` as an IR node, materialising a constant as a `Const` node.
    pub fn node_input(&mut self, node: &OnnxNode, i: usize) -> Result<NodeId> {
        let name = node.inputs.get(i).cloned().unwrap_or_default();
        match self.required(node, i)?.clone() {
            Value::Node(id) => Ok(id),
            Value::Const(t) => {
                if let Some(&id) = self.const_nodes.get(&name) {
                    return Ok(id);
                }
                let fact = Fact::new(t.shape().to_vec());
                let id = self.graph.add_node(name.clone(), Op::Const(t), fact, &[]);
                self.const_nodes.insert(name, id);
                Ok(id)
            }
        }
    }

    /// The shape of input `i` (constant or node).
    pub fn input_shape_of(&self, node: &OnnxNode, i: usize) -> Result<Vec<usize>> {
        match self.required(node, i)? {
            Value::Const(t) => Ok(t.shape().to_vec()),
            Value::Node(id) => Ok(self.graph.fact(*id)?.shape.clone()),
        }
    }

    /// Adds an IR node for `node`'s first output, inferring its shape.
    pub fn emit(&mut self, node: &OnnxNode, op: Op, operands: &[NodeId]) -> Result<NodeId> {
        let id = self
            .graph
            .add_inferred(node.label(), op, operands)
            .map_err(|e| match e {
                CompileError::InvalidNode { reason, .. } => CompileError::InvalidNode {
                    op: node.op_type.clone(),
                    node: node.label(),
                    reason,
                },
                other => other,
            })?;
        self.set_output(node, Value::Node(id));
        Ok(id)
    }

    /// Binds `node`'s first output to `v`.
    pub fn set_output(&mut self, node: &OnnxNode, v: Value) {
        if let Some(o) = node.outputs.first() {
            self.values.insert(o.clone(), v);
        }
    }

    /// Whether output `k` of `node` is used by anything.
    pub fn output_used(&self, node: &OnnxNode, k: usize) -> bool {
        node.outputs
            .get(k)
            .is_some_and(|o| !o.is_empty() && self.uses.get(o).copied().unwrap_or(0) > 0)
    }
}

/// Typed access to the attributes of a node, with ONNX defaults.
pub(crate) struct Attrs<'a>(pub &'a OnnxNode);

impl Attrs<'_> {
    fn bad(&self, name: &str, want: &str) -> CompileError {
        CompileError::InvalidNode {
            op: self.0.op_type.clone(),
            node: self.0.label(),
            reason: format!("attribute '{name}' must be {want}"),
        }
    }

    /// An integer attribute.
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.0.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(i)) => Ok(*i),
            Some(_) => Err(self.bad(name, "an integer")),
        }
    }

    /// A float attribute.
    pub fn float(&self, name: &str, default: f64) -> Result<f64> {
        match self.0.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(f)) => Ok(*f),
            Some(Attr::Int(i)) => Ok(*i as f64),
            Some(_) => Err(self.bad(name, "a float")),
        }
    }

    /// A list of integers (`None` when absent).
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.0.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(i)) => Ok(Some(vec![*i])),
            Some(_) => Err(self.bad(name, "a list of integers")),
        }
    }

    /// A string attribute.
    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        match self.0.attrs.get(name) {
            None => Ok(default.into()),
            Some(Attr::Str(s)) => Ok(s.clone()),
            Some(_) => Err(self.bad(name, "a string")),
        }
    }

    /// Any attribute.
    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.0.attrs.get(name)
    }
}
