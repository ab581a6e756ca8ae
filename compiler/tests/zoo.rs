//! The model zoo (`models/*.onnx`, whatever exists when the test runs): the IR reference
//! interpreter against tract running the original ONNX file, and against the onnxruntime
//! logits in `models/expected.json`, on the sample PNGs; and the accuracy on the 200 samples
//! against the accuracy recorded in `models/expected.json` (within 1 point), for both tract
//! and the interpreter. This accuracy is the baseline encrypted inference is compared to.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx_bytes, ImportOptions, TractReference};
use blindfold_compiler::reference;
use common::{load_png, models_dir, rel_err, samples};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn dataset_of(name: &str) -> &str {
    name.split('_').next().unwrap_or(name)
}

#[test]
fn zoo_interpreter_matches_tract_and_onnxruntime() {
    let dir = models_dir();
    let mut models: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    if models.is_empty() {
        println!("SKIP: no models/*.onnx found in {}", dir.display());
        return;
    }
    let expected: Value = std::fs::read_to_string(dir.join("expected.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let mut failures = Vec::new();
    println!(
        "{:<16} {:>7} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "model", "samples", "rel vs tract", "rel vs ORT", "acc tract", "acc IR", "recorded"
    );
    for path in &models {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let entry = &expected[&name];
        let bytes = std::fs::read(path).unwrap();
        let model = load_onnx_bytes(&bytes, &name, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
        let tract = TractReference::from_bytes(&bytes, &model.input_shape, &name).unwrap();
        let channels = model.input_shape[1];
        let sample_dir = match entry["samples_dir"].as_str() {
            Some(s) => models_dir().join("..").join(s),
            None => dir.join("samples").join(dataset_of(&name)),
        };
        let files = samples(&sample_dir);
        assert!(
            !files.is_empty(),
            "{name}: no samples in {}",
            sample_dir.display()
        );
        let (mut worst_tract, mut worst_ort) = (0.0f64, 0.0f64);
        let (mut ok_tract, mut ok_ir) = (0usize, 0usize);
        let ort_files: Vec<&str> = entry["files"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (_, label, file) in &files {
            let x = load_png(file, channels);
            let ir = reference::run(&model.graph, &x).unwrap();
            let tr = tract.run(&x).unwrap();
            worst_tract = worst_tract.max(rel_err(ir.data(), tr.data()));
            ok_tract += usize::from(tr.argmax() == Some(*label));
            ok_ir += usize::from(ir.argmax() == Some(*label));
            let fname = file.file_name().unwrap().to_str().unwrap();
            if let Some(k) = ort_files.iter().position(|f| *f == fname) {
                let ort: Vec<f64> = entry["logits"][k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                worst_ort = worst_ort.max(rel_err(ir.data(), &ort));
            }
        }
        let n = files.len() as f64;
        let (acc_tract, acc_ir) = (ok_tract as f64 / n, ok_ir as f64 / n);
        let recorded = entry["sample_accuracy_200"].as_f64();
        println!(
            "{name:<16} {:>7} {worst_tract:>12.2e} {:>12} {:>9.2}% {:>9.2}% {:>10}",
            files.len(),
            if ort_files.is_empty() {
                "-".to_string()
            } else {
                format!("{worst_ort:.2e}")
            },
            100.0 * acc_tract,
            100.0 * acc_ir,
            recorded.map_or("-".into(), |r| format!("{:.2}%", 100.0 * r)),
        );
        if worst_tract > TOLERANCE {
            failures.push(format!(
                "{name}: IR vs tract relative error {worst_tract:.3e}"
            ));
        }
        if worst_ort > TOLERANCE {
            failures.push(format!(
                "{name}: IR vs onnxruntime relative error {worst_ort:.3e}"
            ));
        }
        if let Some(r) = recorded {
            for (who, acc) in [("tract", acc_tract), ("IR", acc_ir)] {
                if (acc - r).abs() > 0.01 + 1e-9 {
                    failures.push(format!(
                        "{name}: {who} accuracy {:.2}% vs recorded {:.2}%",
                        100.0 * acc,
                        100.0 * r
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
