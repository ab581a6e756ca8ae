//! The CKKS noise estimate (`exec::NoiseEstimator`) and the automatic scale built on it:
//! the estimate bounds the error real CKKS execution shows on a compiled network, without
//! being uselessly pessimistic; the automatic scale of `mnist_seed` fits `N = 2^13`; an explicit
//! scale is kept.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::compile::{NoiseReport, NOISE_SIGMAS};
use blindfold_compiler::import::{load_onnx, ImportOptions};
use blindfold_compiler::ir::Tensor;
use blindfold_compiler::{compile, Calibration, CompileOptions, Compiled};
use blindfold_runtime::circuit::Circuit;
use blindfold_runtime::ckks::{
    os_rng, CkksParams, Decryptor, Encoder, Encryptor, KeyGenerator, SecurityLevel,
};
use blindfold_runtime::exec::{scale_ladder, CkksBackend, Encryption, Executor, NoiseEstimator};
use common::{load_png, models_dir, samples};
use std::sync::Arc;

/// The first `count` MNIST samples as tensors, with their labels.
fn mnist(count: usize) -> Vec<(usize, Tensor)> {
    samples(&models_dir().join("samples/mnist"))
        .into_iter()
        .take(count)
        .map(|(_, label, f)| (label, load_png(&f, 1)))
        .collect()
}

fn compile_seed(scale_bits: Option<u32>) -> Compiled {
    let model = load_onnx(
        &models_dir().join("mnist_seed.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let images = mnist(50);
    let calibration = Calibration {
        images: images.iter().map(|(_, t)| t.clone()).collect(),
        labels: images.iter().map(|(l, _)| Some(*l)).collect(),
    };
    let options = CompileOptions {
        scale_bits,
        model_name: "mnist_seed".into(),
        ..CompileOptions::default()
    };
    compile(&model, &calibration, &options).unwrap()
}

/// Encrypts `tensor` (secret key, as the client does), runs `circuit` on CKKS, decrypts.
fn run_encrypted(circuit: &Circuit, tensor: &[f64]) -> Vec<f64> {
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let mut rng = os_rng().unwrap();
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let rotations: Vec<i64> = circuit.rotations.iter().map(|&r| i64::from(r)).collect();
    let evk = kg.eval_keys(
        &sk,
        circuit.needs_relinearization(),
        &rotations,
        false,
        &mut rng,
    );
    let backend = CkksBackend::new(circuit, Arc::new(evk)).unwrap();
    let top = circuit.input.level;
    let ladder = scale_ladder(&circuit.params, top);
    let encoder = Encoder::new(&params);
    let encryptor = Encryptor::with_secret_key(&params, &sk).unwrap();
    let inputs = circuit
        .input
        .pack(tensor, params.slots())
        .unwrap()
        .iter()
        .map(|v| encryptor.encrypt(&encoder.encode(v, top, ladder[top]).unwrap(), &mut rng))
        .collect();
    let outputs = Executor::new(circuit, backend)
        .unwrap()
        .run(inputs)
        .unwrap();
    let decryptor = Decryptor::new(&params, &sk).unwrap();
    let slots: Vec<Vec<f64>> = outputs
        .iter()
        .map(|ct| encoder.decode(&decryptor.decrypt(ct)))
        .collect();
    circuit.output.unpack(&slots).unwrap()
}

#[test]
fn the_automatic_scale_of_mnist_seed_fits_n_2_13() {
    let compiled = compile_seed(None);
    let params = &compiled.circuit.params;
    let noise: &NoiseReport = compiled.noise.as_ref().unwrap();
    eprintln!(
        "mnist_seed: N = 2^{}, scale 2^{}, dnum {}, noise {noise:?}",
        params.log_n, params.log_scale, params.dnum
    );
    assert_eq!(params.log_n, 13);
    assert!(noise.automatic && noise.accurate, "{noise:?}");
    assert_eq!(noise.scale_bits, params.log_scale);
    assert!((20..=40).contains(&params.log_scale));
    assert_eq!(params.security, SecurityLevel::Classical128);
}

#[test]
fn an_explicit_scale_is_kept() {
    let compiled = compile_seed(Some(36));
    assert_eq!(compiled.circuit.params.log_scale, 36);
    let noise = compiled.noise.unwrap();
    assert!(!noise.automatic && noise.accurate, "{noise:?}");
}

/// On real CKKS, the largest error over the outputs of a few images stays below the bound
/// (`NOISE_SIGMAS` estimated standard deviations) and above a tenth of one standard deviation.
#[test]
fn the_noise_estimate_bounds_the_ckks_error_of_mnist_seed() {
    for scale_bits in [None, Some(30)] {
        let compiled = compile_seed(scale_bits);
        let circuit = &compiled.circuit;
        let estimator = NoiseEstimator::new(circuit, Encryption::SecretKey).unwrap();
        let mut worst_ratio = 0.0f64;
        let mut std_max = 0.0f64;
        let mut observed_max = 0.0f64;
        for (_, image) in mnist(3) {
            let estimate = estimator.run(image.data()).unwrap();
            let got = run_encrypted(circuit, image.data());
            for ((g, e), s) in got.iter().zip(&estimate.outputs).zip(&estimate.std_dev) {
                let err = (g - e).abs();
                observed_max = observed_max.max(err);
                worst_ratio = worst_ratio.max(err / s);
            }
            std_max = std_max.max(estimate.max_std_dev());
        }
        eprintln!(
            "scale 2^{}: estimated σ {std_max:.3e}, observed max error {observed_max:.3e}, worst \
             error / σ of its output {worst_ratio:.2}",
            circuit.params.log_scale
        );
        assert!(
            worst_ratio <= NOISE_SIGMAS,
            "an error of {worst_ratio:.2} estimated standard deviations"
        );
        assert!(
            observed_max >= std_max / 10.0,
            "the estimate {std_max:.3e} is far above the observed {observed_max:.3e}"
        );
    }
}
