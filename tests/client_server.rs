//! The facade's round trip: a client makes keys and encrypts bundled MNIST images, a server
//! holding only the circuit and the evaluation keys (as bytes, as over a network) runs the
//! compiled network, the client decrypts: the classes equal the plaintext network's and the
//! scores are within CKKS noise of it.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use blindfold::compiler::import::{load_onnx, ImportOptions};
use blindfold::compiler::ir::Tensor;
use blindfold::compiler::{reference, CompileOptions};
use blindfold::runtime::circuit::{EncryptedTensor, Role};
use blindfold::{compile_file, dataset, Client, Error, Server};
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0
}

#[test]
fn encrypted_classes_equal_the_plaintext_network() {
    let model = repo("models/mnist_seed.onnx");
    let (_, compiled) = compile_file(&model, None, Some(50), CompileOptions::default()).unwrap();
    let circuit = compiled.circuit;
    let plain = load_onnx(&model, &ImportOptions::default()).unwrap();

    let client = Client::new(circuit.clone()).unwrap();
    let keys = client.eval_keys().unwrap().to_bytes(client.params());
    let server = Server::from_key_bytes(circuit, &keys).unwrap();

    let images = dataset::load(&repo("models/samples/mnist"), Some(4)).unwrap();
    for image in &images {
        let x = client.preprocess(image).unwrap();
        let input = client.encrypt(&x).unwrap().to_bytes(client.params());
        let output = server.run_bytes(&input).unwrap();
        let scores = client.decrypt_bytes(&output).unwrap();

        let expected = reference::run(
            &plain.graph,
            &Tensor::new(plain.input_shape.clone(), x).unwrap(),
        )
        .unwrap();
        let expected = expected.data();
        let range = expected.iter().copied().fold(f64::MIN, f64::max)
            - expected.iter().copied().fold(f64::MAX, f64::min);
        let err = scores
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{}: max logit error {err:.2e} (range {range:.2})",
            image.source
        );
        assert_eq!(argmax(&scores), argmax(expected), "{}", image.source);
        assert!(err < 0.01 * range, "{}: error {err}", image.source);
    }
}

#[test]
fn the_server_refuses_a_secret_key_and_inputs_of_another_circuit() {
    let model = repo("models/mnist_seed.onnx");
    let (_, a) = compile_file(&model, None, Some(20), CompileOptions::default()).unwrap();
    let options = CompileOptions {
        scale_bits: Some(30),
        ..CompileOptions::default()
    };
    let (_, b) = compile_file(&model, None, Some(20), options).unwrap();
    let (a, b) = (a.circuit, b.circuit);

    let client = Client::new(a.clone()).unwrap();
    let err = Server::from_key_bytes(a.clone(), &client.secret_key_bytes()).unwrap_err();
    assert!(matches!(err, Error::SecretKeyRefused(_)));
    assert!(
        err.to_string()
            .starts_with("this is a secret key: the server must never receive it"),
        "{err}"
    );

    let server = Server::from_key_bytes(
        a.clone(),
        &client.eval_keys().unwrap().to_bytes(client.params()),
    )
    .unwrap();
    let other = Client::new(b.clone()).unwrap();
    let image = &dataset::load(&repo("models/samples/mnist"), Some(1)).unwrap()[0];
    let foreign = other.encrypt_image(image).unwrap().to_bytes(other.params());
    let err = server.run_bytes(&foreign).unwrap_err().to_string();
    assert!(
        err.contains("another parameter set") || err.contains("made for circuit"),
        "{err}"
    );

    // Same parameters, other circuit: the circuit fingerprint tells them apart.
    let mut c = a.clone();
    c.meta.model = "renamed".into();
    let same_params = Client::new(c).unwrap();
    let foreign = EncryptedTensor {
        circuit: same_params.circuit().fingerprint(),
        role: Role::Input,
        ciphertexts: same_params.encrypt_image(image).unwrap().ciphertexts,
    }
    .to_bytes(same_params.params());
    let err = server.run_bytes(&foreign).unwrap_err().to_string();
    assert!(
        err.starts_with("an encrypted input made for circuit ") && err.contains("(mnist_seed)"),
        "{err}"
    );

    // The server refuses an output as input, and the client an input as output.
    let input = client.encrypt_image(image).unwrap();
    let output = server.run(&input).unwrap();
    assert!(server.run(&output).is_err());
    assert!(client.decrypt(&input).is_err());
    assert_eq!(client.decrypt(&output).unwrap().len(), 10);
}
