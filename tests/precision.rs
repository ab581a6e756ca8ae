//! The precision trace of an encrypted run: every step of the bundled network, decrypted and
//! compared with its cleartext value, stays within the noise estimate; a client and a server of
//! different circuits are refused.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use blindfold::compiler::CompileOptions;
use blindfold::{compile_file, dataset, precision, Client, Error, Server};
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn compile(options: CompileOptions) -> blindfold::runtime::circuit::Circuit {
    let model = repo("models/mnist_seed.onnx");
    compile_file(&model, None, Some(50), options)
        .unwrap()
        .1
        .circuit
}

#[test]
fn every_step_of_an_encrypted_run_is_within_the_noise_estimate() {
    let circuit = compile(CompileOptions::default());
    let client = Client::new(circuit.clone()).unwrap();
    let server = Server::new(circuit.clone(), client.eval_keys().unwrap()).unwrap();
    let image = &dataset::load(&repo("models/samples/mnist"), Some(1)).unwrap()[0];
    let steps = precision::trace(&client, &server, &client.preprocess(image).unwrap()).unwrap();
    assert_eq!(steps.len(), circuit.steps.len());
    for s in &steps {
        eprintln!(
            "step {:>2} {:<16} level {} error {:.2e} σ {:.2e} ratio {:.1} (expected ≤ {:.1})",
            s.index,
            s.op,
            s.level,
            s.max_error,
            s.predicted_std_dev,
            s.max_deviations,
            s.expected_max_deviations()
        );
        // Three times the expected largest ratio: a correct estimate exceeds it with
        // probability below 1e-7 per step (Laplace tail), a wrong one by a factor 3 does not.
        assert!(
            s.max_deviations < 3.0 * s.expected_max_deviations(),
            "step {} is above the estimate: {s:?}",
            s.index
        );
        assert!(s.max_error > 0.0 && s.max_error < 1e-2, "{s:?}");
        assert_eq!(s.compared, server.params().slots());
    }
    let last = steps.last().unwrap();
    assert_eq!(last.level, 0);
    // Every step's server time is measured; the transforms cost more than an addition.
    assert!(steps.iter().all(|s| s.run_ms >= 0.0));
    let ms = |op: &str| {
        steps
            .iter()
            .filter(|s| s.op == op)
            .map(|s| s.run_ms)
            .sum::<f64>()
    };
    assert!(ms("linear_transform") > ms("add"), "{steps:?}");
}

#[test]
fn a_client_and_a_server_of_different_circuits_are_refused() {
    let circuit = compile(CompileOptions::default());
    let other = compile(CompileOptions {
        scale_bits: Some(30),
        ..CompileOptions::default()
    });
    let client = Client::new(circuit.clone()).unwrap();
    let other_client = Client::new(other.clone()).unwrap();
    let server = Server::new(other, other_client.eval_keys().unwrap()).unwrap();
    let tensor = vec![0.5; 28 * 28];
    let err = precision::trace(&client, &server, &tensor).unwrap_err();
    assert!(matches!(err, Error::WrongFile(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "the client and the server hold different circuits; trace one .bfc file"
    );
}
