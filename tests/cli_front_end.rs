//! The front-end commands of the CLI: `blindfold inspect` and `blindfold predict` on the zoo
//! and the fixtures (PNG and .npy inputs, JSON output, clear errors).

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn blindfold(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_blindfold"))
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_npy(path: &Path, shape: &[usize], values: &[f32]) {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn inspect_lists_layers_shapes_and_parameters() {
    let (ok, out, err) = blindfold(&["inspect", "models/fixtures/small_cnn.onnx"]);
    assert!(ok, "{err}");
    assert!(out.contains("conv[3x3, 1->4"), "{out}");
    assert!(out.contains("[1,5]"), "{out}");
    assert!(out.contains("parameters"), "{out}");
    assert!(out.contains("note: Softmax (node 'softmax')"), "{out}");
}

#[test]
fn predict_json_on_a_png_gives_the_label() {
    let model = repo().join("models/mnist_relu.onnx");
    if !model.exists() {
        println!("SKIP: models/mnist_relu.onnx not present");
        return;
    }
    let (ok, out, err) = blindfold(&[
        "predict",
        "models/mnist_relu.onnx",
        "--input",
        "models/samples/mnist/0_7.png",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["class"], 7);
    assert_eq!(v["mode"], "reference");
    assert_eq!(v["shape"], serde_json::json!([1, 10]));
    assert_eq!(v["output"].as_array().unwrap().len(), 10);
}

#[test]
fn predict_reads_npy_in_chw_and_nchw() {
    let dir = std::env::temp_dir().join(format!("blindfold-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut outputs = Vec::new();
    for shape in [&[1usize, 8, 8][..], &[1, 1, 8, 8]] {
        let path = dir.join(format!("x{}.npy", shape.len()));
        write_npy(&path, shape, &values);
        let (ok, out, err) = blindfold(&[
            "predict",
            "models/fixtures/small_cnn.onnx",
            "--input",
            path.to_str().unwrap(),
            "--json",
        ]);
        assert!(ok, "{err}");
        outputs.push(out);
    }
    assert_eq!(outputs[0], outputs[1]);
    let bad = dir.join("bad.npy");
    write_npy(&bad, &[2, 8, 8], &[0.0; 128]);
    let (ok, _, err) = blindfold(&[
        "predict",
        "models/fixtures/small_cnn.onnx",
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("expects shape [1, 1, 8, 8]"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulate_and_encrypted_modes_are_not_available_yet() {
    for mode in ["simulate", "encrypted"] {
        let (ok, _, err) = blindfold(&[
            "predict",
            "models/fixtures/small_cnn.onnx",
            "--input",
            "x.npy",
            "--mode",
            mode,
        ]);
        assert!(!ok);
        assert!(err.contains("not available yet"), "{err}");
    }
}

#[test]
fn unsupported_models_fail_with_the_node_name() {
    let (ok, _, err) = blindfold(&["inspect", "models/fixtures/errors/maxpool.onnx"]);
    assert!(!ok);
    assert!(
        err.contains("MaxPool (node 'pool1') is not computable on encrypted data"),
        "{err}"
    );
}
