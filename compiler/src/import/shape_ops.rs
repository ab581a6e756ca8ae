//! Shape manipulations: Flatten, Reshape, Squeeze, Unsqueeze and Transpose on data (where they
//! only change the shape), and evaluation of ops whose inputs are all constants (shape
//! arithmetic such as `Shape → Gather → Concat → Reshape`, and constant weights expressions).

use super::convert::{Attrs, Converter, Value};
use super::onnx::OnnxNode;
use super::ops::const_binary;
use crate::error::{CompileError, Result};
use crate::ir::{strides, Op, Tensor};

fn invalid(node: &OnnxNode, reason: impl Into<String>) -> CompileError {
    CompileError::InvalidNode {
        op: node.op_type.clone(),
        node: node.label(),
        reason: reason.into(),
    }
}

fn norm_axis(node: &OnnxNode, axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank.max(1) && !(rank == 0 && a == 0) {
        return Err(invalid(
            node,
            format!("axis {axis} out of range for rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// Axes given as an attribute (old opsets) or as constant input 1.
fn axes(cv: &Converter, node: &OnnxNode) -> Result<Option<Vec<i64>>> {
    if let Some(a) = Attrs(node).ints("axes")? {
        return Ok(Some(a));
    }
    Ok(cv
        .constant(node, 1)?
        .map(|t| t.data().iter().map(|&v| v as i64).collect()))
}

/// The output shape of a shape-only op for input shape `x`; `data` is true when the input is
/// computed from the model input (then the batch axis is checked).
fn target_shape(cv: &Converter, node: &OnnxNode, x: &[usize], data: bool) -> Result<Vec<usize>> {
    let a = Attrs(node);
    let batch = if data { cv.fixed_batch } else { None };
    let mixing = |reason: String| CompileError::BatchMixing {
        op: node.op_type.clone(),
        node: node.label(),
        reason,
    };
    let out = match node.op_type.as_str() {
        "Flatten" => {
            let axis = a.int("axis", 1)?;
            let axis = if axis < 0 {
                axis + x.len() as i64
            } else {
                axis
            };
            if axis < 0 || axis as usize > x.len() {
                return Err(invalid(node, format!("axis {axis} out of range")));
            }
            if axis == 0 && batch.is_some() {
                return Err(mixing("axis 0 flattens all images into one row".into()));
            }
            let k = axis as usize;
            vec![x[..k].iter().product(), x[k..].iter().product()]
        }
        "Reshape" => {
            let spec: Vec<i64> = match cv.constant(node, 1)? {
                Some(t) => t.data().iter().map(|&v| v as i64).collect(),
                None => a
                    .ints("shape")?
                    .ok_or_else(|| invalid(node, "no target shape"))?,
            };
            let allow_zero = a.int("allowzero", 0)? != 0;
            let mut out = Vec::with_capacity(spec.len());
            let mut infer = None;
            for (i, &d) in spec.iter().enumerate() {
                match d {
                    0 if !allow_zero => out.push(
                        *x.get(i)
                            .ok_or_else(|| invalid(node, "0 copies a missing axis"))?,
                    ),
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        out.push(1);
                    }
                    d if d >= 0 => {
                        let d = d as usize;
                        out.push(if i == 0 && batch == Some(d) { 1 } else { d });
                    }
                    _ => return Err(invalid(node, format!("invalid target shape {spec:?}"))),
                }
            }
            let total: usize = x.iter().product();
            if let Some(i) = infer {
                let rest: usize = out.iter().product();
                if rest == 0 || !total.is_multiple_of(rest) {
                    return Err(invalid(node, format!("cannot reshape {x:?} into {spec:?}")));
                }
                out[i] = total / rest;
            }
            if let Some(n) = batch {
                let keeps = match spec.first() {
                    Some(&d) if d == n as i64 || (d == 0 && !allow_zero) => true,
                    Some(-1) => out.first() == Some(&1),
                    _ => false,
                };
                if !keeps {
                    return Err(mixing(format!(
                        "target shape {spec:?} does not keep the batch of {n} on axis 0"
                    )));
                }
            }
            out
        }
        "Squeeze" => {
            let axes = match axes(cv, node)? {
                Some(ax) => ax
                    .iter()
                    .map(|&ax| norm_axis(node, ax, x.len()))
                    .collect::<Result<Vec<_>>>()?,
                None => (0..x.len()).filter(|&i| x[i] == 1).collect(),
            };
            if axes.contains(&0) && batch.is_some() {
                return Err(mixing("it removes the batch axis".into()));
            }
            if axes.iter().any(|&ax| x[ax] != 1) {
                return Err(invalid(
                    node,
                    format!("cannot squeeze non-unit axes {axes:?} of {x:?}"),
                ));
            }
            (0..x.len())
                .filter(|i| !axes.contains(i))
                .map(|i| x[i])
                .collect()
        }
        "Unsqueeze" => {
            let ax = axes(cv, node)?.ok_or_else(|| invalid(node, "no axes"))?;
            let rank = x.len() + ax.len();
            let mut ax = ax
                .iter()
                .map(|&a| norm_axis(node, a, rank))
                .collect::<Result<Vec<_>>>()?;
            ax.sort_unstable();
            let mut out = x.to_vec();
            for a in ax {
                out.insert(a.min(out.len()), 1);
            }
            out
        }
        "Transpose" => {
            let perm = perm(node, x.len())?;
            if batch.is_some() && perm.first() != Some(&0) {
                return Err(mixing(format!("perm {perm:?} moves the batch axis")));
            }
            perm.iter().map(|&p| x[p]).collect()
        }
        other => return Err(invalid(node, format!("{other} is not a shape op"))),
    };
    Ok(out)
}

fn perm(node: &OnnxNode, rank: usize) -> Result<Vec<usize>> {
    let p: Vec<usize> = match Attrs(node).ints("perm")? {
        Some(p) => p
            .iter()
            .map(|&a| norm_axis(node, a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut sorted = p.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(invalid(
            node,
            format!("perm {p:?} is not a permutation of 0..{rank}"),
        ));
    }
    Ok(p)
}

/// Flatten, Reshape, Squeeze, Unsqueeze, Transpose on data: a `Reshape` IR node.
pub(crate) fn reshape_like(cv: &mut Converter, node: &OnnxNode, _opset: i64) -> Result<()> {
    let x_shape = cv.input_shape_of(node, 0)?;
    let shape = target_shape(cv, node, &x_shape, true)?;
    if node.op_type == "Transpose" {
        let p = perm(node, x_shape.len())?;
        let moved: Vec<usize> = p.iter().copied().filter(|&a| x_shape[a] != 1).collect();
        if moved.windows(2).any(|w| w[0] > w[1]) {
            return Err(CompileError::Unsupported {
                op: node.op_type.clone(),
                node: node.label(),
                hint: format!(
                    "perm {p:?} on shape {x_shape:?} moves data; only transposes that are \
                     reshapes (moving unit axes) are supported"
                ),
            });
        }
    }
    let x = cv.node_input(node, 0)?;
    cv.emit(node, Op::Reshape { shape }, &[x]).map(drop)
}

/// `Shape` of a value whose shape is known: a constant.
pub(crate) fn shape_of(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let s = cv.input_shape_of(node, 0)?;
    let t = slice_shape(node, &s)?;
    cv.set_output(node, Value::Const(t));
    Ok(())
}

fn slice_shape(node: &OnnxNode, s: &[usize]) -> Result<Tensor> {
    let a = Attrs(node);
    let r = s.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(a.int("start", 0)?);
    let end = clamp(a.int("end", r)?).max(start);
    let v: Vec<f64> = s[start..end].iter().map(|&d| d as f64).collect();
    Tensor::new(vec![v.len()], v)
}

/// Evaluates `node` when all its inputs are constants; `None` when the op is not one that is
/// folded here (the caller then converts it as an ordinary op).
pub(crate) fn eval_const(cv: &Converter, node: &OnnxNode, _opset: i64) -> Result<Option<Tensor>> {
    let c = |i: usize| -> Result<Tensor> {
        cv.constant(node, i)?
            .ok_or_else(|| invalid(node, format!("input {i} is missing")))
    };
    let bin = |f: fn(f64, f64) -> f64| -> Result<Option<Tensor>> {
        let (a, b) = (c(0)?, c(1)?);
        const_binary(&a, &b, f).map(Some).ok_or_else(|| {
            invalid(
                node,
                format!("cannot broadcast {:?} with {:?}", a.shape(), b.shape()),
            )
        })
    };
    let out = match node.op_type.as_str() {
        "Identity" | "Dropout" => c(0)?,
        "Cast" => {
            let mut t = c(0)?;
            if !matches!(Attrs(node).int("to", 1)?, 1 | 10 | 11 | 16) {
                t.data_mut().iter_mut().for_each(|v| *v = v.trunc());
            }
            t
        }
        "Add" => return bin(|a, b| a + b),
        "Sub" => return bin(|a, b| a - b),
        "Mul" => return bin(|a, b| a * b),
        "Div" => return bin(|a, b| a / b),
        "Pow" => return bin(f64::powf),
        "Neg" | "Sqrt" | "Reciprocal" | "Relu" => {
            let mut t = c(0)?;
            let f: fn(f64) -> f64 = match node.op_type.as_str() {
                "Neg" => |v| -v,
                "Sqrt" => f64::sqrt,
                "Reciprocal" => |v| 1.0 / v,
                _ => |v: f64| v.max(0.0),
            };
            t.data_mut().iter_mut().for_each(|v| *v = f(*v));
            t
        }
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => {
            let t = c(0)?;
            let shape = target_shape(cv, node, t.shape(), false)?;
            t.reshaped(shape)?
        }
        "Transpose" => {
            let t = c(0)?;
            let p = perm(node, t.shape().len())?;
            transpose(&t, &p)?
        }
        "Shape" => slice_shape(node, c(0)?.shape())?,
        "Gather" => gather(node, &c(0)?, &c(1)?)?,
        "Concat" => {
            let parts = (0..node.inputs.len()).map(c).collect::<Result<Vec<_>>>()?;
            concat(node, &parts)?
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

fn transpose(t: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let src = t.shape();
    let shape: Vec<usize> = perm.iter().map(|&p| src[p]).collect();
    let ss = strides(src);
    let os = strides(&shape);
    let mut out = vec![0.0; t.len()];
    for (i, o) in out.iter_mut().enumerate() {
        let mut off = 0;
        for (k, &p) in perm.iter().enumerate() {
            off += ((i / os[k]) % shape[k]) * ss[p];
        }
        *o = t.data()[off];
    }
    Tensor::new(shape, out)
}

fn gather(node: &OnnxNode, data: &Tensor, idx: &Tensor) -> Result<Tensor> {
    let rank = data.shape().len();
    if rank == 0 {
        return Err(invalid(node, "cannot gather from a scalar"));
    }
    let axis = norm_axis(node, Attrs(node).int("axis", 0)?, rank)?;
    let s = data.shape();
    let (outer, n, inner) = (
        s[..axis].iter().product::<usize>(),
        s[axis],
        s[axis + 1..].iter().product::<usize>(),
    );
    let mut shape = s[..axis].to_vec();
    shape.extend_from_slice(idx.shape());
    shape.extend_from_slice(&s[axis + 1..]);
    let mut out = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &k in idx.data() {
            let k = if k < 0.0 { k + n as f64 } else { k } as usize;
            if k >= n {
                return Err(invalid(node, format!("index {k} out of range {n}")));
            }
            let base = (o * n + k) * inner;
            out.extend_from_slice(&data.data()[base..base + inner]);
        }
    }
    Tensor::new(shape, out)
}

fn concat(node: &OnnxNode, parts: &[Tensor]) -> Result<Tensor> {
    let first = parts.first().ok_or_else(|| invalid(node, "no input"))?;
    let rank = first.shape().len();
    if rank == 0 || parts.iter().any(|p| p.shape().len() != rank) {
        return Err(invalid(node, "inputs must have the same non-zero rank"));
    }
    let axis = norm_axis(node, Attrs(node).int("axis", 0)?, rank)?;
    let outer: usize = first.shape()[..axis].iter().product();
    let mut shape = first.shape().to_vec();
    shape[axis] = parts
        .iter()
        .map(|p| p.shape().get(axis).copied().unwrap_or(0))
        .sum();
    let mut out = Vec::new();
    for o in 0..outer {
        for p in parts {
            let chunk: usize = p.shape()[axis..].iter().product();
            out.extend_from_slice(p.data().get(o * chunk..(o + 1) * chunk).unwrap_or(&[]));
        }
    }
    Tensor::new(shape, out).map_err(|_| invalid(node, "inputs of mismatched shapes"))
}
