//! Rotation keys of compiled circuits: the transforms of a circuit share one baby-step count,
//! and their giant steps fold with rotations by `±n1` where that saves keys, so `mnist_seed`
//! (a 7x7 stride-3 convolution and two dense layers) needs at most 17 Galois keys (under 20 MB
//! of evaluation keys at `N = 2^13`) for no more plaintext products than per-layer planning,
//! and its cleartext simulation still equals the polynomial IR.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx, ImportOptions};
use blindfold_compiler::report::Report;
use blindfold_compiler::{compile, reference, Calibration, CompileOptions};
use blindfold_runtime::exec::{Simulator, DEFAULT_PLAINTEXT_CACHE_BYTES};
use common::{load_png, models_dir, rel_err, samples};

/// Keys `mnist_seed` needed with one baby-step count per transform and a key per giant step.
const KEYS_BEFORE: usize = 65;
/// Plaintext products of `mnist_seed` with per-layer planning.
const PT_MULTS_BEFORE: u64 = 844;

#[test]
fn mnist_seed_needs_few_rotation_keys_and_keeps_its_results() {
    let model = load_onnx(
        &models_dir().join("mnist_seed.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let images: Vec<_> = samples(&models_dir().join("samples/mnist"))
        .into_iter()
        .take(60)
        .map(|(_, label, f)| (label, load_png(&f, 1)))
        .collect();
    let (cal, eval) = images.split_at(50);
    let calibration = Calibration {
        images: cal.iter().map(|(_, t)| t.clone()).collect(),
        labels: cal.iter().map(|(l, _)| Some(*l)).collect(),
    };
    let options = CompileOptions {
        model_name: "mnist_seed".into(),
        small_keys: true,
        ..CompileOptions::default()
    };
    let compiled = compile(&model, &calibration, &options).unwrap();
    let circuit = &compiled.circuit;
    circuit.validate().unwrap();
    let report = Report::new(circuit).unwrap();
    eprintln!(
        "mnist_seed: N = 2^{}, {} rotation keys {:?}, {:.2} MB of evaluation keys, {} rotations, {} plaintext products, {:.2} MB of plaintext operands",
        report.log_n,
        report.rotation_keys,
        circuit.rotations,
        report.eval_key_bytes as f64 / 1e6,
        report.totals.rotations,
        report.totals.pt_mults,
        report.plaintext_bytes as f64 / 1e6,
    );
    assert_eq!(report.log_n, 13);
    assert!(
        report.rotation_keys <= 17,
        "{} rotation keys (per-layer planning needed {KEYS_BEFORE})",
        report.rotation_keys
    );
    assert!(
        report.eval_key_bytes < 20_000_000,
        "{}",
        report.eval_key_bytes
    );
    assert!(report.totals.pt_mults <= PT_MULTS_BEFORE);
    // A server with the default plaintext budget keeps every operand: runs encode nothing.
    assert!(
        report.plaintext_bytes <= DEFAULT_PLAINTEXT_CACHE_BYTES as u64,
        "{} bytes of plaintext operands",
        report.plaintext_bytes
    );
    assert!(
        compiled.max_simulation_error <= 1e-6,
        "{}",
        compiled.max_simulation_error
    );
    let simulator = Simulator::new(circuit).unwrap();
    for (_, x) in eval {
        let sim = simulator.run(x.data()).unwrap();
        let poly = reference::run(&compiled.graph, x).unwrap();
        let err = rel_err(&sim, poly.data());
        assert!(err <= 1e-6, "simulation vs IR: {err:.3e}");
    }
}
