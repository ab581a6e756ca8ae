//! Acceptance test of the compiler back end's errors: bad options and circuits too deep for
//! any secure parameter set are refused with exact, actionable messages, before (or instead
//! of) any expensive work.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::import::{load_onnx, ImportOptions, Model};
use blindfold_compiler::ir::{Fact, Graph, Op};
use blindfold_compiler::{
    compile, compile::check_options, Calibration, CompileError, CompileOptions,
};
use blindfold_runtime::ckks::SecurityLevel;
use common::{load_png, models_dir, samples};

fn mnist_relu() -> Model {
    load_onnx(
        &models_dir().join("mnist_relu.onnx"),
        &ImportOptions::default(),
    )
    .unwrap()
}

/// A graph `x -> x² -> (x²)² -> …` of `squares` squares on a `[1, 4]` input, with a (free)
/// reshape between consecutive squares so that `fuse-polynomials` leaves them apart: the
/// circuit consumes exactly one level per square.
fn chain_of_squares(squares: usize) -> Model {
    let mut g = Graph::new();
    let mut x = g.add_node("x", Op::Input, Fact::new(vec![1, 4]), &[]);
    g.add_input(x);
    for i in 0..squares {
        if i > 0 {
            let shape = if i % 2 == 1 {
                vec![1, 2, 2]
            } else {
                vec![1, 4]
            };
            x = g
                .add_inferred(format!("reshape{i}"), Op::Reshape { shape }, &[x])
                .unwrap();
        }
        x = g
            .add_inferred(format!("square{i}"), Op::Square, &[x])
            .unwrap();
    }
    g.set_outputs(vec![x]);
    Model {
        graph: g,
        input_shape: vec![1, 4],
        ..model_shell()
    }
}

/// A `Model` with every field but the graph taken from a small fixture (the struct may grow).
fn model_shell() -> Model {
    load_onnx(
        &models_dir().join("fixtures").join("pow2.onnx"),
        &ImportOptions::default(),
    )
    .unwrap()
}

fn compile_err(model: &Model, calibration: &Calibration, options: &CompileOptions) -> String {
    match compile(model, calibration, options) {
        Ok(_) => panic!("compile succeeded with {options:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn relu_degree_zero_is_refused() {
    let options = CompileOptions {
        relu_degree: Some(0),
        ..CompileOptions::default()
    };
    let want = "--relu-degree 0 would replace every activation by a constant; use a degree >= 2 \
                (e.g. 7 or 15), or omit it to choose automatically";
    assert_eq!(check_options(&options).unwrap_err().to_string(), want);
    // The options are checked before the calibration images are even looked at.
    assert_eq!(
        compile_err(&mnist_relu(), &Calibration::default(), &options),
        want
    );
}

#[test]
fn relu_degree_above_255_is_refused() {
    let options = CompileOptions {
        relu_degree: Some(256),
        ..CompileOptions::default()
    };
    assert_eq!(
        compile_err(&mnist_relu(), &Calibration::default(), &options),
        "--relu-degree 256 is above the supported 255"
    );
}

#[test]
fn scale_bits_outside_20_to_58_are_refused() {
    let model = mnist_relu();
    for bits in [10u32, 19, 59, 70] {
        let options = CompileOptions {
            scale_bits: Some(bits),
            ..CompileOptions::default()
        };
        let want = format!(
            "--scale-bits {bits} is outside 20..=58: below 20 bits the encryption noise swamps \
             the values, above 58 the primes no longer fit 64-bit words; without it the scale is chosen \
             automatically"
        );
        assert_eq!(check_options(&options).unwrap_err().to_string(), want);
        assert_eq!(compile_err(&model, &Calibration::default(), &options), want);
        assert!(matches!(
            compile(&model, &Calibration::default(), &options),
            Err(CompileError::Options(_))
        ));
    }
    for bits in [20u32, 40, 58] {
        let options = CompileOptions {
            scale_bits: Some(bits),
            ..CompileOptions::default()
        };
        check_options(&options).unwrap();
    }
}

#[test]
fn max_accuracy_drop_outside_0_to_100_is_refused() {
    for drop in [-1.0, 100.5, f64::NAN] {
        let options = CompileOptions {
            max_accuracy_drop: drop,
            ..CompileOptions::default()
        };
        assert_eq!(
            check_options(&options).unwrap_err().to_string(),
            format!("--max-accuracy-drop {drop} must be between 0 and 100 (percentage points)")
        );
    }
}

#[test]
fn relu_model_without_calibration_images_is_refused() {
    let options = CompileOptions {
        relu_degree: Some(7),
        ..CompileOptions::default()
    };
    let err = compile(&mnist_relu(), &Calibration::default(), &options).unwrap_err();
    assert!(matches!(err, CompileError::Options(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the network has ReLU/sigmoid/tanh activations: calibration images are needed to choose \
         the polynomial intervals (pass --calibrate with a dataset, a folder of images or a .npy \
         file)"
    );
}

#[test]
fn polynomial_model_compiles_without_calibration_images() {
    let model = load_onnx(
        &models_dir().join("mnist_seed.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let compiled = compile(&model, &Calibration::default(), &CompileOptions::default()).unwrap();
    assert!(compiled.circuit.meta.calibration.is_none());
    assert_eq!(compiled.degree, None);
}

#[test]
fn too_deep_chain_of_squares_states_depth_and_limit() {
    // 30 squares at scale 58: q = 60 + 30·58 = 1800 bits, plus one 60-bit special prime,
    // against the 1772 bits 128-bit security allows at N = 2^16.
    let model = chain_of_squares(30);
    let options = CompileOptions {
        scale_bits: Some(58),
        ..CompileOptions::default()
    };
    let err = compile(&model, &Calibration::default(), &options).unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::TooDeep {
                depth: 30,
                scale_bits: 58,
                bound: 1772,
                security: 128,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the circuit needs 30 levels at 58-bit scale (log2(QP) >= 1860), but 128-bit security \
         allows log2(QP) <= 1772 even at N = 2^16, and bootstrapping is not supported; lower \
         --relu-degree or --scale-bits"
    );
    // The same chain fits at a smaller scale (or with fewer squares).
    let ok = CompileOptions {
        scale_bits: Some(30),
        ..CompileOptions::default()
    };
    let compiled = compile(&model, &Calibration::default(), &ok).unwrap();
    assert_eq!(compiled.circuit.validate().unwrap().depth, 30);
    let compiled = compile(&chain_of_squares(20), &Calibration::default(), &options).unwrap();
    assert_eq!(compiled.circuit.validate().unwrap().depth, 20);
}

#[test]
fn too_deep_at_higher_security_names_that_level() {
    let model = chain_of_squares(16);
    let options = CompileOptions {
        scale_bits: Some(58),
        security: SecurityLevel::Classical256,
        ..CompileOptions::default()
    };
    let err = compile(&model, &Calibration::default(), &options).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("the circuit needs 16 levels at 58-bit scale")
            && text.contains("but 256-bit security allows log2(QP) <= 956 even at N = 2^16"),
        "{text}"
    );
}

/// Compiles a ReLU model at degree 255 and scale 58 and expects `TooDeep`; returns the depth.
fn expect_too_deep(name: &str, security: SecurityLevel) -> usize {
    let model = load_onnx(
        &models_dir().join(format!("{name}.onnx")),
        &ImportOptions::default(),
    )
    .unwrap();
    let dataset = name.split('_').next().unwrap();
    let channels = model.input_shape[1];
    let files = samples(&models_dir().join("samples").join(dataset));
    let calibration = Calibration {
        images: files
            .iter()
            .take(4)
            .map(|(_, _, f)| load_png(f, channels))
            .collect(),
        labels: files.iter().take(4).map(|(_, l, _)| Some(*l)).collect(),
    };
    let options = CompileOptions {
        relu_degree: Some(255),
        scale_bits: Some(58),
        security,
        ..CompileOptions::default()
    };
    let err = match compile(&model, &calibration, &options) {
        Ok(c) => panic!(
            "{name} compiled at degree 255, scale 58, {security}: depth {:?}, N = 2^{}",
            c.circuit.validate().map(|s| s.depth),
            c.circuit.params.log_n
        ),
        Err(e) => e,
    };
    println!("{name} at degree 255, scale 58, {security}: {err}");
    let text = err.to_string();
    let CompileError::TooDeep {
        depth,
        scale_bits,
        log_qp,
        bound,
        security: bits,
    } = err
    else {
        panic!("{name}: expected TooDeep, got {text}")
    };
    let bound16 = security.max_log_qp(16).unwrap();
    assert_eq!((scale_bits, bound, bits), (58, bound16, security.bits()));
    assert!(log_qp > bound, "{log_qp} <= {bound}");
    assert_eq!(
        text,
        format!(
            "the circuit needs {depth} levels at 58-bit scale (log2(QP) >= {log_qp}), but \
             {bits}-bit security allows log2(QP) <= {bound16} even at N = 2^16, and \
             bootstrapping is not supported; lower --relu-degree or --scale-bits"
        )
    );
    depth
}

#[test]
fn relu_models_at_degree_255_and_scale_58_are_too_deep() {
    // mnist_relu (3 ReLUs) needs 28 levels at degree 255: that fits 128-bit security at
    // N = 2^16 (60 + 28·58 + 60 = 1744 <= 1772 bits), but not 192-bit security.
    let depth = expect_too_deep("mnist_relu", SecurityLevel::Classical192);
    assert!(
        depth >= 3 * 8,
        "three degree-255 polynomials need 8 levels each: {depth}"
    );
    // cifar10_relu (4 ReLUs, 5 linear layers) does not fit 128-bit security.
    let depth = expect_too_deep("cifar10_relu", SecurityLevel::Classical128);
    assert!(
        depth >= 4 * 8,
        "four degree-255 polynomials need 8 levels each: {depth}"
    );
}

#[test]
fn graph_with_an_unapproximated_relu_names_the_node_when_lowered() {
    use blindfold_compiler::lower;
    let mut g = Graph::new();
    let x = g.add_node("x", Op::Input, Fact::new(vec![1, 4]), &[]);
    g.add_input(x);
    let r = g.add_inferred("my_relu", Op::Relu, &[x]).unwrap();
    g.set_outputs(vec![r]);
    let err = lower::depth(&g).unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot lower node 'my_relu' (relu) to a circuit: the activation was not replaced by a \
         polynomial; run the approximate-activations pass (compile with calibration data)"
    );
}
