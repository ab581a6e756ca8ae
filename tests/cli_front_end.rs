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
fn compile_inspect_and_simulate_a_circuit() {
    let dir = std::env::temp_dir().join(format!("blindfold-cli-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bfc = dir.join("mnist_seed.bfc");
    let bfc_s = bfc.to_str().unwrap();
    let (ok, out, err) = blindfold(&["compile", "models/mnist_seed.onnx", "-o", bfc_s]);
    assert!(ok, "{err}");
    assert!(out.contains("128-bit security"), "{out}");
    assert!(out.contains("predicted (cleartext simulation)"), "{out}");

    let (ok, out, err) = blindfold(&["inspect", bfc_s, "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    for field in [
        "log_n",
        "log_q",
        "log_qp",
        "security_bits",
        "scale_bits",
        "depth",
        "rotation_keys",
        "eval_key_bytes",
        "plaintext_operands",
        "plaintext_bytes",
    ] {
        assert!(report[field].is_number(), "{field} missing in {out}");
    }
    assert_eq!(report["security_bits"], 128);
    // The automatic scale: the smallest whose estimated CKKS noise keeps the scores accurate.
    assert_eq!(report["scale_bits"], 25);
    assert_eq!(report["log_n"], 13);
    // conv, square, dense, square, dense: one level each.
    assert_eq!(report["depth"], 5);
    assert_eq!(report["layers"].as_array().unwrap().len(), 5);

    let reference = blindfold(&[
        "predict",
        "models/mnist_seed.onnx",
        "--input",
        "models/samples/mnist/0_7.png",
        "--json",
    ]);
    let simulated = blindfold(&[
        "predict",
        bfc_s,
        "--input",
        "models/samples/mnist/0_7.png",
        "--mode",
        "simulate",
        "--json",
    ]);
    assert!(
        reference.0 && simulated.0,
        "{} {}",
        reference.2,
        simulated.2
    );
    let r: serde_json::Value = serde_json::from_str(&reference.1).unwrap();
    let s: serde_json::Value = serde_json::from_str(&simulated.1).unwrap();
    assert_eq!(s["class"], 7);
    assert_eq!(r["class"], s["class"]);
    for (a, b) in r["output"]
        .as_array()
        .unwrap()
        .iter()
        .zip(s["output"].as_array().unwrap())
    {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!((a - b).abs() < 1e-5, "reference {a} vs simulated {b}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scores_of_an_input_beyond_the_calibrated_ranges_are_flagged() {
    let dir = std::env::temp_dir().join(format!("blindfold-cli-range-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bfc = dir.join("mnist_relu.bfc");
    let bfc_s = bfc.to_str().unwrap();
    let (ok, out, err) = blindfold(&[
        "compile",
        "models/mnist_relu.onnx",
        "-o",
        bfc_s,
        "--relu-degree",
        "7",
        "--scale-bits",
        "30",
    ]);
    assert!(ok, "{err}");
    // The compile report shows the degree it measured on the calibration images.
    assert!(
        out.contains("degree      7: accuracy") && out.contains("median logit error"),
        "{out}"
    );
    let predict = |input: &str| {
        let (ok, out, err) = blindfold(&[
            "predict", bfc_s, "--input", input, "--mode", "simulate", "--json",
        ]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let normal = predict("models/samples/mnist/0_7.png");
    assert_eq!(normal["class"], 7);
    assert!(normal["warning"].is_null(), "{normal}");
    // Pixels 40 times brighter than any image: the activations leave their intervals.
    let bright = dir.join("bright.npy");
    write_npy(&bright, &[1, 28, 28], &[40.0; 784]);
    let flagged = predict(bright.to_str().unwrap());
    let warning = flagged["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("the scores are out of range") && warning.contains("unreliable"),
        "{flagged}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_compile_flags_are_refused_clearly() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--relu-degree", "0"],
            "--relu-degree 0 would replace every activation by a constant",
        ),
        (
            &["--scale-bits", "10"],
            "--scale-bits 10 is outside 20..=58",
        ),
        (
            &["--security", "100"],
            "'100' is not a supported security level: use 128, 192 or 256",
        ),
        (
            &["--min-agreement", "120"],
            "--min-agreement 120 must be between 0 and 100",
        ),
        (
            &["--degree", "/1/Relu"],
            "'/1/Relu' is not NODE=DEGREE (e.g. /4/Relu=31)",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["compile", "models/mnist_relu.onnx", "-o", "/dev/null"];
        args.extend_from_slice(flags);
        let (ok, _, err) = blindfold(&args);
        assert!(!ok, "{flags:?} accepted");
        assert!(err.contains(message), "{flags:?}: {err}");
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
