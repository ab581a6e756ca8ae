//! Where the precision of an encrypted run goes. The circuit runs once on real ciphertexts and
//! once in the noise estimator ([`NoiseEstimator`]: the exact cleartext slots plus the error
//! variance CKKS should add); after every step the client decrypts what the server computed and
//! compares it with the cleartext value and with the predicted error. The server time of each
//! step comes with it: where the time goes, next to where the precision goes.
//!
//! The error of a slot is close to a Laplace distribution (its largest terms are products, slot
//! by slot, of the secret key's embedding and a Gaussian), so the largest of `n` slot errors is
//! about `ln(n)/√2` predicted standard deviations: 7.4 over the 32768 slots of `N = 2^16`. A
//! step well above that ([`StepPrecision::above_estimate`]) is where the noise model and the
//! execution part: a scale that is not what the executor assumes, a value that wraps around
//! the modulus, or an error source the estimate leaves out. This needs the secret key, so it is a tool for the owner of a model,
//! never part of a server.

use crate::error::Error;
use crate::runtime::ckks::Ciphertext;
use crate::runtime::exec::{Encryption, NoiseEstimator, Noisy};
use crate::{Client, Server};
use std::time::Instant;

/// The precision of the values one step of a circuit produced.
#[derive(Clone, Debug, PartialEq)]
pub struct StepPrecision {
    /// Index of the step in the circuit.
    pub index: usize,
    /// The step's operation (`linear_transform`, `polynomial`, …).
    pub op: &'static str,
    /// The level of its results.
    pub level: usize,
    /// `log2` of the scale of its results.
    pub scale_bits: f64,
    /// The largest `|x|` over the slots of its results (cleartext).
    pub magnitude: f64,
    /// The largest `|decrypted − cleartext|` over the slots of its results.
    pub max_error: f64,
    /// The largest predicted standard deviation of the error over those slots.
    pub predicted_std_dev: f64,
    /// The largest ratio of the measured error to its slot's predicted standard deviation:
    /// about 4 to 5 over thousands of slots when the estimate holds.
    pub max_deviations: f64,
    /// The slot of that largest ratio (in its ciphertext), to find the value it belongs to.
    pub worst_slot: usize,
    /// How many slot errors were compared (slots times result ciphertexts).
    pub compared: usize,
    /// Server time of the step in milliseconds (the decryptions of the trace excluded).
    pub run_ms: f64,
}

impl StepPrecision {
    /// The largest ratio of error to predicted standard deviation expected among
    /// [`Self::compared`] Laplace-distributed errors: `ln(n)/√2`.
    pub fn expected_max_deviations(&self) -> f64 {
        (self.compared.max(1) as f64).ln() / std::f64::consts::SQRT_2
    }

    /// Whether the measured error is out of line with the estimate: its largest ratio to the
    /// predicted standard deviation is more than twice the expected largest one (a correct
    /// estimate gets there with probability about `1/n`).
    pub fn above_estimate(&self) -> bool {
        self.max_deviations > 2.0 * self.expected_max_deviations()
    }
}

/// Runs `tensor` (a preprocessed model input) through `server` encrypted by `client`, and
/// through the noise estimator of the same circuit, and compares them step by step. The client
/// and the server must hold the same circuit.
pub fn trace(
    client: &Client,
    server: &Server,
    tensor: &[f64],
) -> Result<Vec<StepPrecision>, Error> {
    if client.fingerprint() != server.fingerprint() {
        return Err(Error::WrongFile(
            "the client and the server hold different circuits; trace one .bfc file".into(),
        ));
    }
    let estimated = estimate_steps(server, tensor)?;
    let input = client.encrypt(tensor)?;
    let mut steps = Vec::with_capacity(estimated.len());
    let mut failure = None;
    let mut step_start = Instant::now();
    server.executor().run_inspect(input.ciphertexts, |view| {
        let run_ms = step_start.elapsed().as_secs_f64() * 1e3;
        if failure.is_some() {
            return;
        }
        let Some(noisy) = estimated.get(view.index) else {
            return;
        };
        let ciphertexts: Vec<&Ciphertext> = view
            .step
            .instr
            .results()
            .into_iter()
            .filter_map(|id| view.value(id))
            .collect();
        let op = view.step.instr.name();
        match compare(client, view.index, op, noisy, &ciphertexts) {
            Ok(step) => steps.push(StepPrecision { run_ms, ..step }),
            Err(e) => failure = Some(e),
        }
        step_start = Instant::now();
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(steps),
    }
}

/// The noise estimator's results of every step.
fn estimate_steps(server: &Server, tensor: &[f64]) -> Result<Vec<Vec<Noisy>>, Error> {
    let circuit = server.circuit();
    let estimator = NoiseEstimator::new(circuit, Encryption::SecretKey)?;
    let executor = estimator.executor();
    let backend = executor.backend();
    let inputs = circuit
        .input
        .pack(tensor, circuit.slots())?
        .iter()
        .map(|v| backend.encrypt(v, circuit.input.level))
        .collect::<Result<Vec<_>, _>>()?;
    let mut steps = Vec::with_capacity(circuit.steps.len());
    executor.run_inspect(inputs, |view| {
        steps.push(
            view.step
                .instr
                .results()
                .into_iter()
                .filter_map(|id| view.value(id).cloned())
                .collect(),
        );
    })?;
    Ok(steps)
}

fn compare(
    client: &Client,
    index: usize,
    op: &'static str,
    noisy: &[Noisy],
    ciphertexts: &[&Ciphertext],
) -> Result<StepPrecision, Error> {
    let mut step = StepPrecision {
        index,
        op,
        level: noisy.first().map_or(0, |n| n.level),
        scale_bits: noisy.first().map_or(0.0, |n| n.scale.log2()),
        magnitude: 0.0,
        max_error: 0.0,
        predicted_std_dev: 0.0,
        max_deviations: 0.0,
        worst_slot: 0,
        compared: 0,
        run_ms: 0.0,
    };
    for (n, ct) in noisy.iter().zip(ciphertexts) {
        let decrypted = client.decrypt_slots(ct)?;
        for (slot, ((&x, &v), &d)) in n.values.iter().zip(&n.variance).zip(&decrypted).enumerate() {
            step.compared += 1;
            let error = (d - x).abs();
            let sigma = v.max(0.0).sqrt();
            step.magnitude = step.magnitude.max(x.abs());
            step.max_error = step.max_error.max(error);
            step.predicted_std_dev = step.predicted_std_dev.max(sigma);
            let deviations = if sigma > 0.0 { error / sigma } else { 0.0 };
            if deviations > step.max_deviations {
                step.max_deviations = deviations;
                step.worst_slot = slot;
            }
        }
    }
    Ok(step)
}
