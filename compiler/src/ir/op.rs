//! The closed set of tensor operations of the IR, with their arity and shape rules.
//!
//! Every node has one output. Weights live inside the op that uses them (a convolution
//! kernel is not a separate node), so a pass sees at a glance what is linear and constant.

use super::tensor::{broadcast_shapes, Tensor};
use crate::approx::Polynomial;
use std::fmt;

/// A 2-D convolution over NCHW tensors (ONNX `Conv`).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// Kernel `[out_channels, in_channels / groups, kh, kw]`.
    pub weight: Tensor,
    /// Bias `[out_channels]`.
    pub bias: Option<Tensor>,
    /// Strides `[sh, sw]`.
    pub strides: [usize; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Groups: 1 (dense) or the channel count (depthwise).
    pub groups: usize,
}

/// A dense (fully connected) layer over the last axis: `y = x · Wᵀ + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Weight `[out_features, in_features]`.
    pub weight: Tensor,
    /// Bias `[out_features]`.
    pub bias: Option<Tensor>,
}

/// A 2-D average pooling window (ONNX `AveragePool`).
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]`.
    pub strides: [usize; 2],
    /// Padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Whether padded positions count in the divisor.
    pub count_include_pad: bool,
}

/// Inference-mode batch normalisation over axis 1.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// γ per channel.
    pub scale: Vec<f64>,
    /// β per channel.
    pub bias: Vec<f64>,
    /// Running mean per channel.
    pub mean: Vec<f64>,
    /// Running variance per channel.
    pub var: Vec<f64>,
    /// ε.
    pub epsilon: f64,
}

impl BatchNorm {
    /// The equivalent per-channel affine map `x ↦ a·x + b`.
    pub fn to_affine(&self) -> Affine {
        let mut scale = Vec::with_capacity(self.scale.len());
        let mut bias = Vec::with_capacity(self.scale.len());
        for c in 0..self.scale.len() {
            let a = self.scale[c] / (self.var[c] + self.epsilon).sqrt();
            scale.push(a);
            bias.push(self.bias[c] - a * self.mean[c]);
        }
        Affine { scale, bias }
    }
}

/// A per-channel affine map over axis 1: `y[:, c] = scale[c] · x[:, c] + bias[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    /// Multiplier per channel.
    pub scale: Vec<f64>,
    /// Offset per channel.
    pub bias: Vec<f64>,
}

/// One IR operation. The set is closed on purpose: every pass matches it exhaustively.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The model input (no operand).
    Input,
    /// A constant tensor (no operand).
    Const(Tensor),
    /// 2-D convolution.
    Conv(Conv2d),
    /// Dense layer over the last axis.
    Dense(Dense),
    /// 2-D average pooling.
    AvgPool(Pool2d),
    /// Mean over H and W, keeping them as size-1 axes.
    GlobalAvgPool,
    /// Batch normalisation (removed by `fold-batchnorm`).
    BatchNorm(BatchNorm),
    /// Per-channel affine map.
    Affine(Affine),
    /// max(x, 0).
    Relu,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// tanh(x).
    Tanh,
    /// x².
    Square,
    /// A polynomial applied slot-wise (an approximated or polynomial activation).
    Poly(Polynomial),
    /// Broadcasting addition of two operands.
    Add,
    /// Broadcasting subtraction (operand 0 minus operand 1).
    Sub,
    /// Broadcasting multiplication.
    Mul,
    /// Same values, another shape.
    Reshape {
        /// The output shape.
        shape: Vec<usize>,
    },
    /// Zero padding: `pads` holds the begins of every axis, then the ends (ONNX order).
    Pad {
        /// Begins then ends, `2 × rank` values.
        pads: Vec<usize>,
    },
    /// Returns its operand (ONNX `Identity`, `Dropout`); removed by `remove-identity`.
    Identity,
}

impl Op {
    /// Short lower-case name used in dumps.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Const(_) => "const",
            Op::Conv(_) => "conv",
            Op::Dense(_) => "dense",
            Op::AvgPool(_) => "avgpool",
            Op::GlobalAvgPool => "global_avgpool",
            Op::BatchNorm(_) => "batchnorm",
            Op::Affine(_) => "affine",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::Tanh => "tanh",
            Op::Square => "square",
            Op::Poly(_) => "poly",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Reshape { .. } => "reshape",
            Op::Pad { .. } => "pad",
            Op::Identity => "identity",
        }
    }

    /// Number of operands.
    pub fn arity(&self) -> usize {
        match self {
            Op::Input | Op::Const(_) => 0,
            Op::Add | Op::Sub | Op::Mul => 2,
            Op::Conv(_)
            | Op::Dense(_)
            | Op::AvgPool(_)
            | Op::GlobalAvgPool
            | Op::BatchNorm(_)
            | Op::Affine(_)
            | Op::Relu
            | Op::Sigmoid
            | Op::Tanh
            | Op::Square
            | Op::Poly(_)
            | Op::Reshape { .. }
            | Op::Pad { .. }
            | Op::Identity => 1,
        }
    }

    /// Number of trainable parameters held by the op (weights, biases, statistics).
    pub fn param_count(&self) -> usize {
        match self {
            Op::Conv(c) => c.weight.len() + c.bias.as_ref().map_or(0, Tensor::len),
            Op::Dense(d) => d.weight.len() + d.bias.as_ref().map_or(0, Tensor::len),
            Op::BatchNorm(b) => 4 * b.scale.len(),
            Op::Affine(a) => 2 * a.scale.len(),
            Op::Const(t) => t.len(),
            Op::Poly(p) => p.coeffs.len(),
            Op::Input
            | Op::AvgPool(_)
            | Op::GlobalAvgPool
            | Op::Relu
            | Op::Sigmoid
            | Op::Tanh
            | Op::Square
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Reshape { .. }
            | Op::Pad { .. }
            | Op::Identity => 0,
        }
    }

    /// The output shape for operands of the given shapes, or why they do not fit.
    /// `Input` has no rule (its shape is given); it returns an error here.
    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        if inputs.len() != self.arity() {
            return Err(format!(
                "expects {} operand(s), has {}",
                self.arity(),
                inputs.len()
            ));
        }
        match self {
            Op::Input => Err("the input's shape is given, not inferred".into()),
            Op::Const(t) => Ok(t.shape().to_vec()),
            Op::Conv(c) => conv_shape(c, inputs[0]),
            Op::Dense(d) => dense_shape(d, inputs[0]),
            Op::AvgPool(p) => {
                let [n, ch, h, w] = nchw(inputs[0])?;
                let oh = window_out(h, p.kernel[0], p.strides[0], p.pads[0] + p.pads[2])?;
                let ow = window_out(w, p.kernel[1], p.strides[1], p.pads[1] + p.pads[3])?;
                Ok(vec![n, ch, oh, ow])
            }
            Op::GlobalAvgPool => {
                let x = inputs[0];
                if x.len() < 3 {
                    return Err(format!("expects a rank >= 3 tensor, got {x:?}"));
                }
                let mut out = x[..2].to_vec();
                out.extend(std::iter::repeat_n(1, x.len() - 2));
                Ok(out)
            }
            Op::BatchNorm(b) => per_channel_shape(inputs[0], b.scale.len()),
            Op::Affine(a) => per_channel_shape(inputs[0], a.scale.len()),
            Op::Relu | Op::Sigmoid | Op::Tanh | Op::Square | Op::Poly(_) | Op::Identity => {
                Ok(inputs[0].to_vec())
            }
            Op::Add | Op::Sub | Op::Mul => broadcast_shapes(inputs[0], inputs[1])
                .ok_or_else(|| format!("cannot broadcast {:?} with {:?}", inputs[0], inputs[1])),
            Op::Reshape { shape } => {
                let a: usize = inputs[0].iter().product();
                let b: usize = shape.iter().product();
                if a == b {
                    Ok(shape.clone())
                } else {
                    Err(format!("cannot reshape {:?} into {shape:?}", inputs[0]))
                }
            }
            Op::Pad { pads } => {
                let x = inputs[0];
                if pads.len() != 2 * x.len() {
                    return Err(format!("{} pads for a rank-{} tensor", pads.len(), x.len()));
                }
                Ok(x.iter()
                    .enumerate()
                    .map(|(i, d)| d + pads[i] + pads[i + x.len()])
                    .collect())
            }
        }
    }
}

fn nchw(x: &[usize]) -> Result<[usize; 4], String> {
    match x {
        [n, c, h, w] => Ok([*n, *c, *h, *w]),
        _ => Err(format!("expects an NCHW tensor, got shape {x:?}")),
    }
}

fn window_out(len: usize, k: usize, s: usize, pad: usize) -> Result<usize, String> {
    if s == 0 || k == 0 {
        return Err("kernel and stride must be positive".into());
    }
    if len + pad < k {
        return Err(format!(
            "window {k} larger than the padded input {}",
            len + pad
        ));
    }
    Ok((len + pad - k) / s + 1)
}

fn conv_shape(c: &Conv2d, x: &[usize]) -> Result<Vec<usize>, String> {
    let [n, ch, h, w] = nchw(x)?;
    let [o, i, kh, kw] = nchw(c.weight.shape()).map_err(|_| "kernel must be rank 4".to_string())?;
    if c.groups == 0 || ch != i * c.groups || o % c.groups != 0 {
        return Err(format!(
            "kernel {:?} with {} group(s) does not fit {ch} input channels",
            c.weight.shape(),
            c.groups
        ));
    }
    if let Some(b) = &c.bias {
        if b.len() != o {
            return Err(format!("bias has {} values for {o} channels", b.len()));
        }
    }
    let oh = window_out(h, kh, c.strides[0], c.pads[0] + c.pads[2])?;
    let ow = window_out(w, kw, c.strides[1], c.pads[1] + c.pads[3])?;
    Ok(vec![n, o, oh, ow])
}

fn dense_shape(d: &Dense, x: &[usize]) -> Result<Vec<usize>, String> {
    let (out, inp) = match d.weight.shape() {
        [o, i] => (*o, *i),
        s => return Err(format!("weight must be rank 2, got {s:?}")),
    };
    match x.last() {
        Some(&k) if k == inp => {}
        _ => return Err(format!("input {x:?} does not end in {inp} features")),
    }
    if let Some(b) = &d.bias {
        if b.len() != out {
            return Err(format!("bias has {} values for {out} outputs", b.len()));
        }
    }
    let mut s = x.to_vec();
    if let Some(l) = s.last_mut() {
        *l = out;
    }
    Ok(s)
}

fn per_channel_shape(x: &[usize], channels: usize) -> Result<Vec<usize>, String> {
    if x.get(1) != Some(&channels) {
        return Err(format!("{channels} channels do not fit shape {x:?}"));
    }
    Ok(x.to_vec())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pads = |p: &[usize; 4]| format!("{},{},{},{}", p[0], p[1], p[2], p[3]);
        match self {
            Op::Conv(c) => {
                let s = c.weight.shape();
                write!(
                    f,
                    "conv[{}x{}, {}->{}, stride {}x{}, pad {}, groups {}{}]",
                    s.get(2).unwrap_or(&0),
                    s.get(3).unwrap_or(&0),
                    s.get(1).unwrap_or(&0) * c.groups,
                    s.first().unwrap_or(&0),
                    c.strides[0],
                    c.strides[1],
                    pads(&c.pads),
                    c.groups,
                    if c.bias.is_some() { ", bias" } else { "" }
                )
            }
            Op::Dense(d) => {
                let s = d.weight.shape();
                write!(
                    f,
                    "dense[{}->{}{}]",
                    s.get(1).unwrap_or(&0),
                    s.first().unwrap_or(&0),
                    if d.bias.is_some() { ", bias" } else { "" }
                )
            }
            Op::AvgPool(p) => write!(
                f,
                "avgpool[{}x{}, stride {}x{}, pad {}{}]",
                p.kernel[0],
                p.kernel[1],
                p.strides[0],
                p.strides[1],
                pads(&p.pads),
                if p.count_include_pad && p.pads != [0; 4] {
                    ", count pads"
                } else {
                    ""
                }
            ),
            Op::Const(t) => match t.as_scalar() {
                Some(v) => write!(f, "const[{v}]"),
                None => write!(f, "const{:?}", t.shape()),
            },
            Op::BatchNorm(b) => write!(f, "batchnorm[{} ch, eps {}]", b.scale.len(), b.epsilon),
            Op::Affine(a) => write!(f, "affine[{} ch]", a.scale.len()),
            Op::Reshape { shape } => write!(f, "reshape{shape:?}"),
            Op::Pad { pads } => write!(f, "pad{pads:?}"),
            Op::Poly(p) => write!(f, "poly[{p}]"),
            Op::Input
            | Op::GlobalAvgPool
            | Op::Relu
            | Op::Sigmoid
            | Op::Tanh
            | Op::Square
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Identity => f.write_str(self.name()),
        }
    }
}
