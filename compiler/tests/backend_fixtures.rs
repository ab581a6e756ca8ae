//! Acceptance test of the compiler back end on the op-by-op ONNX fixtures of
//! `models/fixtures/`: every fixture the back end can lower is compiled (activations
//! approximated at degree 7 with ranges calibrated on a few random inputs), and its cleartext
//! simulation must equal the reference interpreter on the polynomial IR to 1e-6 (relative to
//! the largest |output|), on random inputs and on the fixture's recorded input. The fixtures
//! that cannot be lowered are printed with their error and must be exactly [`NOT_LOWERABLE`],
//! so that a regression (or a newly supported op) is noticed.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx, ImportOptions, Model};
use blindfold_compiler::ir::Tensor;
use blindfold_compiler::{compile, reference, Calibration, CompileOptions};
use blindfold_runtime::circuit::{Circuit, Preprocess};
use blindfold_runtime::exec::Simulator;
use common::{models_dir, rel_err};
use serde_json::Value;
use std::path::PathBuf;

/// Simulation against the polynomial IR, relative to the largest |output|.
const TOLERANCE: f64 = 1e-6;
/// Random calibration inputs per fixture.
const CALIBRATION: usize = 4;
/// Random evaluation inputs per fixture (plus the recorded input of the fixture).
const EVALUATION: usize = 3;

/// Fixtures the back end refuses, with a part of the expected error message. Every op fixture
/// lowers today (element-wise ops with a constant, padded and strided convolutions included);
/// a fixture appearing here is a regression.
const NOT_LOWERABLE: &[(&str, &str)] = &[];

fn fixtures_dir() -> PathBuf {
    models_dir().join("fixtures")
}

/// SplitMix64: a small deterministic generator (no extra dependency).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn signed(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape.to_vec(), (0..n).map(|_| self.signed()).collect()).unwrap()
    }
}

/// The recorded input of a fixture (`expected/<name>.json`) when it fits the model's input.
fn recorded_input(name: &str, shape: &[usize]) -> Option<Tensor> {
    let text =
        std::fs::read_to_string(fixtures_dir().join("expected").join(format!("{name}.json")))
            .ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let dims: Vec<usize> = v["input_shape"]
        .as_array()?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()?;
    let data: Vec<f64> = v["input"]
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<_>>()?;
    (dims == shape).then(|| Tensor::new(dims, data).ok())?
}

fn preprocess(shape: &[usize]) -> Preprocess {
    let (channels, height, width) = match shape {
        [_, c, h, w] => (*c, *h, *w),
        _ => (1, 1, shape.iter().product()),
    };
    Preprocess {
        channels,
        height,
        width,
        pixel_scale: 1.0 / 255.0,
        mean: vec![],
        std: vec![],
    }
}

/// A fixture that compiled and passed: worst relative error, activation degree, depth.
type Passed = (f64, Option<usize>, usize);

/// Compiles and checks one fixture: `Err(message)` when it cannot be compiled, `Ok(Err(..))`
/// when it compiles but a check fails, `Ok(Ok(..))` otherwise.
fn check_fixture(name: &str, model: &Model, seed: u64) -> Result<Result<Passed, String>, String> {
    let mut rng = Rng(seed);
    let shape = model.input_shape.clone();
    let calibration = Calibration {
        images: (0..CALIBRATION).map(|_| rng.tensor(&shape)).collect(),
        labels: vec![None; CALIBRATION],
    };
    let options = CompileOptions {
        relu_degree: Some(7),
        model_name: name.to_string(),
        preprocess: preprocess(&shape),
        ..CompileOptions::default()
    };
    let compiled = compile(model, &calibration, &options).map_err(|e| e.to_string())?;
    let circuit = &compiled.circuit;
    let mut check = || -> Result<Passed, String> {
        circuit
            .validate()
            .map_err(|e| format!("does not validate: {e}"))?;
        let back = Circuit::from_bytes(&circuit.to_bytes())
            .map_err(|e| format!("from_bytes failed: {e}"))?;
        if &back != circuit {
            return Err("from_bytes(to_bytes(c)) != c".into());
        }
        if circuit.meta.calibration.is_none() {
            return Err("no calibration metadata".into());
        }
        let simulator = Simulator::new(circuit).map_err(|e| e.to_string())?;
        let mut inputs: Vec<Tensor> = (0..EVALUATION).map(|_| rng.tensor(&shape)).collect();
        inputs.extend(recorded_input(name, &shape));
        let mut worst = 0.0f64;
        for x in &inputs {
            let sim = simulator.run(x.data()).map_err(|e| e.to_string())?;
            let poly = reference::run(&compiled.graph, x).map_err(|e| e.to_string())?;
            worst = worst.max(rel_err(&sim, poly.data()));
            if compiled.degree.is_none() {
                // Nothing approximated: the circuit computes the imported network itself.
                let exact = reference::run(&model.graph, x).map_err(|e| e.to_string())?;
                worst = worst.max(rel_err(&sim, exact.data()));
            }
        }
        if worst.is_nan() || worst > TOLERANCE {
            return Err(format!(
                "simulation vs polynomial IR relative error {worst:.3e} > {TOLERANCE:e}"
            ));
        }
        let depth = circuit.validate().map_err(|e| e.to_string())?.depth;
        Ok((worst, compiled.degree, depth))
    };
    Ok(check())
}

#[test]
fn every_lowerable_fixture_simulates_like_its_polynomial_ir() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "onnx").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    assert!(names.len() >= 40, "found only {} fixtures", names.len());
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut failures = Vec::new();
    let mut lowered = 0;
    for (i, name) in names.iter().enumerate() {
        let model = load_onnx(
            &fixtures_dir().join(format!("{name}.onnx")),
            &ImportOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
        match check_fixture(name, &model, 1000 + i as u64) {
            Err(msg) => {
                println!("{name:<30} NOT LOWERED: {msg}");
                refused.push((name.clone(), msg));
            }
            Ok(Err(msg)) => {
                println!("{name:<30} FAILED: {msg}");
                failures.push(format!("{name}: {msg}"));
            }
            Ok(Ok((worst, degree, depth))) => {
                lowered += 1;
                println!(
                    "{name:<30} ok: depth {depth}, degree {}, worst relative error {worst:.2e}",
                    degree.map_or("-".into(), |d| d.to_string())
                );
            }
        }
    }
    println!(
        "{lowered} fixtures lowered, {} refused, {} failed",
        refused.len(),
        failures.len()
    );
    let got: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = NOT_LOWERABLE.iter().map(|(n, _)| *n).collect();
    if got != want {
        failures.push(format!(
            "fixtures that cannot be lowered: {got:?}, expected {want:?}"
        ));
    }
    for (name, part) in NOT_LOWERABLE {
        if let Some((_, msg)) = refused.iter().find(|(n, _)| n == name) {
            if !msg.contains(part) {
                failures.push(format!("{name}: error {msg:?} does not contain {part:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
