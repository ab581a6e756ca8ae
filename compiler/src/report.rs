//! The inspect report of a compiled circuit: what it costs and what it needs, before anything
//! is encrypted.
//!
//! Per layer: levels consumed, rotations, plaintext multiplications and key switches (counted
//! by running the circuit on the runtime's counting backend: the same interpreter as the real
//! execution). Totals, the parameter set, the evaluation-key and ciphertext sizes, and the
//! predicted accuracy. Rendered as a table or as JSON (field names in `docs/circuit.md`).

use blindfold_runtime::circuit::{Circuit, ValueId};
use blindfold_runtime::exec::{count_steps, key_levels, CkksBackend, Counts};
use serde_json::{json, Value};
use std::collections::HashMap;

use crate::error::Result;

/// Costs of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    /// Layer name(s) from the network.
    pub name: String,
    /// What the layer does.
    pub kind: String,
    /// Input tensor shape.
    pub input_shape: Vec<usize>,
    /// Output tensor shape.
    pub output_shape: Vec<usize>,
    /// Level of the layer's inputs.
    pub level_in: usize,
    /// Level of the layer's outputs.
    pub level_out: usize,
    /// Operation counts.
    pub counts: Counts,
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per layer, in execution order.
    pub layers: Vec<LayerReport>,
    /// Totals.
    pub totals: Counts,
    /// Levels consumed.
    pub depth: usize,
    /// log2 of the ring degree.
    pub log_n: u32,
    /// log2 of Q (ciphertext modulus at the top level).
    pub log_q: f64,
    /// log2 of Q·P.
    pub log_qp: f64,
    /// Security level the parameters satisfy.
    pub security_bits: u32,
    /// log2 of the scale.
    pub scale_bits: u32,
    /// Key-switching digits.
    pub dnum: usize,
    /// Bit sizes of the ciphertext primes.
    pub q_bits: Vec<u32>,
    /// Bit sizes of the special primes.
    pub p_bits: Vec<u32>,
    /// Galois keys the server needs.
    pub rotation_keys: usize,
    /// Size of the evaluation keys (relinearization + rotations, each restricted to the highest
    /// level the circuit uses it at) as written to a file.
    pub eval_key_bytes: u64,
    /// Size of the input ciphertexts as written to a file.
    pub input_ciphertext_bytes: u64,
    /// Size of the output ciphertexts as written to a file.
    pub output_ciphertext_bytes: u64,
    /// Number of input ciphertexts.
    pub input_ciphertexts: usize,
    /// Number of output ciphertexts.
    pub output_ciphertexts: usize,
    /// Plaintext operands of one run (diagonals, biases, masks).
    pub plaintext_operands: usize,
    /// The server memory they take when all are kept, encoded once at start-up (below it, the
    /// rest are encoded at each run).
    pub plaintext_bytes: u64,
}

fn bits(p: u64) -> u32 {
    64 - p.leading_zeros()
}

impl Report {
    /// Builds the report of a validated circuit.
    pub fn new(circuit: &Circuit) -> Result<Self> {
        let spec = &circuit.params;
        let per_step = count_steps(circuit)?;
        let key_levels = key_levels(circuit)?;
        let mut levels: HashMap<ValueId, usize> = circuit
            .input
            .values
            .iter()
            .map(|&v| (v, circuit.input.level))
            .collect();
        let mut layers: Vec<LayerReport> = Vec::new();
        let mut index_of_layer: HashMap<u32, usize> = HashMap::new();
        let mut totals = Counts::default();
        for (step, counts) in circuit.steps.iter().zip(per_step) {
            totals = totals + counts;
            let level_in = step
                .instr
                .operands()
                .iter()
                .filter_map(|v| levels.get(v))
                .copied()
                .max()
                .unwrap_or(step.level);
            for d in step.instr.results() {
                levels.insert(d, step.level);
            }
            let slot = *index_of_layer.entry(step.layer).or_insert_with(|| {
                let info = circuit.layers.get(step.layer as usize);
                layers.push(LayerReport {
                    name: info.map_or_else(String::new, |l| l.name.clone()),
                    kind: info.map_or_else(String::new, |l| l.kind.clone()),
                    input_shape: info.map_or_else(Vec::new, |l| l.input_shape.clone()),
                    output_shape: info.map_or_else(Vec::new, |l| l.output_shape.clone()),
                    level_in,
                    level_out: step.level,
                    counts: Counts::default(),
                });
                layers.len() - 1
            });
            let l = &mut layers[slot];
            l.level_in = l.level_in.max(level_in);
            l.level_out = l.level_out.min(step.level);
            l.counts = l.counts + counts;
        }
        let level_of = |values: &[ValueId]| {
            values
                .iter()
                .filter_map(|v| levels.get(v))
                .copied()
                .min()
                .unwrap_or(0)
        };
        let depth = circuit.input.level - level_of(&levels.keys().copied().collect::<Vec<_>>());
        let rotation_keys = circuit.rotations.len();
        let (plaintext_operands, plaintext_bytes) = CkksBackend::plaintext_operands(circuit)?;
        Ok(Self {
            layers,
            totals,
            depth,
            log_n: spec.log_n,
            log_q: spec.q.iter().map(|&q| (q as f64).log2()).sum(),
            log_qp: spec.log_qp(),
            security_bits: spec.security.bits(),
            scale_bits: spec.log_scale,
            dnum: spec.dnum,
            q_bits: spec.q.iter().map(|&q| bits(q)).collect(),
            p_bits: spec.p.iter().map(|&p| bits(p)).collect(),
            rotation_keys,
            eval_key_bytes: key_levels.eval_keys_len(spec),
            input_ciphertext_bytes: circuit.input.values.len() as u64
                * spec.ciphertext_len(circuit.input.level, 2),
            output_ciphertext_bytes: circuit.output.values.len() as u64
                * spec.ciphertext_len(level_of(&circuit.output.values), 2),
            input_ciphertexts: circuit.input.values.len(),
            output_ciphertexts: circuit.output.values.len(),
            plaintext_operands,
            plaintext_bytes: plaintext_bytes as u64,
        })
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// The report as a human-readable text table.
pub fn to_text(circuit: &Circuit, r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "circuit   {}", circuit.meta.model);
    let _ = writeln!(
        s,
        "params    N = 2^{}, log2 Q = {:.1}, log2 QP = {:.1}, {}-bit security, scale 2^{}, dnum {}",
        r.log_n, r.log_q, r.log_qp, r.security_bits, r.scale_bits, r.dnum
    );
    let _ = writeln!(
        s,
        "chain     q = {:?} bits, p = {:?} bits",
        r.q_bits, r.p_bits
    );
    let _ = writeln!(
        s,
        "depth     {} levels; input at level {}",
        r.depth, circuit.input.level
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<4} {:<44} {:>9} {:>5} {:>5} {:>6} {:>6}  shape",
        "#", "layer", "levels", "rot", "ks", "ptmul", "ctmul"
    );
    for (i, l) in r.layers.iter().enumerate() {
        let _ = writeln!(
            s,
            "{:<4} {:<44} {:>4}->{:<4} {:>5} {:>5} {:>6} {:>6}  {:?} -> {:?}",
            i,
            truncate(&l.kind, 44),
            l.level_in,
            l.level_out,
            l.counts.rotations,
            l.counts.key_switches,
            l.counts.pt_mults,
            l.counts.ct_mults,
            l.input_shape,
            l.output_shape
        );
    }
    let t = &r.totals;
    let _ = writeln!(
        s,
        "{:<4} {:<44} {:>9} {:>5} {:>5} {:>6} {:>6}",
        "", "total", r.depth, t.rotations, t.key_switches, t.pt_mults, t.ct_mults
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "keys      {} rotation keys + relinearization key: {} of evaluation keys",
        r.rotation_keys,
        human_bytes(r.eval_key_bytes)
    );
    let _ = writeln!(
        s,
        "data      input {} ciphertext(s), {}; output {} ciphertext(s), {}",
        r.input_ciphertexts,
        human_bytes(r.input_ciphertext_bytes),
        r.output_ciphertexts,
        human_bytes(r.output_ciphertext_bytes)
    );
    let _ = writeln!(
        s,
        "server    {} plaintext operands, {} when all are kept (--plaintext-cache-mib {})",
        r.plaintext_operands,
        human_bytes(r.plaintext_bytes),
        r.plaintext_bytes.div_ceil(1 << 20)
    );
    for a in &circuit.meta.activations {
        let _ = writeln!(
            s,
            "approx    {}: {} ~ degree {} on [{:.3}, {:.3}]",
            a.layer, a.function, a.degree, a.interval.0, a.interval.1
        );
    }
    match &circuit.meta.calibration {
        Some(c) => {
            let _ = writeln!(
                s,
                "accuracy  original {:.2}%, predicted (cleartext simulation) {:.2}% on {} calibration images",
                100.0 * c.original_accuracy,
                100.0 * c.simulated_accuracy,
                c.labelled
            );
        }
        None => {
            let _ = writeln!(
                s,
                "accuracy  not predicted (compiled without labelled calibration data)"
            );
        }
    }
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

fn counts_json(c: &Counts) -> Value {
    json!({
        "rotations": c.rotations,
        "key_switches": c.key_switches,
        "hoisted_groups": c.hoisted_groups,
        "plaintext_mults": c.pt_mults,
        "ciphertext_mults": c.ct_mults,
        "constant_mults": c.const_mults,
        "rescales": c.rescales,
        "additions": c.additions + c.plain_additions,
        "encodes": c.encodes,
    })
}

/// The report as JSON (field names documented in `docs/circuit.md`).
pub fn to_json(circuit: &Circuit, r: &Report) -> Value {
    json!({
        "model": circuit.meta.model,
        "log_n": r.log_n,
        "ring_degree": 1u64 << r.log_n,
        "log_q": r.log_q,
        "log_qp": r.log_qp,
        "security_bits": r.security_bits,
        "scale_bits": r.scale_bits,
        "dnum": r.dnum,
        "q_bits": r.q_bits,
        "p_bits": r.p_bits,
        "depth": r.depth,
        "input_level": circuit.input.level,
        "rotation_keys": r.rotation_keys,
        "rotation_steps": circuit.rotations,
        "eval_key_bytes": r.eval_key_bytes,
        "input_ciphertexts": r.input_ciphertexts,
        "input_ciphertext_bytes": r.input_ciphertext_bytes,
        "output_ciphertexts": r.output_ciphertexts,
        "output_ciphertext_bytes": r.output_ciphertext_bytes,
        "plaintext_operands": r.plaintext_operands,
        "plaintext_bytes": r.plaintext_bytes,
        "totals": counts_json(&r.totals),
        "layers": r.layers.iter().map(|l| json!({
            "name": l.name,
            "kind": l.kind,
            "input_shape": l.input_shape,
            "output_shape": l.output_shape,
            "level_in": l.level_in,
            "level_out": l.level_out,
            "levels_consumed": l.level_in.saturating_sub(l.level_out),
            "counts": counts_json(&l.counts),
        })).collect::<Vec<_>>(),
        "activations": circuit.meta.activations.iter().map(|a| json!({
            "layer": a.layer, "function": a.function, "degree": a.degree,
            "interval": [a.interval.0, a.interval.1],
        })).collect::<Vec<_>>(),
        "predicted_accuracy": circuit.meta.calibration.as_ref().map(|c| json!({
            "images": c.images,
            "labelled": c.labelled,
            "original": c.original_accuracy,
            "simulated": c.simulated_accuracy,
        })),
    })
}
