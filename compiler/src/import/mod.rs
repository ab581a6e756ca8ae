//! ONNX import: from a `.onnx` file (any exporter) to one normalised IR [`Graph`].
//!
//! [`load_onnx`] decodes the protobuf (module `onnx`, the only one that sees tract), fixes the
//! input to batch 1, converts every node (refusing what cannot run on encrypted data with an
//! error naming the node), verifies the graph, and runs the normalising passes
//! ([`PassManager::normalize`]).

mod convert;
mod layers;
mod onnx;
mod ops;
mod shape_ops;

pub use onnx::{read_tensor_pb, TractReference};

use crate::error::{CompileError, Result};
use crate::ir::{verify, Graph, Tensor};
use crate::passes::PassManager;
use std::path::{Path, PathBuf};

/// Options of the importer.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The input shape to use (batch axis included), overriding the file's declaration;
    /// needed when the file leaves the channel or spatial sizes symbolic.
    pub input_shape: Option<Vec<usize>>,
    /// Whether to run the normalising passes (on by default).
    pub normalize: bool,
    /// Graph inputs to bind to constant values (weights that a file declares as inputs, as
    /// the ONNX conformance tests do).
    pub constants: Vec<(String, Tensor)>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            input_shape: None,
            normalize: true,
            constants: Vec::new(),
        }
    }
}

impl ImportOptions {
    /// Sets the input shape.
    pub fn with_input_shape(mut self, shape: Vec<usize>) -> Self {
        self.input_shape = Some(shape);
        self
    }

    /// Binds a graph input to a constant.
    pub fn with_constant(mut self, name: impl Into<String>, value: Tensor) -> Self {
        self.constants.push((name.into(), value));
        self
    }

    /// Turns the normalising passes on or off.
    pub fn with_normalize(mut self, on: bool) -> Self {
        self.normalize = on;
        self
    }
}

/// Where a model comes from: a file or bytes in memory.
#[derive(Clone, Copy, Debug)]
pub enum ModelSource<'a> {
    /// A `.onnx` file.
    Path(&'a Path),
    /// The bytes of a `.onnx` file.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a Path> for ModelSource<'a> {
    fn from(p: &'a Path) -> Self {
        ModelSource::Path(p)
    }
}

impl<'a> From<&'a PathBuf> for ModelSource<'a> {
    fn from(p: &'a PathBuf) -> Self {
        ModelSource::Path(p)
    }
}

impl<'a> From<&'a str> for ModelSource<'a> {
    fn from(p: &'a str) -> Self {
        ModelSource::Path(Path::new(p))
    }
}

impl<'a> From<&'a [u8]> for ModelSource<'a> {
    fn from(b: &'a [u8]) -> Self {
        ModelSource::Bytes(b)
    }
}

impl<'a> From<&'a Vec<u8>> for ModelSource<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        ModelSource::Bytes(b)
    }
}

/// An imported model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The IR graph (normalised unless the options say otherwise).
    pub graph: Graph,
    /// The input shape the graph was built for (batch 1 first).
    pub input_shape: Vec<usize>,
    /// The ONNX name of the input.
    pub input_name: String,
    /// The ONNX name of the output.
    pub output_name: String,
    /// What the importer changed and the user should know (dropped softmax, batch fixed to 1).
    pub notes: Vec<String>,
    /// Producer recorded in the file ("pytorch 2.5.0", "tf2onnx 1.16.1").
    pub producer: String,
    /// Version of the default ONNX opset.
    pub opset: i64,
}

/// Reads the bytes of a source, with its display name.
pub fn read_source(source: ModelSource<'_>) -> Result<(Vec<u8>, String)> {
    match source {
        ModelSource::Path(p) => {
            let bytes = std::fs::read(p).map_err(|e| CompileError::Io {
                path: p.to_path_buf(),
                source: e,
            })?;
            Ok((bytes, p.display().to_string()))
        }
        ModelSource::Bytes(b) => Ok((b.to_vec(), "<bytes>".into())),
    }
}

/// Loads an ONNX model into the IR (see the module documentation).
pub fn load_onnx<'a>(source: impl Into<ModelSource<'a>>, opts: &ImportOptions) -> Result<Model> {
    let (bytes, name) = read_source(source.into())?;
    load_onnx_bytes(&bytes, &name, opts)
}

/// The names of the graph inputs that are not initializers, in declaration order.
pub fn graph_input_names<'a>(source: impl Into<ModelSource<'a>>) -> Result<Vec<String>> {
    let (bytes, name) = read_source(source.into())?;
    Ok(onnx::decode(&bytes, &name)?
        .inputs
        .into_iter()
        .map(|v| v.name)
        .collect())
}

/// Loads ONNX bytes; `name` names the model in error messages.
pub fn load_onnx_bytes(bytes: &[u8], name: &str, opts: &ImportOptions) -> Result<Model> {
    let proto = onnx::decode(bytes, name)?;
    let converted = convert::convert(&proto, name, opts)?;
    let mut graph = converted.graph;
    verify(&graph, "import")?;
    if opts.normalize {
        PassManager::normalize().run(&mut graph)?;
    }
    Ok(Model {
        graph,
        input_shape: converted.input_shape,
        input_name: converted.input_name,
        output_name: converted.output_name,
        notes: converted.notes,
        producer: proto.producer,
        opset: proto.opset,
    })
}
