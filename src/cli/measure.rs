//! Encrypted inference of a series of images with everything a user compares it to: the
//! original network's scores (the float64 reference interpreter of the imported model), the
//! cleartext simulation of the circuit, and the time of each phase. Shared by `demo` and `eval`.

use super::CacheArgs;
use anyhow::{Context, Result};
use blindfold::compiler::import::{load_onnx, ImportOptions, Model};
use blindfold::compiler::ir::Tensor;
use blindfold::compiler::reference;
use blindfold::dataset::Image;
use blindfold::runtime::circuit::Circuit;
use blindfold::runtime::exec::Simulator;
use blindfold::{Client, PreparedCircuit, Server};
use std::path::Path;
use std::time::{Duration, Instant};

/// What encrypted scores are compared with: the cleartext simulation of the circuit and, when
/// the ONNX model is at hand, the original network (float64 reference interpreter).
pub struct Cleartext {
    simulator: Simulator,
    reference: Option<Model>,
}

impl Cleartext {
    /// The simulator of `circuit`; `onnx` (if any) is imported for the plaintext reference.
    pub fn new(circuit: &Circuit, onnx: Option<&Path>) -> Result<Self> {
        let reference = onnx
            .map(|p| {
                load_onnx(p, &ImportOptions::default()).with_context(|| {
                    format!("importing {} for the plaintext reference", p.display())
                })
            })
            .transpose()?;
        Ok(Self {
            simulator: Simulator::new(circuit)?,
            reference,
        })
    }

    /// The original network's scores (None without the ONNX model) and the simulated ones, of
    /// the preprocessed input `x`.
    pub fn scores(&self, x: &[f64]) -> Result<(Option<Vec<f64>>, Vec<f64>)> {
        let simulated = self.simulator.run(x)?;
        let plain = match &self.reference {
            Some(model) => {
                let t = Tensor::new(model.input_shape.clone(), x.to_vec())?;
                Some(reference::run(&model.graph, &t)?.data().to_vec())
            }
            None => None,
        };
        Ok((plain, simulated))
    }
}

/// A client, a server with the client's evaluation keys, and what their answers are compared
/// with, for one circuit.
pub struct Session {
    /// The data owner's side.
    pub client: Client,
    /// The server's side.
    pub server: Server,
    cleartext: Cleartext,
    /// Key generation time.
    pub keygen: Duration,
    /// Size of the serialized evaluation keys.
    pub eval_key_bytes: usize,
}

/// What one image gave.
pub struct ImageResult {
    /// Where the image comes from.
    pub source: String,
    /// Its label, when the data set has one.
    pub label: Option<usize>,
    /// Scores of the original network (None without the ONNX model).
    pub plain: Option<Vec<f64>>,
    /// Scores of the circuit on cleartext slots.
    pub simulated: Vec<f64>,
    /// Decrypted scores.
    pub encrypted: Vec<f64>,
    /// Client: preprocessing, encryption and serialization.
    pub encrypt: Duration,
    /// Server: deserialization, the circuit, serialization.
    pub run: Duration,
    /// Client: deserialization and decryption.
    pub decrypt: Duration,
    /// Bytes of the encrypted input.
    pub input_bytes: usize,
    /// Bytes of the encrypted output.
    pub output_bytes: usize,
}

impl ImageResult {
    /// Largest |encrypted − reference| over the scores: against the original network when
    /// known, else against the simulation.
    pub fn max_logit_error(&self) -> f64 {
        let base = self.plain.as_ref().unwrap_or(&self.simulated);
        max_abs_diff(&self.encrypted, base)
    }

    /// Largest |encrypted − simulated|: the CKKS noise alone.
    pub fn noise(&self) -> f64 {
        max_abs_diff(&self.encrypted, &self.simulated)
    }
}

/// Largest |a − b| over paired scores. A pair whose difference is not a number (a diverged run
/// gives NaN scores) counts as an infinite error: `f64::max` would otherwise drop it and report
/// a diverged image as exact.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() {
                f64::INFINITY
            } else {
                d
            }
        })
        .fold(0.0, f64::max)
}

/// Index of the largest score (the first on ties); None when empty or not finite.
pub fn argmax(v: &[f64]) -> Option<usize> {
    let (i, best) = v
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
    best.is_finite().then_some(i)
}

impl Session {
    /// Makes fresh keys and binds a server to them; `onnx` (if any) is imported for the
    /// plaintext reference.
    pub fn new(circuit: Circuit, onnx: Option<&Path>, cache: CacheArgs) -> Result<Self> {
        let cleartext = Cleartext::new(&circuit, onnx)?;
        let start = Instant::now();
        let client = Client::new(circuit.clone())?;
        let keys = client.eval_keys()?.to_bytes(client.params());
        let keygen = start.elapsed();
        let server =
            PreparedCircuit::with_plaintext_cache(circuit, cache.bytes())?.bind_bytes(&keys)?;
        Ok(Self {
            client,
            server,
            cleartext,
            keygen,
            eval_key_bytes: keys.len(),
        })
    }

    /// Classifies one image every way, timing the encrypted phases.
    pub fn classify(&self, image: &Image) -> Result<ImageResult> {
        let start = Instant::now();
        let x = self.client.preprocess(image)?;
        let input = self.client.encrypt(&x)?.to_bytes(self.client.params());
        let encrypt = start.elapsed();
        let start = Instant::now();
        let output = self.server.run_bytes(&input)?;
        let run = start.elapsed();
        let start = Instant::now();
        let encrypted = self.client.decrypt_bytes(&output)?;
        let decrypt = start.elapsed();
        let (plain, simulated) = self.cleartext.scores(&x)?;
        Ok(ImageResult {
            source: image.source.clone(),
            label: image.label,
            plain,
            simulated,
            encrypted,
            encrypt,
            run,
            decrypt,
            input_bytes: input.len(),
            output_bytes: output.len(),
        })
    }
}

/// The ONNX model a circuit was compiled from, looked up by the model name recorded in the
/// circuit: `<name>.onnx` next to the circuit file, then in `models/`.
pub fn find_onnx(circuit_path: &Path, circuit: &Circuit) -> Option<std::path::PathBuf> {
    let file = format!("{}.onnx", circuit.meta.model);
    let beside = circuit_path.parent().map(|d| d.join(&file));
    beside
        .into_iter()
        .chain([Path::new("models").join(&file)])
        .find(|p| p.is_file())
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median and 90th percentile of `values` (nearest rank), in the input unit.
pub fn median_p90(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (quantile(values, 0.5), quantile(values, 0.9))
}

/// The `q`-quantile (`0 < q <= 1`) of `values` by the nearest-rank rule; NaN when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// The peak resident memory of this process, in bytes (Linux; None elsewhere).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
