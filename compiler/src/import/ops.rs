//! Dispatch of ONNX op types to IR ops, and the elementwise and activation ops.
//! Layers with weights are in [`super::layers`], shape manipulations in [`super::shape_ops`].

use super::convert::{Attrs, Converter, Value};
use super::onnx::{Attr, OnnxNode};
use super::{layers, shape_ops};
use crate::error::{CompileError, Result};
use crate::ir::{broadcast_shapes, broadcast_to, Op, Tensor};

/// Ops that have no counterpart on CKKS ciphertexts, with what to do instead.
fn not_encryptable_hint(op: &str) -> Option<&'static str> {
    Some(match op {
        "MaxPool" => {
            "replace it with AveragePool and retrain (an approximate MaxPool, \
             --approx-maxpool, is planned with the compiler back end)"
        }
        "GlobalMaxPool" | "ReduceMax" | "ReduceMin" => {
            "replace it with GlobalAveragePool / ReduceMean and retrain"
        }
        "Max" | "Min" | "ArgMax" | "ArgMin" | "Greater" | "Less" | "Equal" | "GreaterOrEqual"
        | "LessOrEqual" | "Where" | "Clip" | "Sign" | "Abs" | "Round" | "Floor" | "Ceil" => {
            "comparisons have no encrypted counterpart; use ReLU (approximated by a \
             polynomial) or a polynomial activation"
        }
        "Div" | "Reciprocal" | "Sqrt" | "Log" | "Exp" => {
            "division, roots, logarithms and exponentials of encrypted values are not \
             supported; keep them on constants (fold normalisations into the weights)"
        }
        "If" | "Loop" | "Scan" => "data-dependent control flow cannot run on encrypted data",
        _ => return None,
    })
}

/// Converts one ONNX node, updating the converter's value map.
pub(crate) fn convert_node(cv: &mut Converter, node: &OnnxNode, opset: i64) -> Result<()> {
    let op = node.op_type.as_str();
    if op == "Constant" {
        let t = constant_attr(node)?;
        cv.set_output(node, Value::Const(t));
        return Ok(());
    }
    let all_const = node
        .inputs
        .iter()
        .filter(|i| !i.is_empty())
        .all(|i| matches!(cv.values.get(i), Some(Value::Const(_))));
    if all_const && !node.inputs.is_empty() {
        if let Some(t) = shape_ops::eval_const(cv, node, opset)? {
            cv.set_output(node, Value::Const(t));
            return Ok(());
        }
    }
    match op {
        "Conv" => layers::conv(cv, node),
        "Gemm" => layers::gemm(cv, node),
        "MatMul" => layers::matmul(cv, node),
        "AveragePool" => layers::avgpool(cv, node),
        "GlobalAveragePool" => {
            let x = cv.node_input(node, 0)?;
            cv.emit(node, Op::GlobalAvgPool, &[x]).map(drop)
        }
        "BatchNormalization" => layers::batchnorm(cv, node),
        "Pad" => layers::pad(cv, node, opset),
        "Relu" => unary(cv, node, Op::Relu),
        "Sigmoid" => unary(cv, node, Op::Sigmoid),
        "Tanh" => unary(cv, node, Op::Tanh),
        "Identity" => unary(cv, node, Op::Identity),
        "Dropout" => {
            if cv.output_used(node, 1) {
                return Err(CompileError::Unsupported {
                    op: node.op_type.clone(),
                    node: node.label(),
                    hint: "its mask output is used; inference needs only the first output".into(),
                });
            }
            unary(cv, node, Op::Identity)
        }
        "Cast" => match Attrs(node).int("to", 1)? {
            1 | 10 | 11 | 16 => unary(cv, node, Op::Identity),
            to => Err(CompileError::Unsupported {
                op: node.op_type.clone(),
                node: node.label(),
                hint: format!("a cast of data to the non-float ONNX type {to}"),
            }),
        },
        "Add" => binary(cv, node, Op::Add),
        "Sub" => binary(cv, node, Op::Sub),
        "Mul" => binary(cv, node, Op::Mul),
        "Div" => div(cv, node),
        "Neg" => {
            let x = cv.node_input(node, 0)?;
            let c = cv.graph.add_inferred(
                format!("{}/neg", node.label()),
                Op::Const(Tensor::scalar(-1.0)),
                &[],
            )?;
            cv.emit(node, Op::Mul, &[x, c]).map(drop)
        }
        "Pow" => pow(cv, node),
        "Softmax" | "LogSoftmax" => final_softmax(cv, node),
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Transpose" => {
            shape_ops::reshape_like(cv, node, opset)
        }
        "Shape" => shape_ops::shape_of(cv, node),
        other => Err(match not_encryptable_hint(other) {
            Some(hint) => CompileError::NotEncryptable {
                op: other.into(),
                node: node.label(),
                hint: hint.into(),
            },
            None => CompileError::Unsupported {
                op: other.into(),
                node: node.label(),
                hint: if all_const {
                    "it is computed on constants only, but the importer cannot fold this op \
                     type; run onnx-simplifier (or export with constant folding) first"
                        .into()
                } else {
                    "the importer does not support this op type (supported: Conv, Gemm, MatMul, \
                     Add, Sub, Mul, Relu, Sigmoid, Tanh, AveragePool, GlobalAveragePool, \
                     BatchNormalization, Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Pad, \
                     Pow(x, 2), Identity, Dropout, Softmax at the end, Constant)"
                        .into()
                },
            },
        }),
    }
}

fn unary(cv: &mut Converter, node: &OnnxNode, op: Op) -> Result<()> {
    let x = cv.node_input(node, 0)?;
    cv.emit(node, op, &[x]).map(drop)
}

fn binary(cv: &mut Converter, node: &OnnxNode, op: Op) -> Result<()> {
    let a = cv.node_input(node, 0)?;
    let b = cv.node_input(node, 1)?;
    cv.emit(node, op, &[a, b]).map(drop)
}

fn div(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    match cv.required(node, 1)? {
        Value::Const(t) => {
            if t.data().contains(&0.0) {
                return Err(CompileError::InvalidNode {
                    op: node.op_type.clone(),
                    node: node.label(),
                    reason: "division by a constant that holds zeros".into(),
                });
            }
            let mut inv = t.clone();
            inv.data_mut().iter_mut().for_each(|v| *v = 1.0 / *v);
            let x = cv.node_input(node, 0)?;
            let c = cv.graph.add_inferred(
                format!("{}/reciprocal", node.label()),
                Op::Const(inv),
                &[],
            )?;
            cv.emit(node, Op::Mul, &[x, c]).map(drop)
        }
        Value::Node(_) => Err(CompileError::NotEncryptable {
            op: node.op_type.clone(),
            node: node.label(),
            hint: not_encryptable_hint("Div").unwrap_or_default().into(),
        }),
    }
}

fn pow(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let exponent = match cv.required(node, 1)? {
        Value::Const(t) if t.len() == 1 => t.data()[0],
        _ => {
            return Err(CompileError::Unsupported {
                op: node.op_type.clone(),
                node: node.label(),
                hint: "the exponent must be one constant (2 is supported)".into(),
            })
        }
    };
    let x = cv.node_input(node, 0)?;
    if exponent == 2.0 {
        cv.emit(node, Op::Mul, &[x, x]).map(drop)
    } else if exponent == 1.0 {
        cv.emit(node, Op::Identity, &[x]).map(drop)
    } else {
        Err(CompileError::Unsupported {
            op: node.op_type.clone(),
            node: node.label(),
            hint: format!("exponent {exponent}: only Pow(x, 2) (a square) is supported"),
        })
    }
}

fn final_softmax(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let out = node.outputs.first().cloned().unwrap_or_default();
    let is_output = cv.graph_outputs.contains(&out);
    let uses = cv.uses.get(&out).copied().unwrap_or(0);
    if !(is_output && uses == 1) {
        return Err(CompileError::Unsupported {
            op: node.op_type.clone(),
            node: node.label(),
            hint: "a softmax is supported only as the last op (where it is dropped: the argmax \
                   does not change); remove it from the middle of the network"
                .into(),
        });
    }
    let v = cv.required(node, 0)?.clone();
    cv.notes.push(format!(
        "{} (node '{}') at the output is dropped: inference returns the logits before it, \
         whose argmax is the same class (softmax and log-softmax are increasing)",
        node.op_type,
        node.label()
    ));
    cv.set_output(node, v);
    Ok(())
}

/// The tensor of a `Constant` node.
fn constant_attr(node: &OnnxNode) -> Result<Tensor> {
    let a = Attrs(node);
    let t = match (
        a.get("value"),
        a.get("value_float"),
        a.get("value_floats"),
        a.get("value_int"),
        a.get("value_ints"),
    ) {
        (Some(Attr::Tensor(t)), ..) => Some(t.clone()),
        (_, Some(Attr::Float(f)), ..) => Some(Tensor::scalar(*f)),
        (_, _, Some(Attr::Floats(v)), ..) => Tensor::new(vec![v.len()], v.clone()).ok(),
        (_, _, _, Some(Attr::Int(i)), _) => Some(Tensor::scalar(*i as f64)),
        (_, _, _, _, Some(Attr::Ints(v))) => {
            Tensor::new(vec![v.len()], v.iter().map(|&i| i as f64).collect()).ok()
        }
        _ => None,
    };
    t.ok_or_else(|| CompileError::Unsupported {
        op: node.op_type.clone(),
        node: node.label(),
        hint: "only numeric tensor values are supported".into(),
    })
}

/// Broadcasts a constant `b` against a shape, for folding; used by const evaluation.
pub(crate) fn const_binary(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Option<Tensor> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let a = broadcast_to(a, &shape).ok()?;
    let b = broadcast_to(b, &shape).ok()?;
    let data = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| f(x, y))
        .collect();
    Tensor::new(shape, data).ok()
}
