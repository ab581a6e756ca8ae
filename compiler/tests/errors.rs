//! Models the importer must refuse: each gives an `Err` whose message names the node, its
//! op type and what to do, never a panic.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx, load_onnx_bytes, ImportOptions};
use blindfold_compiler::CompileError;
use common::models_dir;

fn refuse(name: &str) -> (CompileError, String) {
    let path = models_dir()
        .join("fixtures/errors")
        .join(format!("{name}.onnx"));
    let err = load_onnx(&path, &ImportOptions::default()).unwrap_err();
    let msg = err.to_string();
    println!("{name}: {msg}");
    (err, msg)
}

#[test]
fn maxpool_names_the_node_and_suggests_averagepool() {
    let (err, msg) = refuse("maxpool");
    assert!(matches!(err, CompileError::NotEncryptable { .. }));
    assert!(
        msg.starts_with(
            "MaxPool (node 'pool1') is not computable on encrypted data; replace it with \
             AveragePool and retrain"
        ),
        "{msg}"
    );
}

#[test]
fn dynamic_spatial_dims_ask_for_an_input_shape() {
    let (err, msg) = refuse("dynamic_hw");
    assert!(
        matches!(err, CompileError::DynamicShape { dim: 2, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("'H'") && msg.contains("--input-shape"),
        "{msg}"
    );
    // With the shape given, the same file imports.
    let path = models_dir().join("fixtures/errors/dynamic_hw.onnx");
    let m = load_onnx(
        &path,
        &ImportOptions::default().with_input_shape(vec![1, 1, 5, 6]),
    )
    .unwrap();
    assert_eq!(m.input_shape, [1, 1, 5, 6]);
}

#[test]
fn data_dependent_weights_are_refused() {
    let (err, msg) = refuse("nonconst_weight");
    assert!(
        matches!(err, CompileError::NonConstantWeight { .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("Gemm (node 'fc_data_weight')") && msg.contains("'xt'"),
        "{msg}"
    );
}

#[test]
fn batch_mixing_is_refused() {
    let (err, msg) = refuse("batch_mixing");
    assert!(matches!(err, CompileError::BatchMixing { .. }), "{err:?}");
    assert!(msg.contains("Reshape (node 'merge_images')"), "{msg}");
}

#[test]
fn unknown_ops_are_unsupported_with_the_list_of_supported_ops() {
    let (err, msg) = refuse("unsupported_erf");
    assert!(matches!(err, CompileError::Unsupported { .. }), "{err:?}");
    assert!(
        msg.starts_with("Erf (node 'gelu_erf') is not supported") && msg.contains("Conv"),
        "{msg}"
    );
}

#[test]
fn softmax_in_the_middle_is_refused() {
    let (_, msg) = refuse("softmax_middle");
    assert!(
        msg.contains("Softmax (node 'attn_softmax')") && msg.contains("last op"),
        "{msg}"
    );
}

#[test]
fn pow_other_than_two_is_refused() {
    let (_, msg) = refuse("pow3");
    assert!(
        msg.contains("Pow (node 'cube')") && msg.contains("exponent 3"),
        "{msg}"
    );
}

#[test]
fn division_by_data_is_not_encryptable() {
    let (err, msg) = refuse("div_by_data");
    assert!(
        matches!(err, CompileError::NotEncryptable { .. }),
        "{err:?}"
    );
    assert!(msg.contains("Div (node 'ratio')"), "{msg}");
}

#[test]
fn non_onnx_files_are_refused() {
    let opts = ImportOptions::default();
    for (what, bytes) in [
        ("empty", Vec::new()),
        (
            "text",
            b"this is not an ONNX model, just some text\n".to_vec(),
        ),
        (
            "png",
            std::fs::read(models_dir().join("samples/mnist/0_7.png"))
                .unwrap_or_else(|_| vec![0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0, 0, 13]),
        ),
        ("zeros", vec![0u8; 1000]),
    ] {
        let err = load_onnx_bytes(&bytes, what, &opts).unwrap_err();
        println!("{what}: {err}");
        assert!(
            matches!(err, CompileError::NotOnnx { .. }),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains("not a valid ONNX model"),
            "{what}: {err}"
        );
    }
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let path = models_dir().join("fixtures/small_cnn.onnx");
    let bytes = std::fs::read(path).unwrap();
    let opts = ImportOptions::default();
    for len in (0..bytes.len()).step_by(7) {
        match load_onnx_bytes(&bytes[..len], "truncated", &opts) {
            Err(_) => {}
            Ok(m) => panic!("truncated to {len} bytes, still imported: {}", m.graph),
        }
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let err = load_onnx("/nonexistent/model.onnx", &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, CompileError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/model.onnx"));
}
