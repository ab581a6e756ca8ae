//! `blindfold eval model.bfc --dataset PATH [--limit N] [--json]`: encrypted inference over a
//! test set, compared with the original network and the cleartext simulation of the circuit.
//! `--mode simulate` runs the simulation alone (no keys, no encryption): the accuracy the
//! circuit's arithmetic gives on a whole test set, in a fraction of the encrypted time, which
//! encrypted runs match on the images where both are measured.

use super::files::{circuit_of, mb};
use super::measure::{
    argmax, find_onnx, median_p90, ms, peak_memory_bytes, Cleartext, ImageResult, Session,
};
use super::records::Records;
use super::CacheArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `blindfold eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The compiled circuit (.bfc), or an ONNX model (compiled with the default options).
    model: PathBuf,
    /// The test set: IDX files or a folder holding them (MNIST, KMNIST, Fashion-MNIST; .gz or
    /// not), a KMNIST .npz, CIFAR-10 python or binary batches (or their folder), a folder or
    /// tar of images with one sub-folder per class, or a folder of bundled samples.
    #[arg(long)]
    dataset: PathBuf,
    /// Evaluate the first N images only.
    #[arg(long)]
    limit: Option<usize>,
    /// The ONNX model for the plaintext column when MODEL is a circuit (default: the model
    /// named in the circuit, next to it or in models/).
    #[arg(long)]
    onnx: Option<PathBuf>,
    /// Print one JSON object with the results.
    #[arg(long)]
    json: bool,
    /// Append one JSON line per image to this file as it completes; images it already holds
    /// (same circuit, same images) are not evaluated again but counted in the results. Lets an
    /// evaluation of hours stop and go on in a later run.
    #[arg(long, value_name = "FILE")]
    records: Option<PathBuf>,
    /// `encrypted`: keys, encryption, the server's run and decryption for every image;
    /// `simulate`: the cleartext simulation of the circuit only, against the original network.
    #[arg(long, value_enum, default_value_t = EvalMode::Encrypted)]
    mode: EvalMode,
    #[command(flatten)]
    cache: CacheArgs,
}

/// What `eval` runs on every image besides the original network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalMode {
    /// Encrypted inference, compared with the simulation and the original network.
    Encrypted,
    /// The cleartext simulation of the circuit (the arithmetic of the circuit without CKKS
    /// noise), compared with the original network.
    Simulate,
}

/// Runs `eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let mut notes = Vec::new();
    let circuit = circuit_of(&args.model, &mut notes)?;
    let onnx = if super::inspect::is_circuit(&args.model) {
        args.onnx
            .clone()
            .or_else(|| find_onnx(&args.model, &circuit))
    } else {
        Some(args.model.clone())
    };
    if onnx.is_none() {
        notes.push(format!(
            "the ONNX model {}.onnx was not found: no plaintext column (pass --onnx)",
            circuit.meta.model
        ));
    }
    let images = blindfold::dataset::load(&args.dataset, args.limit)
        .with_context(|| format!("reading {}", args.dataset.display()))?;
    anyhow::ensure!(
        !images.is_empty(),
        "{} holds no image",
        args.dataset.display()
    );
    if args.mode == EvalMode::Simulate {
        anyhow::ensure!(
            args.records.is_none(),
            "--records keeps encrypted results; drop it with --mode simulate (a simulation is \
             fast enough to run whole)"
        );
        return simulate(args, &circuit, onnx.as_deref(), &images, &notes);
    }
    let (mut records, mut results) = match &args.records {
        Some(path) => {
            let (records, done) = Records::open(path, &circuit.fingerprint_hex(), &images)?;
            if !done.is_empty() {
                notes.push(format!(
                    "{} of the {} images were read from {} (evaluated by an earlier run)",
                    done.len(),
                    images.len(),
                    path.display()
                ));
            }
            (Some(records), done)
        }
        None => (None, Vec::with_capacity(images.len())),
    };
    let session = Session::new(circuit, onnx.as_deref(), args.cache)?;
    let mut progress = Progress::new(images.len(), results.len());
    for image in &images[results.len()..] {
        let r = session
            .classify(image)
            .with_context(|| format!("classifying {}", image.source))?;
        if let Some(records) = &mut records {
            records.append(image, &r)?;
        }
        results.push(r);
        progress.update(&results);
    }
    progress.finish();
    let summary = Summary::new(&results);
    let circuit = session.server.circuit();
    let p = &circuit.params;
    let latency = |f: fn(&ImageResult) -> std::time::Duration| {
        let v: Vec<f64> = results.iter().map(|r| ms(f(r))).collect();
        median_p90(&v)
    };
    let phases = [
        ("encrypt", latency(|r| r.encrypt)),
        ("run", latency(|r| r.run)),
        ("decrypt", latency(|r| r.decrypt)),
    ];
    let peak = peak_memory_bytes();
    let out_of_range = results
        .iter()
        .filter(|r| circuit.meta.out_of_range(&r.encrypted).is_some())
        .count();
    let logit_errors = results
        .iter()
        .map(|r| {
            let plain = r.plain.as_deref()?;
            Some(LogitError::of(plain, &r.encrypted, plain))
        })
        .collect::<Option<Vec<_>>>()
        .map(|e| LogitErrors::of(&e));
    // The encryption's own error, against the circuit's cleartext simulation: what the choice
    // of parameters answers for, apart from the activations' polynomial approximations.
    let ckks_errors = LogitErrors::of(
        &results
            .iter()
            .map(|r| {
                let logits = r.plain.as_deref().unwrap_or(&r.simulated);
                LogitError::of(&r.simulated, &r.encrypted, logits)
            })
            .collect::<Vec<_>>(),
    );
    if args.json {
        let mut lat = serde_json::Map::new();
        for (name, (median, p90)) in phases {
            lat.insert(
                name.into(),
                serde_json::json!({ "median": median, "p90": p90 }),
            );
        }
        lat.insert("keygen".into(), serde_json::json!(ms(session.keygen)));
        let obj = serde_json::json!({
            "model": circuit.meta.model,
            "dataset": args.dataset.display().to_string(),
            "images": results.len(),
            "labelled": summary.labelled,
            "plaintext_accuracy": summary.plaintext_accuracy,
            "simulated_accuracy": summary.simulated_accuracy,
            "encrypted_accuracy": summary.encrypted_accuracy,
            "agreement": summary.agreement_simulated,
            "agreement_plaintext": summary.agreement_plaintext,
            "max_logit_error": summary.max_logit_error,
            "logit_error": logit_errors.as_ref().map(LogitErrors::to_json),
            "ckks_error": ckks_errors.to_json(),
            "max_noise": summary.max_noise,
            "out_of_range_images": out_of_range,
            "latency_ms": lat,
            "throughput_images_per_s": summary.throughput,
            "peak_memory_bytes": peak,
            "eval_key_bytes": session.eval_key_bytes,
            "input_bytes": results.first().map(|r| r.input_bytes),
            "output_bytes": results.first().map(|r| r.output_bytes),
            "params": params_json(circuit),
            "notes": notes,
        });
        println!("{obj}");
        return Ok(());
    }
    for note in &notes {
        eprintln!("note: {note}");
    }
    println!(
        "model        {} (N = 2^{}, scale 2^{}, {} levels, {}-bit security)",
        circuit.meta.model,
        p.log_n,
        p.log_scale,
        circuit.input.level,
        p.security.bits()
    );
    println!(
        "images       {} from {}",
        results.len(),
        args.dataset.display()
    );
    println!(
        "accuracy     plaintext {}, simulated {}, encrypted {}",
        pct(summary.plaintext_accuracy),
        pct(summary.simulated_accuracy),
        pct(summary.encrypted_accuracy)
    );
    println!(
        "agreement    encrypted = simulated on {}, encrypted = plaintext on {}",
        pct(Some(summary.agreement_simulated)),
        pct(summary.agreement_plaintext)
    );
    println!(
        "logit error  max {:.3e} (CKKS noise alone: {:.3e})",
        summary.max_logit_error, summary.max_noise
    );
    if let Some(e) = &logit_errors {
        println!(
            "             median {:.3e}, p99 {:.3e} against the original network; within 1% of \
             the image's logit range on {}",
            e.median,
            e.p99,
            pct(Some(e.within_one_percent))
        );
    }
    println!(
        "             CKKS noise alone (against the simulation): median {:.3e}, within 1% of the \
         image's logit range on {}",
        ckks_errors.median,
        pct(Some(ckks_errors.within_one_percent))
    );
    if out_of_range > 0 {
        println!(
            "warning      {out_of_range} image(s) with scores out of the calibrated range \
             (an activation left its polynomial's interval: their classes are unreliable)"
        );
    }
    for (name, (median, p90)) in phases {
        println!("{name:<12} median {median:.1} ms, p90 {p90:.1} ms");
    }
    println!(
        "keygen       {:.1} ms, evaluation keys {}",
        ms(session.keygen),
        mb(session.eval_key_bytes)
    );
    println!(
        "throughput   {:.2} images/s (one image at a time: encryption, run and decryption)",
        summary.throughput
    );
    if let Some(peak) = peak {
        println!("peak memory  {}", mb(peak as usize));
    }
    Ok(())
}

/// `--mode simulate`: the original network and the cleartext simulation on every image.
fn simulate(
    args: &EvalArgs,
    circuit: &blindfold::runtime::circuit::Circuit,
    onnx: Option<&std::path::Path>,
    images: &[blindfold::dataset::Image],
    notes: &[String],
) -> Result<()> {
    let cleartext = Cleartext::new(circuit, onnx)?;
    let mut scores = Vec::with_capacity(images.len());
    let mut times = Vec::with_capacity(images.len());
    let step = (images.len() / 10).max(1);
    for (i, image) in images.iter().enumerate() {
        let x = blindfold::client::preprocess(circuit, image)
            .with_context(|| format!("preprocessing {}", image.source))?;
        let start = Instant::now();
        let (plain, simulated) = cleartext
            .scores(&x)
            .with_context(|| format!("simulating {}", image.source))?;
        times.push(ms(start.elapsed()));
        scores.push((image.label, plain, simulated));
        if (i + 1) % step == 0 {
            eprintln!("{}/{} simulated", i + 1, images.len());
        }
    }
    let labelled: Vec<_> = scores.iter().filter(|s| s.0.is_some()).collect();
    let with_plain = scores.iter().all(|s| s.1.is_some());
    let accuracy =
        |right: usize| (!labelled.is_empty()).then(|| right as f64 / labelled.len() as f64);
    let simulated_accuracy = accuracy(labelled.iter().filter(|s| argmax(&s.2) == s.0).count());
    let plaintext_accuracy = with_plain
        .then(|| {
            accuracy(
                labelled
                    .iter()
                    .filter(|s| s.1.as_deref().and_then(argmax) == s.0)
                    .count(),
            )
        })
        .flatten();
    let (agreement, logit_errors) = if with_plain {
        let same = scores
            .iter()
            .filter(|s| s.1.as_deref().and_then(argmax) == argmax(&s.2))
            .count();
        let errors: Vec<LogitError> = scores
            .iter()
            .filter_map(|s| {
                let plain = s.1.as_deref()?;
                Some(LogitError::of(plain, &s.2, plain))
            })
            .collect();
        (
            Some(same as f64 / scores.len().max(1) as f64),
            Some(LogitErrors::of(&errors)),
        )
    } else {
        (None, None)
    };
    let max_logit_error = logit_errors.as_ref().map(|e| e.max);
    let out_of_range = scores
        .iter()
        .filter(|s| circuit.meta.out_of_range(&s.2).is_some())
        .count();
    let (median, p90) = median_p90(&times);
    if args.json {
        let obj = serde_json::json!({
            "model": circuit.meta.model,
            "dataset": args.dataset.display().to_string(),
            "mode": "simulate",
            "images": scores.len(),
            "labelled": labelled.len(),
            "plaintext_accuracy": plaintext_accuracy,
            "simulated_accuracy": simulated_accuracy,
            "agreement_plaintext": agreement,
            "max_logit_error": max_logit_error,
            "logit_error": logit_errors.as_ref().map(LogitErrors::to_json),
            "out_of_range_images": out_of_range,
            "latency_ms": { "simulate": { "median": median, "p90": p90 } },
            "peak_memory_bytes": peak_memory_bytes(),
            "params": params_json(circuit),
            "notes": notes,
        });
        println!("{obj}");
        return Ok(());
    }
    for note in notes {
        eprintln!("note: {note}");
    }
    println!(
        "model        {} (simulated in the clear: no keys, no encryption)",
        circuit.meta.model
    );
    println!(
        "images       {} from {}",
        scores.len(),
        args.dataset.display()
    );
    println!(
        "accuracy     plaintext {}, simulated {}",
        pct(plaintext_accuracy),
        pct(simulated_accuracy)
    );
    println!("agreement    simulated = plaintext on {}", pct(agreement));
    if let Some(e) = &logit_errors {
        println!(
            "logit error  median {:.3e}, p99 {:.3e}, max {:.3e} (the circuit against the original \
             network); within 1% of the image's logit range on {}, diverged on {} image(s)",
            e.median,
            e.p99,
            e.max,
            pct(Some(e.within_one_percent)),
            e.diverged
        );
    }
    if out_of_range > 0 {
        println!(
            "warning      {out_of_range} image(s) with scores out of the calibrated range \
             (an activation left its polynomial's interval: their classes are unreliable)"
        );
    }
    println!("simulate     median {median:.1} ms, p90 {p90:.1} ms per image");
    Ok(())
}

/// The circuit's parameters as `eval --json` reports them.
fn params_json(circuit: &blindfold::runtime::circuit::Circuit) -> serde_json::Value {
    let p = &circuit.params;
    serde_json::json!({
        "log_n": p.log_n,
        "log_scale": p.log_scale,
        "levels": circuit.input.level,
        "security_bits": p.security.bits(),
    })
}

/// A rate as a percentage with two decimals, `-` when unknown.
fn pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a))
}

/// Accuracies and agreement rates over the evaluated images.
struct Summary {
    labelled: usize,
    plaintext_accuracy: Option<f64>,
    simulated_accuracy: Option<f64>,
    encrypted_accuracy: Option<f64>,
    agreement_simulated: f64,
    agreement_plaintext: Option<f64>,
    max_logit_error: f64,
    max_noise: f64,
    throughput: f64,
}

impl Summary {
    fn new(results: &[ImageResult]) -> Self {
        let n = results.len().max(1) as f64;
        let labelled: Vec<&ImageResult> = results.iter().filter(|r| r.label.is_some()).collect();
        let accuracy = |scores: fn(&ImageResult) -> Option<&[f64]>| -> Option<f64> {
            if labelled.is_empty() || labelled.iter().any(|r| scores(r).is_none()) {
                return None;
            }
            let right = labelled
                .iter()
                .filter(|r| scores(r).and_then(argmax) == r.label)
                .count();
            Some(right as f64 / labelled.len() as f64)
        };
        let with_plain = results.iter().all(|r| r.plain.is_some());
        let agree = |f: fn(&ImageResult) -> Option<usize>| {
            results
                .iter()
                .filter(|r| argmax(&r.encrypted) == f(r))
                .count() as f64
                / n
        };
        Self {
            labelled: labelled.len(),
            plaintext_accuracy: accuracy(|r| r.plain.as_deref()),
            simulated_accuracy: accuracy(|r| Some(&r.simulated)),
            encrypted_accuracy: accuracy(|r| Some(&r.encrypted)),
            agreement_simulated: agree(|r| argmax(&r.simulated)),
            agreement_plaintext: with_plain.then(|| agree(|r| r.plain.as_deref().and_then(argmax))),
            max_logit_error: results
                .iter()
                .map(ImageResult::max_logit_error)
                .fold(0.0, f64::max),
            max_noise: results.iter().map(ImageResult::noise).fold(0.0, f64::max),
            throughput: results.len() as f64
                / results
                    .iter()
                    .map(|r| (r.encrypt + r.run + r.decrypt).as_secs_f64())
                    .sum::<f64>()
                    .max(1e-9),
        }
    }
}

/// A progress bar on stderr (a line every 10% when stderr is not a terminal).
struct Progress {
    total: usize,
    /// Images read from `--records`, not timed by this run.
    resumed: usize,
    terminal: bool,
    start: Instant,
}

impl Progress {
    fn new(total: usize, resumed: usize) -> Self {
        Self {
            total,
            resumed,
            terminal: std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }

    fn update(&mut self, results: &[ImageResult]) {
        let done = results.len();
        let step = (self.total / 10).max(1);
        if !self.terminal && !done.is_multiple_of(step) && done != self.total {
            return;
        }
        let right = results
            .iter()
            .filter(|r| r.label.is_some() && argmax(&r.encrypted) == r.label)
            .count();
        let width = 30;
        let filled = width * done / self.total.max(1);
        let elapsed = self.start.elapsed().as_secs_f64();
        let timed = done.saturating_sub(self.resumed).max(1);
        let eta = elapsed / timed as f64 * (self.total - done) as f64;
        let line = format!(
            "[{}{}] {done}/{} encrypted accuracy {:.2}%, {:.0} s left",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.total,
            100.0 * right as f64 / done.max(1) as f64,
            eta
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

/// The largest logit error of one image against a reference (the original network, or the
/// cleartext simulation), and the spread of that image's original logits it is measured against.
#[derive(Clone, Copy, Debug)]
struct LogitError {
    error: f64,
    range: f64,
}

impl LogitError {
    /// `other` against `reference`, relative to the spread of `logits`: the original network's
    /// scores when known, so that a reference that diverged itself does not widen the spread.
    fn of(reference: &[f64], other: &[f64], logits: &[f64]) -> Self {
        let (lo, hi) = logits
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        Self {
            error: super::measure::max_abs_diff(reference, other),
            range: (hi - lo).max(0.0),
        }
    }
}

/// Logit errors over a test set: their distribution, how many images stay within 1% of their
/// logit range (the project's precision target), and how many diverged (an error larger than
/// the whole spread of the image's logits: an activation left its polynomial's interval).
#[derive(Clone, Debug)]
struct LogitErrors {
    median: f64,
    p99: f64,
    max: f64,
    within_one_percent: f64,
    diverged: usize,
}

impl LogitErrors {
    fn of(errors: &[LogitError]) -> Self {
        let values: Vec<f64> = errors.iter().map(|e| e.error).collect();
        let within = errors.iter().filter(|e| e.error <= 0.01 * e.range).count();
        Self {
            median: super::measure::quantile(&values, 0.5),
            p99: super::measure::quantile(&values, 0.99),
            max: values.iter().copied().fold(0.0, f64::max),
            within_one_percent: within as f64 / errors.len().max(1) as f64,
            diverged: errors.iter().filter(|e| e.error > e.range).count(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "median": self.median,
            "p99": self.p99,
            "max": self.max,
            "within_1pct_of_range": self.within_one_percent,
            "diverged_images": self.diverged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diverged_image_counts_as_diverged_not_as_exact() {
        let plain = [2.0, -1.0, 0.5];
        let close = LogitError::of(&plain, &[2.01, -1.0, 0.5], &plain);
        let nan = LogitError::of(&[f64::NAN; 3], &[40.0, 7.0, -300.0], &plain);
        let garbage = LogitError::of(&[1e35, -2e35, 3e34], &[40.0, 7.0, -300.0], &plain);
        let errors = LogitErrors::of(&[close, nan, garbage]);
        assert_eq!(errors.diverged, 2);
        assert!((errors.within_one_percent - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(errors.max, f64::INFINITY);
    }
}
