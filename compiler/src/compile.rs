//! The compile driver: an imported model and calibration images in, a validated circuit out.
//!
//! calibrate (exact network) → fuse polynomial activations → normalise the channels of ReLU
//! inputs → approximate ReLU/sigmoid/tanh
//! (given degree, or the lowest degree within the accuracy budget) → depth → parameters (the
//! scale given, or the cheapest whose estimated CKKS noise keeps the outputs accurate) →
//! lower → simulate the circuit on the calibration images (accuracy, agreement with the IR).

use crate::error::{CompileError, Result};
use crate::import::Model;
use crate::ir::{Graph, Op, Tensor};
use crate::params::{self, ParamsRequest};
use crate::{lower, reference};
use blindfold_runtime::circuit::{ActivationInfo, CalibrationInfo, Circuit, Metadata, Preprocess};
use blindfold_runtime::ckks::{CkksParamsSpec, SecurityLevel};
use blindfold_runtime::exec::{Encryption, NoiseEstimator, Simulator};
use rayon::prelude::*;

/// Degrees tried by the automatic search: degree `2^k − 1` costs `k` levels, the most a
/// polynomial of depth `k` can have. The search stops at the first degree meeting the
/// accuracy criteria; 127 is what `cifar10_relu` needs (98.4% of its calibration classes kept
/// at 63, 99.7% at 127), at a cost of one level per activation and more server time
/// (docs/results.md).
pub const AUTO_DEGREES: [usize; 6] = [3, 7, 15, 31, 63, 127];

/// Options of [`compile`].
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Degree of the ReLU/sigmoid/tanh polynomials; `None` = the lowest degree of
    /// [`AUTO_DEGREES`] within `max_accuracy_drop`, `min_agreement` and `max_logit_error`.
    pub relu_degree: Option<usize>,
    /// Degrees of single activations, by ONNX node name, overriding `relu_degree` and the
    /// automatic search for those nodes.
    pub degree_overrides: std::collections::BTreeMap<String, usize>,
    /// Accuracy the approximation may lose on the calibration set, in percentage points.
    pub max_accuracy_drop: f64,
    /// Fraction of the calibration images that must keep the original network's class with
    /// polynomial activations.
    pub min_agreement: f64,
    /// Largest median logit error against the original network on the calibration images, as
    /// a fraction of the spread of the network's outputs. The automatic degree meets this,
    /// `min_agreement` and `max_accuracy_drop`: the calibration images come from the training
    /// split, where a network's margins are wider than on new images, so agreement there
    /// overstates agreement on new images, while the logit error does not depend on margins.
    pub max_logit_error: f64,
    /// log2 of the CKKS scale; `None` = automatic: the cheapest parameter set whose
    /// estimated CKKS error keeps the outputs accurate (see [`NoiseReport`]).
    pub scale_bits: Option<u32>,
    /// Security level of the parameters.
    pub security: SecurityLevel,
    /// Trade server time for smaller evaluation keys ([`lower::LowerOptions::small_keys`]).
    pub small_keys: bool,
    /// Fit each ReLU polynomial to every channel's own range, folding the rescaling into the
    /// neighbouring layers (`passes::NormaliseReluInputs`); `false` fits it to the widest
    /// channel's range.
    pub per_channel_relu: bool,
    /// Remove the average error of each activation polynomial, per channel, through the bias
    /// of the layer reading it (`passes::correct_activation_bias`, measured on the calibration
    /// images the degree search uses).
    pub correct_bias: bool,
    /// How image files become the input tensor (recorded in the circuit for the client).
    pub preprocess: Preprocess,
    /// Name recorded in the circuit.
    pub model_name: String,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            relu_degree: None,
            degree_overrides: Default::default(),
            max_accuracy_drop: 0.5,
            min_agreement: DEFAULT_MIN_AGREEMENT,
            max_logit_error: DEFAULT_MAX_LOGIT_ERROR,
            scale_bits: None,
            security: SecurityLevel::Classical128,
            small_keys: false,
            per_channel_relu: true,
            correct_bias: true,
            preprocess: Preprocess {
                channels: 1,
                height: 1,
                width: 1,
                pixel_scale: 1.0 / 255.0,
                mean: vec![],
                std: vec![],
            },
            model_name: String::new(),
        }
    }
}

/// Calibration images (input tensors) with optional labels.
#[derive(Clone, Debug, Default)]
pub struct Calibration {
    /// Input tensors, each of the model's input shape.
    pub images: Vec<Tensor>,
    /// Labels, one per image (`None` when unknown).
    pub labels: Vec<Option<usize>>,
}

/// The result of [`compile`].
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The validated circuit.
    pub circuit: Circuit,
    /// The IR with polynomial activations (what the circuit computes exactly).
    pub graph: Graph,
    /// The activation degree used (`None` when the network has no activation to approximate).
    pub degree: Option<usize>,
    /// Largest relative difference between the cleartext circuit and the IR on the
    /// calibration images (relative to the largest |output|).
    pub max_simulation_error: f64,
    /// The predicted CKKS error of the chosen parameters (`None` without calibration images).
    pub noise: Option<NoiseReport>,
    /// Every activation degree tried, in order, with what it measured on the calibration
    /// images; the last one is the degree used.
    pub degree_search: Vec<DegreeTrial>,
    /// Whether the degree was searched ([`CompileOptions::relu_degree`] was `None`), so that a
    /// degree missing the criteria is the search running out, not the user's choice.
    pub automatic_degree: bool,
}

impl Compiled {
    /// The warning a user should see when the automatic degree search ran out of degrees: the
    /// circuit uses the highest one tried, which misses the accuracy criteria asked for (or
    /// their defaults). Names the missed criteria and the flags that trade depth for them;
    /// `None` when a degree met them or the user chose the degree.
    pub fn degree_warning(&self) -> Option<String> {
        search_warning(self.automatic_degree, &self.degree_search)
    }
}

/// [`Compiled::degree_warning`] from its parts.
fn search_warning(automatic: bool, search: &[DegreeTrial]) -> Option<String> {
    if !automatic {
        return None;
    }
    let last = search.last().filter(|t| !t.accepted())?;
    Some(format!(
        "warning: no automatic activation degree up to {d} meets the accuracy criteria, and the \
         circuit uses degree {d}: {unmet}. A higher degree costs one level per doubling and \
         server time (--relu-degree {next}, or --degree NODE={next} on single activations); to \
         accept this circuit, relax the criteria.",
        d = last.degree,
        unmet = last.unmet.join("; "),
        next = 2 * last.degree + 1,
    ))
}

/// One degree tried by the activation degree search.
#[derive(Clone, Debug, PartialEq)]
pub struct DegreeTrial {
    /// The degree of the activations without an override.
    pub degree: usize,
    /// Accuracy of the network with polynomial activations on the calibration images (or its
    /// agreement with the original network when they have no labels), in `[0, 1]`.
    pub accuracy: f64,
    /// Fraction of the calibration images whose class equals the original network's.
    pub agreement: f64,
    /// Median over the calibration images of the largest logit error against the original
    /// network, as a fraction of the spread of the original network's outputs.
    pub median_logit_error: f64,
    /// The criteria (`max_accuracy_drop`, `min_agreement`, `max_logit_error`) it missed, each
    /// with its measure and its bound (e.g. "same class on 98.40% of the calibration images,
    /// below --min-agreement 99.00%"); empty when it met them all.
    pub unmet: Vec<String>,
}

impl DegreeTrial {
    /// Whether it met every criterion.
    pub fn accepted(&self) -> bool {
        self.unmet.is_empty()
    }
}

/// Checks the options before any work.
pub fn check_options(options: &CompileOptions) -> Result<()> {
    if let Some(bits) = options.scale_bits {
        params::check_scale_bits(bits)?;
    }
    if options.relu_degree == Some(0) {
        return Err(CompileError::Options(
            "--relu-degree 0 would replace every activation by a constant; use a degree >= 2 (e.g. 7 or 15), or omit it to choose automatically".into(),
        ));
    }
    if let Some(d) = options.relu_degree {
        if d > 255 {
            return Err(CompileError::Options(format!(
                "--relu-degree {d} is above the supported 255"
            )));
        }
    }
    if !(options.max_logit_error >= 0.0 && options.max_logit_error.is_finite()) {
        return Err(CompileError::Options(format!(
            "--max-logit-error {} must be a percentage >= 0 (of the output range)",
            100.0 * options.max_logit_error
        )));
    }
    if !(options.min_agreement >= 0.0 && options.min_agreement <= 1.0) {
        return Err(CompileError::Options(format!(
            "--min-agreement {} must be between 0 and 100 (percent of the calibration images)",
            100.0 * options.min_agreement
        )));
    }
    if !(options.max_accuracy_drop >= 0.0 && options.max_accuracy_drop <= 100.0) {
        return Err(CompileError::Options(format!(
            "--max-accuracy-drop {} must be between 0 and 100 (percentage points)",
            options.max_accuracy_drop
        )));
    }
    Ok(())
}

fn has_activations(graph: &Graph) -> bool {
    graph.node_ids().into_iter().any(|id| {
        graph
            .node(id)
            .is_ok_and(|n| matches!(n.op, Op::Relu | Op::Sigmoid | Op::Tanh))
    })
}

/// Outputs of `graph` on every image (in parallel).
fn run_all(graph: &Graph, images: &[Tensor]) -> Result<Vec<Tensor>> {
    images
        .par_iter()
        .map(|x| reference::run(graph, x))
        .collect()
}

/// Fraction of labelled images whose argmax equals the label; with no labels, the fraction
/// agreeing with `reference` predictions.
fn accuracy(outputs: &[Vec<f64>], labels: &[Option<usize>], reference: &[usize]) -> f64 {
    let argmax = |v: &Vec<f64>| {
        v.iter()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |b, (i, &x)| if x > b.1 { (i, x) } else { b },
            )
            .0
    };
    let labelled = labels.iter().filter(|l| l.is_some()).count();
    let hits = outputs
        .iter()
        .enumerate()
        .filter(|(i, o)| match labels.get(*i).copied().flatten() {
            Some(l) if labelled > 0 => argmax(o) == l,
            _ if labelled == 0 => reference.get(*i) == Some(&argmax(o)),
            _ => false,
        })
        .count();
    let total = if labelled > 0 {
        labelled
    } else {
        outputs.len()
    };
    hits as f64 / total.max(1) as f64
}

/// The median over images of the largest absolute difference between `a` and `b`.
fn median_error(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let mut errors: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        })
        .collect();
    if errors.is_empty() {
        return 0.0;
    }
    errors.sort_by(f64::total_cmp);
    errors[errors.len() / 2]
}

fn argmaxes(outputs: &[Tensor]) -> Vec<usize> {
    outputs.iter().map(|t| t.argmax().unwrap_or(0)).collect()
}

/// Compiles `model` with the calibration data into a circuit.
pub fn compile(
    model: &Model,
    calibration: &Calibration,
    options: &CompileOptions,
) -> Result<Compiled> {
    check_options(options)?;
    let exact = model.graph.clone();
    let needs_approx = has_activations(&exact);
    if needs_approx && calibration.images.is_empty() {
        return Err(CompileError::Options(
            "the network has ReLU/sigmoid/tanh activations: calibration images are needed to choose the polynomial intervals (pass --calibrate with a dataset, a folder of images or a .npy file)".into(),
        ));
    }
    // Ranges from every image (the tail of the activations matters: a polynomial explodes
    // outside its interval); the searches below on the first SEARCH_IMAGES.
    let ranges = crate::passes::calibrate(&exact, &calibration.images)?;
    let searched = calibration.images.len().min(SEARCH_IMAGES);
    let calibration = &Calibration {
        images: calibration.images[..searched].to_vec(),
        labels: calibration.labels[..searched.min(calibration.labels.len())].to_vec(),
    };
    let exact_outputs = run_all(&exact, &calibration.images)?;
    let exact_pred = argmaxes(&exact_outputs);
    let exact_vecs: Vec<Vec<f64>> = exact_outputs.iter().map(|t| t.data().to_vec()).collect();
    let original_accuracy = accuracy(&exact_vecs, &calibration.labels, &exact_pred);

    let mut fused = exact.clone();
    crate::passes::fuse_polynomials(&mut fused, Some(&ranges))?;
    let mut ranges = ranges;
    if options.per_channel_relu {
        crate::passes::normalise_relu_inputs(&mut fused, &mut ranges)?;
    }

    // The chosen graph with its outputs on the calibration images (reused below).
    let mut degree_search = Vec::new();
    let exact_spread = OutputStats::of(&exact_outputs).range;
    let (graph, degree, poly_outputs) = if needs_approx {
        let candidates: Vec<usize> = match options.relu_degree {
            Some(d) => vec![d],
            None => AUTO_DEGREES.to_vec(),
        };
        let mut chosen = None;
        for &d in &candidates {
            let mut g = fused.clone();
            let mut pm = crate::passes::PassManager::new();
            pm.add(crate::passes::ApproximateActivations::new(
                ranges.clone(),
                crate::passes::ApproxConfig {
                    degree: d,
                    overrides: options.degree_overrides.clone(),
                    ..Default::default()
                },
            ));
            pm.run(&mut g)?;
            if options.correct_bias {
                crate::passes::correct_activation_bias(&mut g, &calibration.images)?;
            }
            let outs = run_all(&g, &calibration.images)?;
            let vecs: Vec<Vec<f64>> = outs.iter().map(|t| t.data().to_vec()).collect();
            let acc = accuracy(&vecs, &calibration.labels, &exact_pred);
            let agreement = argmaxes(&outs)
                .iter()
                .zip(&exact_pred)
                .filter(|(a, b)| a == b)
                .count() as f64
                / exact_pred.len().max(1) as f64;
            let median_logit_error = median_error(&vecs, &exact_vecs) / exact_spread;
            let drop = (original_accuracy - acc) * 100.0;
            let mut unmet = Vec::new();
            if drop > options.max_accuracy_drop + 1e-9 {
                unmet.push(format!(
                    "accuracy {drop:.2} points below the original network's, above \
                     --max-accuracy-drop {:.2}",
                    options.max_accuracy_drop
                ));
            }
            if agreement < options.min_agreement - 1e-12 {
                unmet.push(format!(
                    "same class on {:.2}% of the calibration images, below --min-agreement {:.2}%",
                    100.0 * agreement,
                    100.0 * options.min_agreement
                ));
            }
            if median_logit_error > options.max_logit_error {
                unmet.push(format!(
                    "median logit error {:.2}% of the output range, above --max-logit-error {:.2}%",
                    100.0 * median_logit_error,
                    100.0 * options.max_logit_error
                ));
            }
            let trial = DegreeTrial {
                degree: d,
                accuracy: acc,
                agreement,
                median_logit_error,
                unmet,
            };
            let fits = trial.accepted();
            degree_search.push(trial);
            let last = d == *candidates.last().unwrap_or(&d);
            if fits || last {
                chosen = Some((g, d, outs));
                break;
            }
        }
        let (g, d, outs) =
            chosen.ok_or_else(|| CompileError::Options("no activation degree to try".into()))?;
        (g, Some(d), outs)
    } else {
        let outs = run_all(&fused, &calibration.images)?;
        (fused, None, outs)
    };

    // Integer headroom: the outputs must not wrap modulo q_0.
    let max_out = poly_outputs
        .iter()
        .flat_map(|t| t.data().iter())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let no_images = calibration.images.is_empty();
    let depth = lower::depth(&graph)?;
    let request = |scale_bits: u32| ParamsRequest {
        depth,
        scale_bits,
        headroom_bits: if no_images {
            60u32.saturating_sub(scale_bits + 2)
        } else {
            // Twice the largest calibrated output, at least 2^4.
            ((2.0 * max_out).max(16.0)).log2().ceil() as u32
        },
        security: options.security,
        min_log_n: 12,
    };
    let activations = activation_infos(&graph);
    let mut meta = Metadata {
        model: options.model_name.clone(),
        activations,
        calibration: None,
    };
    let lower_with = |spec: CkksParamsSpec| {
        lower::lower(
            &graph,
            &lower::LowerOptions {
                params: spec,
                preprocess: options.preprocess.clone(),
                meta: meta.clone(),
                small_keys: options.small_keys,
            },
        )
    };
    let stats = OutputStats::of(&poly_outputs);
    let noise_images = &calibration.images[..calibration.images.len().min(NOISE_IMAGES)];
    let (mut circuit, noise) = match options.scale_bits {
        Some(bits) => {
            let circuit = lower_with(params::choose(&request(bits))?)?;
            let noise = (!no_images)
                .then(|| {
                    let std_dev = estimate_noise(&circuit, noise_images)?;
                    Ok::<_, CompileError>(stats.report(bits, false, std_dev))
                })
                .transpose()?;
            (circuit, noise)
        }
        None if no_images => (
            lower_with(params::choose(&request(DEFAULT_SCALE_BITS))?)?,
            None,
        ),
        None => {
            let (circuit, report) = choose_scale(&request, &lower_with, noise_images, &stats)?;
            (circuit, Some(report))
        }
    };

    let simulator = Simulator::new(&circuit)?;
    let simulated: Vec<Vec<f64>> = calibration
        .images
        .par_iter()
        .map(|x| simulator.run(x.data()))
        .collect::<std::result::Result<_, _>>()?;
    let mut max_err = 0.0f64;
    for (s, r) in simulated.iter().zip(&poly_outputs) {
        let scale = r
            .data()
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(1e-12);
        for (a, b) in s.iter().zip(r.data()) {
            max_err = max_err.max((a - b).abs() / scale);
        }
    }
    if !calibration.images.is_empty() {
        let labelled = calibration.labels.iter().filter(|l| l.is_some()).count();
        meta.calibration = Some(CalibrationInfo {
            images: calibration.images.len(),
            labelled,
            original_accuracy,
            simulated_accuracy: accuracy(&simulated, &calibration.labels, &exact_pred),
            max_abs_output: Some(max_out),
        });
        circuit.meta = meta;
    }
    Ok(Compiled {
        circuit,
        graph,
        degree,
        max_simulation_error: max_err,
        noise,
        degree_search,
        automatic_degree: options.relu_degree.is_none(),
    })
}

fn activation_infos(graph: &Graph) -> Vec<ActivationInfo> {
    let mut out = Vec::new();
    if let Ok(order) = graph.topo_order() {
        for id in order {
            if let Ok(n) = graph.node(id) {
                if let Op::Poly(p) = &n.op {
                    out.push(ActivationInfo {
                        layer: n.name.clone(),
                        function: p.approximates.clone(),
                        degree: p.degree(),
                        interval: p.interval,
                    });
                }
            }
        }
    }
    out
}

/// The default [`CompileOptions::min_agreement`]: the automatic degree keeps the original
/// network's class on 99% of the calibration images. Measured on the test sets, the degrees
/// below it lost accuracy (`cifar10_relu` at 63: 98.4% of the calibration classes kept, 0.47
/// point lost on 10,000 test images) and those above it did not (`fashion_relu` at 63: 99.3%,
/// 0.05 point; `cifar10_relu` at 127: 99.7%, 0.07 point); the logit error criterion catches
/// the low degrees that keep classes on the wide training margins.
pub const DEFAULT_MIN_AGREEMENT: f64 = 0.99;

/// The default [`CompileOptions::max_logit_error`]: a median logit error of 2% of the output
/// spread. Measured on whole test sets in the clear (per-channel ReLU inputs, bias correction),
/// degree-14 ReLUs at 3.2% lost 0.16 (MNIST) and 0.27 (KMNIST) points, degree 30 at 1.1% lost
/// 0.02 and 0.05 (docs/passes.md).
pub const DEFAULT_MAX_LOGIT_ERROR: f64 = 0.02;

/// The scale used when it cannot be chosen automatically (no calibration images), or when no
/// automatic candidate meets the noise criterion.
pub const DEFAULT_SCALE_BITS: u32 = 40;
/// Scales (bits) the automatic choice tries.
pub const AUTO_SCALE_BITS: std::ops::RangeInclusive<u32> = 20..=40;
/// The estimated error bound is this many standard deviations of the estimated CKKS error.
/// The error of a slot is not Gaussian but close to a Laplace distribution (kurtosis 6, as
/// measured): its largest terms, from rescaling and key switching, are products slot by slot of
/// the secret key's canonical embedding and a Gaussian, so its variance differs from slot to
/// slot. A Laplace variable exceeds `kσ` with probability `exp(−√2·k)`: 7e-7 per output value
/// at 10σ (a Gaussian bound of 6σ would be exceeded by 2e-4 of them).
pub const NOISE_SIGMAS: f64 = 10.0;
/// The error bound may be at most this fraction of the output range (the spread of the
/// outputs over the calibration images).
pub const MAX_NOISE_FRACTION: f64 = 1e-2;
/// Top-2 margins below this fraction of the output range are ties: the calibration set cannot
/// tell which class wins, whatever the precision, so they do not constrain the scale.
pub const TIE_FRACTION: f64 = 1e-3;
/// At most this fraction of the calibration images (ties aside) may be expected to change class
/// under CKKS noise (see [`NoiseReport::expected_flips`]); a tenth of the 0.5% of disagreement
/// with the simulation the project allows.
pub const MAX_FLIP_FRACTION: f64 = 5e-4;
/// Calibration images the degree search, the noise criterion and the simulation run on; the
/// activation ranges use every calibration image (a plaintext pass each).
pub const SEARCH_IMAGES: usize = 1000;
/// Calibration images the noise estimate runs on (it is nearly independent of the image).
pub const NOISE_IMAGES: usize = 8;

/// The predicted CKKS error of a compiled circuit and how it compares with the outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseReport {
    /// log2 of the scale of the circuit.
    pub scale_bits: u32,
    /// Whether the scale was chosen automatically.
    pub automatic: bool,
    /// Largest estimated standard deviation of the CKKS error of an output, over the images
    /// the estimate ran on.
    pub std_dev: f64,
    /// The error bound `NOISE_SIGMAS · std_dev`.
    pub bound: f64,
    /// The spread of the outputs over the calibration images (largest minus smallest).
    pub output_range: f64,
    /// The smallest top-2 margin of a calibration image that is not a tie.
    pub min_margin: Option<f64>,
    /// How many calibration images (ties aside) CKKS noise is expected to move to another
    /// class: `Σ exp(−m_i/σ)` over their top-2 margins `m_i`. The error of a difference of two
    /// outputs has an exponential (Laplace-like) tail; `exp(−m/σ)` is its probability of
    /// exceeding `m` for a Laplace law of standard deviation `√2·σ`, counted on both sides.
    pub expected_flips: f64,
    /// The calibration images the margins come from.
    pub images: usize,
    /// Whether the estimate meets the criterion: the bound at most `MAX_NOISE_FRACTION` of the
    /// output range, and at most `MAX_FLIP_FRACTION` of the images expected to flip.
    pub accurate: bool,
}

/// What the noise criterion compares with: the range and top-2 margins of the outputs.
#[derive(Clone, Debug, PartialEq)]
struct OutputStats {
    range: f64,
    /// The top-2 margins of the images that are not ties.
    margins: Vec<f64>,
    images: usize,
}

impl OutputStats {
    fn of(outputs: &[Tensor]) -> Self {
        let (lo, hi) = outputs
            .iter()
            .flat_map(|t| t.data().iter())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let mut range = if hi >= lo { hi - lo } else { 0.0 };
        if range <= 0.0 {
            range = lo.abs().max(hi.abs());
        }
        if !(range > 0.0 && range.is_finite()) {
            range = 1.0;
        }
        let margins = outputs
            .iter()
            .filter(|t| t.data().len() >= 2)
            .map(|t| {
                let (mut first, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
                for &v in t.data() {
                    if v > first {
                        second = first;
                        first = v;
                    } else if v > second {
                        second = v;
                    }
                }
                first - second
            })
            .filter(|&m| m >= TIE_FRACTION * range)
            .collect();
        Self {
            range,
            margins,
            images: outputs.len(),
        }
    }

    fn report(&self, scale_bits: u32, automatic: bool, std_dev: f64) -> NoiseReport {
        let bound = NOISE_SIGMAS * std_dev;
        let expected_flips = if std_dev > 0.0 {
            self.margins.iter().map(|&m| (-m / std_dev).exp()).sum()
        } else {
            0.0
        };
        let accurate = bound <= MAX_NOISE_FRACTION * self.range
            && expected_flips <= MAX_FLIP_FRACTION * self.images as f64;
        NoiseReport {
            scale_bits,
            automatic,
            std_dev,
            bound,
            output_range: self.range,
            min_margin: self.margins.iter().copied().reduce(f64::min),
            expected_flips,
            images: self.images,
            accurate,
        }
    }
}

/// The largest estimated standard deviation of the CKKS error of an output of `circuit` over
/// `images` (secret-key encryption, as the client does).
pub fn estimate_noise(circuit: &Circuit, images: &[Tensor]) -> Result<f64> {
    let estimator = NoiseEstimator::new(circuit, Encryption::SecretKey)?;
    let stds = images
        .par_iter()
        .map(|x| estimator.run(x.data()).map(|e| e.max_std_dev()))
        .collect::<std::result::Result<Vec<f64>, _>>()?;
    Ok(stds.into_iter().fold(
        0.0,
        |m, s| if s.is_nan() { f64::INFINITY } else { m.max(s) },
    ))
}

/// The automatic scale: among the scales of [`AUTO_SCALE_BITS`], the parameter set with the
/// smallest ring degree, then the smallest cost ([`params::relative_cost`]), then the largest
/// scale (free precision), whose estimated error meets the criterion of [`NoiseReport`].
/// The circuit is lowered once per ring degree (its packing depends on the slot count only);
/// within one (ring degree, cost) class a failing scale rules out the smaller ones. When no
/// candidate qualifies, [`DEFAULT_SCALE_BITS`] is used.
fn choose_scale(
    request: &dyn Fn(u32) -> ParamsRequest,
    lower_with: &dyn Fn(CkksParamsSpec) -> Result<Circuit>,
    images: &[Tensor],
    stats: &OutputStats,
) -> Result<(Circuit, NoiseReport)> {
    let mut candidates: Vec<(u32, f64, u32, CkksParamsSpec)> = AUTO_SCALE_BITS
        .filter_map(|bits| {
            let spec = params::choose(&request(bits)).ok()?;
            Some((spec.log_n, params::relative_cost(&spec), bits, spec))
        })
        .collect();
    candidates.sort_by(|a, b| {
        (a.0, a.1)
            .partial_cmp(&(b.0, b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.2.cmp(&a.2))
    });
    let mut lowered: Vec<(u32, Circuit)> = Vec::new();
    let mut failed: Vec<(u32, f64)> = Vec::new();
    for (log_n, cost, bits, spec) in candidates {
        if failed.contains(&(log_n, cost)) {
            continue;
        }
        let base = match lowered.iter().find(|(n, _)| *n == log_n) {
            Some((_, c)) => c.clone(),
            None => {
                let c = lower_with(spec.clone())?;
                lowered.push((log_n, c.clone()));
                c
            }
        };
        let mut circuit = base;
        circuit.params = spec;
        let report = stats.report(bits, true, estimate_noise(&circuit, images)?);
        if report.accurate {
            return Ok((circuit, report));
        }
        failed.push((log_n, cost));
    }
    let circuit = lower_with(params::choose(&request(DEFAULT_SCALE_BITS))?)?;
    let std_dev = estimate_noise(&circuit, images)?;
    Ok((circuit, stats.report(DEFAULT_SCALE_BITS, true, std_dev)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn trial(degree: usize, unmet: &[&str]) -> DegreeTrial {
        DegreeTrial {
            degree,
            accuracy: 0.883,
            agreement: 0.984,
            median_logit_error: 0.009,
            unmet: unmet.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn warns_when_the_automatic_search_runs_out_of_degrees() {
        let missed = "same class on 98.40% of the calibration images, below --min-agreement 99.00%";
        let search = [trial(63, &[missed, "another"]), trial(127, &[missed])];
        let warning = search_warning(true, &search).expect("a warning");
        assert!(
            warning.contains("no automatic activation degree up to 127"),
            "{warning}"
        );
        assert!(warning.contains(missed), "{warning}");
        assert!(warning.contains("--relu-degree 255"), "{warning}");
        assert!(
            !warning.contains("another"),
            "only the degree used: {warning}"
        );
    }

    #[test]
    fn no_warning_when_a_degree_was_accepted_or_chosen_by_the_user() {
        let search = [trial(15, &["missed"]), trial(31, &[])];
        assert!(search[1].accepted() && !search[0].accepted());
        assert_eq!(search_warning(true, &search), None);
        let search = [trial(63, &["missed"])];
        assert_eq!(search_warning(false, &search), None);
        assert_eq!(search_warning(true, &[]), None);
    }

    fn outputs(rows: &[[f64; 3]]) -> Vec<Tensor> {
        rows.iter()
            .map(|r| Tensor::new(vec![1, 3], r.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn the_scale_criterion_counts_the_images_noise_would_flip() {
        // Range 10; margins 5, 1 and 0.001 (a tie: below 0.1% of the range, ignored).
        let stats = OutputStats::of(&outputs(&[
            [10.0, 5.0, 0.0],
            [3.0, 2.0, 0.0],
            [4.0, 3.999, 1.0],
        ]));
        assert_eq!(stats.images, 3);
        assert_eq!(stats.margins, [5.0, 1.0]);

        let quiet = stats.report(30, true, 1e-2);
        assert!(quiet.accurate, "{quiet:?}");
        assert_eq!(quiet.min_margin, Some(1.0));
        assert!(quiet.expected_flips < 1e-40);

        // σ = 0.15: the bound 1.5 is above 1% of the range (0.1).
        let loud = stats.report(20, true, 0.15);
        assert!(!loud.accurate);
        // σ = 5e-3 keeps the bound (0.05) within 1% of the range, and exp(−1/σ) is negligible.
        let fine = stats.report(24, true, 5e-3);
        assert!(fine.accurate);
        assert!((fine.bound - 0.05).abs() < 1e-12);

        // Only the flip criterion fails: range 1001, bound 4 within 1% of it, but a margin of
        // 2 against σ = 0.4: exp(−5) = 6.7e-3 expected flips of 2 images > 5e-4 · 2.
        let wide = OutputStats::of(&outputs(&[[1000.0, 0.0, 0.0], [2.0, 0.0, -1.0]]));
        let report = wide.report(24, true, 0.4);
        assert!(report.bound <= MAX_NOISE_FRACTION * report.output_range);
        assert!((report.expected_flips - (-5.0f64).exp()).abs() < 1e-12);
        assert!(!report.accurate);
    }
}
