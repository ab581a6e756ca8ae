//! The only file that names tract types. It decodes the ONNX protobuf (with tract-onnx's own
//! prost types, which keep op types and attributes intact) into the plain structs below, and
//! wraps tract's inference as the float reference ([`TractReference`]). tract's anyhow errors
//! are wrapped here, once, into [`CompileError`].

use crate::error::{CompileError, Result};
use crate::ir::Tensor;
use std::collections::HashMap;
use std::sync::Arc;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as PbDim;
use tract_onnx::pb::type_proto::Value as PbType;
use tract_onnx::prelude::{
    DatumExt, Framework, InferenceModelExt, IntoRunnable, IntoTValue, Tensor as TractTensor,
    TypedRunnableModel,
};

/// An ONNX model reduced to what the importer reads.
#[derive(Debug)]
pub(crate) struct OnnxModel {
    /// Nodes in file order.
    pub nodes: Vec<OnnxNode>,
    /// Initializers (weights) by value name.
    pub initializers: HashMap<String, Tensor>,
    /// Graph inputs that are not initializers.
    pub inputs: Vec<ValueInfo>,
    /// Graph output value names.
    pub outputs: Vec<String>,
    /// Version of the default ("ai.onnx") opset.
    pub opset: i64,
    /// Producer name and version ("pytorch 2.5", "tf2onnx 1.16").
    pub producer: String,
}

/// One ONNX node.
#[derive(Debug)]
pub(crate) struct OnnxNode {
    /// Node name (may be empty in the file; see `label`).
    pub name: String,
    /// ONNX op type.
    pub op_type: String,
    /// Domain ("" or "ai.onnx" for standard ops).
    pub domain: String,
    /// Input value names ("" for an omitted optional input).
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: HashMap<String, Attr>,
}

impl OnnxNode {
    /// The name used in messages: the node name, or its first output when it has none.
    pub fn label(&self) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else {
            self.outputs.first().cloned().unwrap_or_default()
        }
    }
}

/// An attribute value.
#[derive(Debug, Clone)]
pub(crate) enum Attr {
    Float(f64),
    Int(i64),
    Str(String),
    Tensor(Tensor),
    Floats(Vec<f64>),
    Ints(Vec<i64>),
    /// Graphs, sparse tensors, type protos: never needed by a supported op.
    Other,
}

/// A dimension of a graph input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dim {
    Known(usize),
    Symbolic(String),
}

/// A graph input: name and declared shape (`None` when the file gives no shape).
#[derive(Debug, Clone)]
pub(crate) struct ValueInfo {
    pub name: String,
    pub dims: Option<Vec<Dim>>,
}

/// Decodes ONNX bytes; `model` names the source in errors.
pub(crate) fn decode(bytes: &[u8], model: &str) -> Result<OnnxModel> {
    let not_onnx = |reason: String| CompileError::NotOnnx {
        model: model.into(),
        reason,
    };
    if bytes.is_empty() {
        return Err(not_onnx("the file is empty".into()));
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| {
            not_onnx(format!(
                "protobuf decoding failed ({e:#}); the file is truncated or not an ONNX model"
            ))
        })?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("it holds no graph (truncated file, or not ONNX)".into()))?;
    if proto.ir_version <= 0 || graph.node.is_empty() {
        return Err(not_onnx(
            "no IR version or no node (truncated file, or not ONNX)".into(),
        ));
    }
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| {
            not_onnx("it imports no standard ONNX opset (truncated file, or not ONNX)".into())
        })?;
    let mut initializers = HashMap::new();
    for t in &graph.initializer {
        let tensor =
            tensor_from_proto(t).map_err(|r| not_onnx(format!("initializer '{}': {r}", t.name)))?;
        initializers.insert(t.name.clone(), tensor);
    }
    let inputs = graph
        .input
        .iter()
        .filter(|v| !initializers.contains_key(&v.name))
        .map(value_info)
        .collect();
    let nodes = graph
        .node
        .iter()
        .map(|n| {
            let attrs = n
                .attribute
                .iter()
                .map(|a| Ok((a.name.clone(), attr(a)?)))
                .collect::<std::result::Result<_, String>>()
                .map_err(|r| CompileError::InvalidNode {
                    op: n.op_type.clone(),
                    node: n.name.clone(),
                    reason: r,
                })?;
            Ok(OnnxNode {
                name: n.name.clone(),
                op_type: n.op_type.clone(),
                domain: n.domain.clone(),
                inputs: n.input.clone(),
                outputs: n.output.clone(),
                attrs,
            })
        })
        .collect::<Result<_>>()?;
    Ok(OnnxModel {
        nodes,
        initializers,
        inputs,
        outputs: graph.output.iter().map(|v| v.name.clone()).collect(),
        opset,
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
    })
}

fn value_info(v: &pb::ValueInfoProto) -> ValueInfo {
    let dims = v.r#type.as_ref().and_then(|t| match &t.value {
        Some(PbType::TensorType(tt)) => tt.shape.as_ref().map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(PbDim::DimValue(n)) if *n > 0 => Dim::Known(*n as usize),
                    Some(PbDim::DimParam(p)) => Dim::Symbolic(p.clone()),
                    _ => Dim::Symbolic("?".into()),
                })
                .collect()
        }),
        _ => None,
    });
    ValueInfo {
        name: v.name.clone(),
        dims,
    }
}

fn attr(a: &pb::AttributeProto) -> std::result::Result<Attr, String> {
    let kind = if a.r#type != 0 {
        a.r#type
    } else if !a.ints.is_empty() {
        7
    } else if !a.floats.is_empty() {
        6
    } else if a.t.is_some() {
        4
    } else if !a.s.is_empty() {
        3
    } else if a.f != 0.0 {
        1
    } else {
        2
    };
    Ok(match kind {
        1 => Attr::Float(f64::from(a.f)),
        2 => Attr::Int(a.i),
        3 => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
        4 => match &a.t {
            Some(t) => Attr::Tensor(
                tensor_from_proto(t).map_err(|r| format!("attribute '{}': {r}", a.name))?,
            ),
            None => return Err(format!("attribute '{}' has no tensor", a.name)),
        },
        6 => Attr::Floats(a.floats.iter().map(|&f| f64::from(f)).collect()),
        7 => Attr::Ints(a.ints.clone()),
        _ => Attr::Other,
    })
}

/// Decodes a serialized ONNX `TensorProto` (the `.pb` files of the ONNX test data) into f64.
pub fn read_tensor_pb(bytes: &[u8]) -> Result<Tensor> {
    let proto =
        tract_onnx::tensor::proto_from_reader(bytes).map_err(|e| CompileError::NotOnnx {
            model: "tensor".into(),
            reason: format!("{e:#}"),
        })?;
    tensor_from_proto(&proto).map_err(|reason| CompileError::NotOnnx {
        model: format!("tensor '{}'", proto.name),
        reason,
    })
}

/// Decodes a `TensorProto` into f64 (float, double, integer and bool element types).
fn tensor_from_proto(t: &pb::TensorProto) -> std::result::Result<Tensor, String> {
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(
            "weights stored in an external data file are not supported; save the model with \
             its weights inside the .onnx file"
                .into(),
        );
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    let raw = &t.raw_data;
    let data: Vec<f64> = match t.data_type {
        1 if !raw.is_empty() => le_chunks::<4>(raw)
            .map(|b| f64::from(f32::from_le_bytes(b)))
            .collect(),
        1 => t.float_data.iter().map(|&f| f64::from(f)).collect(),
        11 if !raw.is_empty() => le_chunks::<8>(raw).map(f64::from_le_bytes).collect(),
        11 => t.double_data.clone(),
        7 if !raw.is_empty() => le_chunks::<8>(raw)
            .map(|b| i64::from_le_bytes(b) as f64)
            .collect(),
        7 => t.int64_data.iter().map(|&i| i as f64).collect(),
        6 if !raw.is_empty() => le_chunks::<4>(raw)
            .map(|b| f64::from(i32::from_le_bytes(b)))
            .collect(),
        2 | 3 | 9 if !raw.is_empty() => raw
            .iter()
            .map(|&b| {
                if t.data_type == 3 {
                    f64::from(b as i8)
                } else {
                    f64::from(b)
                }
            })
            .collect(),
        6 | 2 | 3 | 9 => t.int32_data.iter().map(|&i| f64::from(i)).collect(),
        other => {
            return Err(format!(
                "element type {other} is not supported (float, double, int32, int64, int8, \
                 uint8 and bool are)"
            ))
        }
    };
    Tensor::new(shape, data).map_err(|e| format!("{e} (truncated tensor data?)"))
}

fn le_chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| {
        let mut b = [0u8; N];
        b.copy_from_slice(c);
        b
    })
}

/// tract-onnx's own inference of an ONNX file, with the input fixed to one shape: the float
/// oracle the reference interpreter is checked against.
pub struct TractReference {
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
}

impl std::fmt::Debug for TractReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractReference")
            .field("input_shape", &self.input_shape)
            .finish_non_exhaustive()
    }
}

impl TractReference {
    /// Loads and optimises the model with tract, its (single) input fixed to `input_shape`
    /// in f32.
    pub fn from_bytes(bytes: &[u8], input_shape: &[usize], model: &str) -> Result<Self> {
        let wrap = |source: anyhow::Error| CompileError::Import {
            model: model.into(),
            source,
        };
        let fact = f32::fact(input_shape);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.with_input_fact(0, fact.into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(wrap)?;
        Ok(Self {
            plan,
            input_shape: input_shape.to_vec(),
        })
    }

    /// The input shape the model was fixed to.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Runs tract on one input (converted to f32) and returns its first output in f64.
    pub fn run(&self, input: &Tensor) -> Result<Tensor> {
        let x = crate::reference::fit_input(input, &self.input_shape)?;
        let data: Vec<f32> = x.data().iter().map(|&v| v as f32).collect();
        let wrap = |source: anyhow::Error| CompileError::Import {
            model: "tract reference".into(),
            source,
        };
        let t = TractTensor::from_shape(&self.input_shape, &data).map_err(wrap)?;
        let outputs = self.plan.run(vec![t.into_tvalue()].into()).map_err(wrap)?;
        let first = outputs.first().ok_or_else(|| CompileError::InvalidInput {
            reason: "tract returned no output".into(),
        })?;
        let as_f64 = first.cast_to::<f64>().map_err(wrap)?;
        let view = as_f64.to_plain_array_view::<f64>().map_err(wrap)?;
        Tensor::new(view.shape().to_vec(), view.iter().copied().collect())
    }
}
