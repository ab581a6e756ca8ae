//! The official ONNX node tests (Debian package `libonnx-testdata`, installed at
//! `/usr/share/libonnx-testdata/data/node`, or `$ONNX_TESTDATA_NODE_DIR`): every 2-D case of
//! a supported op through the importer and the reference interpreter, against the expected
//! output stored with the test. Inputs after the first are bound as constants (the tests pass
//! weights as graph inputs). Cases the importer refuses as unsupported (1-D/3-D pooling,
//! dilations, training mode…) are listed and skipped; anything else that fails is an error.
//! Skipped as a whole, with a message, when the data is not installed.

#![allow(clippy::unwrap_used, reason = "tests")]

use blindfold_compiler::import::{graph_input_names, load_onnx, read_tensor_pb, ImportOptions};
use blindfold_compiler::{reference, CompileError};
use std::path::{Path, PathBuf};

const DEFAULT_DIR: &str = "/usr/share/libonnx-testdata/data/node";

/// Name prefixes of the ONNX node tests of supported ops.
const PREFIXES: &[&str] = &[
    "test_conv_",
    "test_basic_conv_",
    "test_averagepool_",
    "test_globalaveragepool",
    "test_gemm_",
    "test_matmul_",
    "test_batchnorm_",
    "test_flatten_",
    "test_reshape_",
    "test_relu",
    "test_sigmoid",
    "test_tanh",
    "test_add",
    "test_sub",
    "test_mul",
    "test_div",
    "test_pow",
    "test_identity",
    "test_dropout_",
    "test_constant_pad",
    "test_transpose_",
    "test_squeeze",
    "test_unsqueeze",
    "test_neg",
];

/// Cases that must pass (a regression guard: the loop below must not skip them).
const MUST_PASS: &[&str] = &[
    "test_basic_conv_with_padding",
    "test_basic_conv_without_padding",
    "test_conv_with_strides_padding",
    "test_conv_with_strides_no_padding",
    "test_conv_with_strides_and_asymmetric_padding",
    "test_conv_with_autopad_same",
    "test_averagepool_2d_default",
    "test_averagepool_2d_pads",
    "test_averagepool_2d_pads_count_include_pad",
    "test_averagepool_2d_strides",
    "test_averagepool_2d_same_upper",
    "test_averagepool_2d_same_lower",
    "test_averagepool_2d_precomputed_same_upper",
    "test_globalaveragepool",
    "test_gemm_alpha",
    "test_gemm_beta",
    "test_gemm_transposeB",
    "test_gemm_default_scalar_bias",
    "test_batchnorm_example",
    "test_batchnorm_epsilon",
    "test_flatten_axis1",
    "test_flatten_default_axis",
    "test_matmul_2d",
    "test_relu",
    "test_sigmoid",
    "test_tanh",
    "test_add_bcast",
    "test_mul_bcast",
    "test_reshape_negative_dim",
    "test_flatten_axis0",
    "test_squeeze",
    "test_unsqueeze_axis_1",
    "test_transpose_all_permutations_0",
    "test_dropout_default",
    "test_identity",
];

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ONNX_TESTDATA_NODE_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    dir.is_dir().then_some(dir)
}

fn inputs(set: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (0..)
        .map(|i| set.join(format!("{prefix}_{i}.pb")))
        .take_while(|p| p.exists())
        .collect();
    v.sort();
    v
}

/// Relative error of the interpreter on one node test.
fn run_case(dir: &Path) -> Result<f64, CompileError> {
    let set = dir.join("test_data_set_0");
    let xs: Vec<_> = inputs(&set, "input")
        .iter()
        .map(|p| read_tensor_pb(&std::fs::read(p).unwrap()))
        .collect::<Result<_, _>>()?;
    let want = read_tensor_pb(&std::fs::read(set.join("output_0.pb")).unwrap())?;
    let model_path = dir.join("model.onnx");
    let names = graph_input_names(&model_path)?;
    let mut opts = ImportOptions::default().with_input_shape(xs[0].shape().to_vec());
    for (name, t) in names.iter().zip(&xs).skip(1) {
        opts = opts.with_constant(name.clone(), t.clone());
    }
    let model = load_onnx(&model_path, &opts)?;
    let got = reference::run(&model.graph, &xs[0])?;
    if got.shape() != want.shape() {
        return Ok(f64::INFINITY);
    }
    let scale = want.data().iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    Ok(got
        .data()
        .iter()
        .zip(want.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale)
}

#[test]
fn onnx_node_tests_of_supported_ops() {
    let Some(root) = data_dir() else {
        println!(
            "SKIP: ONNX node test data not found at {DEFAULT_DIR} (install the Debian package \
             libonnx-testdata, or set ONNX_TESTDATA_NODE_DIR)"
        );
        return;
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            PREFIXES.iter().any(|pre| n.starts_with(pre))
                && !n.contains("uint")
                && !n.contains("_int")
                && !n.ends_with("_expanded")
                && !n.ends_with("_opt")
                && !n.ends_with("_sequence")
        })
        .collect();
    cases.sort();
    let (mut passed, mut skipped, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for dir in &cases {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        match run_case(dir) {
            Ok(e) if e <= 1e-5 => passed.push(name),
            Ok(e) => failed.push(format!("{name}: relative error {e:.3e}")),
            Err(
                e @ (CompileError::Unsupported { .. }
                | CompileError::NotEncryptable { .. }
                | CompileError::BatchMixing { .. }
                | CompileError::NonConstantWeight { .. }
                // Several graph outputs (training-mode batch norm, dropout masks).
                | CompileError::InvalidGraph { .. }),
            ) => skipped.push(format!("{name}: {e}")),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    println!("passed ({}): {}", passed.len(), passed.join(" "));
    assert!(passed.len() >= 60, "only {} cases passed", passed.len());
    println!(
        "skipped as unsupported ({}):\n  {}",
        skipped.len(),
        skipped.join("\n  ")
    );
    let missing: Vec<_> = MUST_PASS
        .iter()
        .filter(|m| !passed.iter().any(|p| p == *m))
        .collect();
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
    assert!(missing.is_empty(), "must pass but did not: {missing:?}");
}
