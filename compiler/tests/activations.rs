//! Calibration, activation approximation and polynomial fusion on the model zoo: a ReLU
//! network approximated at degree 15 keeps its accuracy on the 200 sample images (within 2
//! points of the exact network), and a network with the exported polynomial activation
//! `x * (0.125 * x + 0.5) + 0.25` becomes one exact degree-2 `Poly` per activation.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx, ImportOptions, Model};
use blindfold_compiler::ir::{Graph, Op, Tensor};
use blindfold_compiler::passes::{
    calibrate, ApproxConfig, ApproximateActivations, FusePolynomials, PassManager, Ranges,
};
use blindfold_compiler::reference;
use common::{load_png, models_dir, rel_err, samples};

/// Calibration images: the first ones of the 200 samples.
const CALIBRATION: usize = 50;

/// The model and its `(label, image)` samples, or `None` (test skipped) if it is absent.
fn model(name: &str) -> Option<(Model, Vec<(usize, Tensor)>)> {
    let path = models_dir().join(format!("{name}.onnx"));
    if !path.exists() {
        println!("SKIP: {} not found", path.display());
        return None;
    }
    let model = load_onnx(&path, &ImportOptions::default()).unwrap();
    let dataset = name.split('_').next().unwrap();
    let channels = model.input_shape[1];
    let images = samples(&models_dir().join("samples").join(dataset))
        .iter()
        .map(|(_, label, file)| (*label, load_png(file, channels)))
        .collect();
    Some((model, images))
}

fn calibration_ranges(graph: &Graph, images: &[(usize, Tensor)]) -> Ranges {
    let cal: Vec<Tensor> = images
        .iter()
        .take(CALIBRATION)
        .map(|(_, t)| t.clone())
        .collect();
    calibrate(graph, &cal).unwrap()
}

/// Correct predictions and logits on every image.
fn predict(graph: &Graph, images: &[(usize, Tensor)]) -> (usize, Vec<Tensor>) {
    let logits: Vec<Tensor> = images
        .iter()
        .map(|(_, x)| reference::run(graph, x).unwrap())
        .collect();
    let ok = images
        .iter()
        .zip(&logits)
        .filter(|((label, _), l)| l.argmax() == Some(*label))
        .count();
    (ok, logits)
}

fn polys(graph: &Graph) -> Vec<(usize, String)> {
    graph
        .node_ids()
        .into_iter()
        .filter_map(|n| match &graph.node(n).unwrap().op {
            Op::Poly(p) => Some((p.degree(), p.approximates.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn relu_network_approximated_at_degree_15_keeps_its_accuracy() {
    let Some((model, images)) = model("mnist_relu") else {
        return;
    };
    let ranges = calibration_ranges(&model.graph, &images);
    let (exact_ok, exact_logits) = predict(&model.graph, &images);
    let n = images.len() as f64;
    let pct = |ok: usize| 100.0 * ok as f64 / n;
    let mut at_15 = None;
    for degree in [7, 15, 31] {
        let mut g = model.graph.clone();
        let mut pm = PassManager::new();
        pm.add(ApproximateActivations::new(
            ranges.clone(),
            ApproxConfig::new(degree),
        ));
        pm.run(&mut g).unwrap();
        let p = polys(&g);
        assert_eq!(p.len(), 3, "three ReLUs become polynomials");
        assert!(p.iter().all(|(_, what)| what == "relu"));
        let (ok, logits) = predict(&g, &images);
        let worst = logits
            .iter()
            .zip(&exact_logits)
            .map(|(a, b)| rel_err(a.data(), b.data()))
            .fold(0.0, f64::max);
        println!(
            "mnist_relu degree {degree:>2}: accuracy {:.1}% (exact {:.1}%), worst logit \
             relative error {worst:.3e}",
            pct(ok),
            pct(exact_ok)
        );
        if degree == 15 {
            at_15 = Some(ok);
        }
    }
    let ok = at_15.unwrap();
    assert!(
        (pct(ok) - pct(exact_ok)).abs() <= 2.0,
        "degree 15: {:.1}% vs exact {:.1}%",
        pct(ok),
        pct(exact_ok)
    );
}

/// Fuses `name` with ranges calibrated on the first images, checks it has `activations`
/// degree-2 polynomials and no `Mul`/`Add` left, and that the logits on the first `eval`
/// images are unchanged (1e-9 relative).
fn check_fused(name: &str, activations: usize, eval: usize) {
    let Some((model, mut images)) = model(name) else {
        return;
    };
    images.truncate(eval.max(CALIBRATION));
    let ranges = calibration_ranges(&model.graph, &images);
    images.truncate(eval);
    let mut g = model.graph.clone();
    let mut pm = PassManager::new();
    pm.add(FusePolynomials::new().with_ranges(ranges));
    assert!(pm.run(&mut g).unwrap());
    let p = polys(&g);
    assert_eq!(
        p,
        vec![(2, "polynomial".to_string()); activations],
        "{name}: {p:?}"
    );
    for n in g.node_ids() {
        let op = &g.node(n).unwrap().op;
        assert!(!matches!(op, Op::Mul | Op::Add), "{name}: {op} left over");
    }
    let (ok_before, before) = predict(&model.graph, &images);
    let (ok_after, after) = predict(&g, &images);
    let worst = after
        .iter()
        .zip(&before)
        .map(|(a, b)| rel_err(a.data(), b.data()))
        .fold(0.0, f64::max);
    println!(
        "{name} fused: {} -> {} nodes, worst logit relative change {worst:.2e}, \
         accuracy {ok_before} -> {ok_after} of {}",
        model.graph.len(),
        g.len(),
        images.len()
    );
    assert!(worst <= 1e-9, "{name}: {worst}");
    assert_eq!(ok_before, ok_after);
}

#[test]
fn polynomial_activations_fuse_into_one_exact_quadratic_each() {
    check_fused("mnist_poly", 3, 200);
}

#[test]
fn other_polynomial_networks_fuse_too() {
    check_fused("kmnist_poly", 3, 20);
    check_fused("fashion_poly", 3, 20);
    check_fused("cifar10_square", 4, 20);
    // x·x activations stay lone squares: nothing to fuse.
    if let Some((model, _)) = model("mnist_seed") {
        let mut g = model.graph.clone();
        assert!(!blindfold_compiler::passes::fuse_polynomials(&mut g, None).unwrap());
    }
}

#[test]
fn approximating_without_a_range_names_the_node_and_says_to_calibrate() {
    let Some((model, _)) = model("mnist_relu") else {
        return;
    };
    let mut g = model.graph.clone();
    let pm = {
        let mut pm = PassManager::new();
        pm.add(ApproximateActivations::new(
            Ranges::new(),
            ApproxConfig::default(),
        ));
        pm
    };
    let err = pm.run(&mut g).unwrap_err().to_string();
    let relu = model
        .graph
        .node_ids()
        .into_iter()
        .find(|&n| matches!(model.graph.node(n).unwrap().op, Op::Relu))
        .unwrap();
    let name = &model.graph.node(relu).unwrap().name;
    assert!(
        err.contains(&format!("'{name}'")) && err.contains("calibrate"),
        "{err}"
    );
}
