//! Acceptance test of the compiler back end on the model zoo (`models/*.onnx`): every model is
//! compiled with calibration images (ReLU approximated at a fixed degree), and on other sample
//! images the cleartext simulation of the circuit must equal the reference interpreter run on
//! the polynomial-activation IR (`Compiled::graph`) to 1e-6, relative to the largest |logit| of
//! the image. The circuit must validate, survive a `to_bytes`/`from_bytes` round trip unchanged
//! and carry the calibration metadata. Prints per model the depth, ring degree, rotation keys,
//! evaluation-key size, accuracies and timings (run with `--nocapture`).
//!
//! One test per model (so they can be filtered and fail separately), plus a test that every
//! `models/*.onnx` has one. `compile` itself simulates the 30 calibration images and reports the
//! largest difference to the polynomial IR (checked here too); 20 more images (10 for CIFAR-10)
//! are simulated here. The cleartext simulation dominates the run time, so the ReLU models run
//! at degree 7 (N = 2^15; degree 15 needs N = 2^16 and doubles their time), and
//! `cifar10_relu` (N = 2^16 even at degree 7, ~0.5 s per simulated image on 2 cores, ~25 s in
//! all) is `#[ignore]`d: run it with `cargo test --release --test backend_zoo -- --ignored`.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx, ImportOptions};
use blindfold_compiler::ir::Tensor;
use blindfold_compiler::report::Report;
use blindfold_compiler::{compile, lower, reference, Calibration, CompileOptions};
use blindfold_runtime::circuit::{Circuit, Preprocess};
use blindfold_runtime::exec::Simulator;
use common::{load_png, models_dir, rel_err, samples};
use rayon::prelude::*;
use std::time::Instant;

/// Calibration images: the first samples of the dataset.
const CALIBRATION: usize = 30;
/// Evaluation images (the samples after the calibration ones) of the 28x28 models.
const EVALUATION: usize = 20;
/// Evaluation images of the (slower) CIFAR-10 models.
const EVALUATION_CIFAR: usize = 10;
/// Simulation against the polynomial IR, relative to the largest |logit| of the image.
const TOLERANCE: f64 = 1e-6;

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

/// One row of the summary table.
struct Row {
    name: String,
    depth: usize,
    log_n: u32,
    rotation_keys: usize,
    eval_key_bytes: u64,
    degree: Option<usize>,
    calibration_original: f64,
    calibration_simulated: f64,
    eval_original: f64,
    eval_simulated: f64,
    worst: f64,
    compile_s: f64,
    simulate_s: f64,
}

/// Compiles one model (ReLUs approximated at `relu_degree`) and checks it on `evaluation`
/// images; returns its row, or the failures found.
fn check_model(name: &str, relu_degree: usize, evaluation: usize) -> Result<Row, Vec<String>> {
    let mut failures = Vec::new();
    let path = models_dir().join(format!("{name}.onnx"));
    let model = load_onnx(&path, &ImportOptions::default()).unwrap();
    let dataset = name.split('_').next().unwrap();
    let shape = model.input_shape.clone();
    let (channels, height, width) = (shape[1], shape[2], shape[3]);
    let files = samples(&models_dir().join("samples").join(dataset));
    assert!(
        files.len() >= CALIBRATION + evaluation,
        "{name}: only {} sample images",
        files.len()
    );
    let images: Vec<(usize, Tensor)> = files
        .iter()
        .take(CALIBRATION + evaluation)
        .map(|(_, label, f)| (*label, load_png(f, channels)))
        .collect();
    let (cal, eval) = images.split_at(CALIBRATION);
    let calibration = Calibration {
        images: cal.iter().map(|(_, t)| t.clone()).collect(),
        labels: cal.iter().map(|(l, _)| Some(*l)).collect(),
    };
    let options = CompileOptions {
        relu_degree: Some(relu_degree),
        model_name: name.to_string(),
        preprocess: Preprocess {
            channels,
            height,
            width,
            pixel_scale: 1.0 / 255.0,
            mean: vec![],
            std: vec![],
        },
        ..CompileOptions::default()
    };

    let t = Instant::now();
    let compiled = compile(&model, &calibration, &options)
        .unwrap_or_else(|e| panic!("{name}: compile failed: {e}"));
    let compile_s = t.elapsed().as_secs_f64();
    let circuit = &compiled.circuit;

    if let Err(e) = circuit.validate() {
        failures.push(format!("{name}: the circuit does not validate: {e}"));
    }
    let bytes = circuit.to_bytes();
    match Circuit::from_bytes(&bytes) {
        Ok(back) => {
            if &back != circuit {
                failures.push(format!("{name}: from_bytes(to_bytes(c)) != c"));
            }
            if back.to_bytes() != bytes {
                failures.push(format!("{name}: the bytes change on a second round trip"));
            }
        }
        Err(e) => failures.push(format!("{name}: from_bytes failed: {e}")),
    }
    if circuit.meta.model != name {
        failures.push(format!("{name}: model name {:?}", circuit.meta.model));
    }
    if circuit.input.preprocess != options.preprocess {
        failures.push(format!(
            "{name}: preprocess {:?} not recorded",
            circuit.input.preprocess
        ));
    }
    let Some(info) = circuit.meta.calibration.clone() else {
        failures.push(format!("{name}: no calibration metadata"));
        return Err(failures);
    };
    if info.images != CALIBRATION || info.labelled != CALIBRATION {
        failures.push(format!(
            "{name}: calibration metadata counts {} images, {} labelled",
            info.images, info.labelled
        ));
    }
    let has_relu = name.contains("relu");
    let want_degree = has_relu.then_some(relu_degree);
    if compiled.degree != want_degree {
        failures.push(format!(
            "{name}: degree {:?}, expected {want_degree:?}",
            compiled.degree
        ));
    }
    // The ReLU approximation is x/2 + (even polynomial): its degree-15 term vanishes.
    let acts = &circuit.meta.activations;
    if has_relu
        && (acts.is_empty()
            || !acts.iter().all(|a| {
                a.function == "relu" && (relu_degree - 1..=relu_degree).contains(&a.degree)
            }))
    {
        failures.push(format!(
            "{name}: activations {:?}",
            circuit.meta.activations
        ));
    }
    if compiled.max_simulation_error.is_nan() || compiled.max_simulation_error > TOLERANCE {
        failures.push(format!(
            "{name}: max_simulation_error on the calibration images {:.3e}",
            compiled.max_simulation_error
        ));
    }
    let report = Report::new(circuit).unwrap();
    let depth = lower::depth(&compiled.graph).unwrap();
    if report.depth != depth {
        failures.push(format!(
            "{name}: report depth {} vs lower::depth {depth}",
            report.depth
        ));
    }

    let simulator = Simulator::new(circuit).unwrap();
    let t = Instant::now();
    let results: Vec<(f64, Vec<f64>, Vec<f64>)> = eval
        .par_iter()
        .map(|(_, x)| {
            let sim = simulator.run(x.data()).unwrap();
            let poly = reference::run(&compiled.graph, x).unwrap();
            let exact = reference::run(&model.graph, x).unwrap();
            (rel_err(&sim, poly.data()), sim, exact.into_data())
        })
        .collect();
    let simulate_s = t.elapsed().as_secs_f64();
    let mut worst = 0.0f64;
    let (mut ok_sim, mut ok_exact) = (0usize, 0usize);
    for ((label, _), (err, sim, exact)) in eval.iter().zip(&results) {
        worst = worst.max(*err);
        ok_sim += usize::from(argmax(sim) == *label);
        ok_exact += usize::from(argmax(exact) == *label);
    }
    if worst.is_nan() || worst > TOLERANCE {
        failures.push(format!(
            "{name}: simulation vs polynomial IR relative error {worst:.3e} > {TOLERANCE:e}"
        ));
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let n = eval.len() as f64;
    Ok(Row {
        name: name.to_string(),
        depth: report.depth,
        log_n: report.log_n,
        rotation_keys: report.rotation_keys,
        eval_key_bytes: report.eval_key_bytes,
        degree: compiled.degree,
        calibration_original: info.original_accuracy,
        calibration_simulated: info.simulated_accuracy,
        eval_original: ok_exact as f64 / n,
        eval_simulated: ok_sim as f64 / n,
        worst,
        compile_s,
        simulate_s,
    })
}

fn print_header() {
    println!(
        "{:<15} {:>4} {:>5} {:>5} {:>5} {:>10} {:>17} {:>17} {:>9} {:>8} {:>8}",
        "model",
        "deg",
        "depth",
        "log_n",
        "rots",
        "eval keys",
        "calib orig/sim %",
        "eval orig/sim %",
        "sim err",
        "compile",
        "sim eval"
    );
}

fn print_row(r: &Row) {
    println!(
        "{:<15} {:>4} {:>5} {:>5} {:>5} {:>8.1}MB {:>8.1}/{:<8.1} {:>8.1}/{:<8.1} {:>9.2e} {:>7.1}s \
         {:>7.1}s",
        r.name,
        r.degree.map_or("-".into(), |d| d.to_string()),
        r.depth,
        r.log_n,
        r.rotation_keys,
        r.eval_key_bytes as f64 / 1e6,
        100.0 * r.calibration_original,
        100.0 * r.calibration_simulated,
        100.0 * r.eval_original,
        100.0 * r.eval_simulated,
        r.worst,
        r.compile_s,
        r.simulate_s,
    );
}

fn run_model(name: &str, relu_degree: usize, evaluation: usize) {
    let path = models_dir().join(format!("{name}.onnx"));
    assert!(path.exists(), "{} is missing", path.display());
    let t = Instant::now();
    let result = check_model(name, relu_degree, evaluation);
    let total = t.elapsed().as_secs_f64();
    match result {
        Ok(row) => {
            print_header();
            print_row(&row);
            println!("{name}: checked in {total:.1} s");
        }
        Err(failures) => panic!("{}", failures.join("\n")),
    }
}

macro_rules! zoo {
    ($($(#[$attr:meta])* $test:ident: $name:literal, degree $degree:expr, images $images:expr;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $test() {
                run_model($name, $degree, $images);
            }
        )*
        /// The models with a test above.
        const TESTED: &[&str] = &[$($name),*];
    };
}

zoo! {
    mnist_seed: "mnist_seed", degree 7, images EVALUATION;
    mnist_relu: "mnist_relu", degree 7, images EVALUATION;
    mnist_poly: "mnist_poly", degree 7, images EVALUATION;
    kmnist_relu: "kmnist_relu", degree 7, images EVALUATION;
    kmnist_poly: "kmnist_poly", degree 7, images EVALUATION;
    fashion_relu: "fashion_relu", degree 7, images EVALUATION;
    fashion_poly: "fashion_poly", degree 7, images EVALUATION;
    cifar10_square: "cifar10_square", degree 7, images EVALUATION_CIFAR;
    // Degree 15: at degree 7 the approximation loses most of the accuracy (96.7% -> 50% on
    // the calibration images), and the run time is the same (N = 2^16 either way).
    #[ignore = "slow: ~25 s in release on 2 cores (0.5 s per simulated image at N = 2^16)"]
    cifar10_relu: "cifar10_relu", degree 15, images EVALUATION_CIFAR;
}

#[test]
fn every_model_on_disk_has_a_test() {
    let dir = models_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "onnx").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    let mut tested: Vec<String> = TESTED.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(
        names, tested,
        "models/*.onnx and the models tested here differ"
    );
}
