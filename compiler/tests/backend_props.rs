//! Property tests of the compiler back end.
//!
//! - Random single-convolution graphs (1..=4 → 1..=6 channels, kernel 1..=5, stride 1..=3,
//!   padding 0..=2 per side, H = W in 5..=12, dense or depthwise) built with the IR API and
//!   lowered with `lower::lower` on small secure parameters (`params::choose`): the cleartext
//!   simulation equals the reference interpreter's direct convolution to 1e-9.
//! - The same for random conv → avgpool → flatten → dense chains (optionally with a square
//!   after the convolution), random zero pads, and element-wise ops with a constant.
//! - The layouts `layout::candidates` offers for those outputs give every element its own slot.
//! - `params::choose` never returns an insecure set: for every depth 0..=40, scale 20..=58 and
//!   security level, it returns an error (`TooDeep` stating the depth and the limit, when the
//!   chain is too long) or a spec within the security bound that `CkksParams::new` accepts.
//! - `params::choose` finds a set whenever one exists; fusing a chain of squares neither
//!   deepens it nor takes exponential time.
//!
//! The crate has no `proptest` dependency, so the cases come from a seeded generator; a failing
//! case prints its seed and parameters (rerun one case with `BACKEND_PROPS_SEED=<seed>`).

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use blindfold_compiler::ir::{Conv2d, Dense, Fact, Graph, Op, Pool2d, Tensor};
use blindfold_compiler::layout::{self, Layout};
use blindfold_compiler::params::{self, ParamsRequest};
use blindfold_compiler::{lower, reference, CompileError};
use blindfold_runtime::circuit::{Metadata, Preprocess};
use blindfold_runtime::ckks::{CkksParams, CkksParamsSpec, SecurityLevel};
use blindfold_runtime::exec::Simulator;
use blindfold_runtime::math::primes::is_ntt_prime;
use common::rel_err;
use rayon::prelude::*;
use std::fmt::Write as _;

/// Random cases per property.
const CASES: u64 = 24;
/// Simulation against the reference interpreter (both are exact float64 arithmetic).
const TOLERANCE: f64 = 1e-9;

/// SplitMix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Uniform in `[-1, 1)`.
    fn signed(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape.to_vec(), (0..n).map(|_| self.signed()).collect()).unwrap()
    }
}

/// The seeds to run: `BACKEND_PROPS_SEED` alone, or `base .. base + CASES`.
fn seeds(base: u64) -> Vec<u64> {
    match std::env::var("BACKEND_PROPS_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => (base..base + CASES).collect(),
    }
}

/// Adds a random convolution on `x` (`[1, cin, h, w]`) and returns it with its description.
fn random_conv(
    rng: &mut Rng,
    g: &mut Graph,
    x: blindfold_compiler::ir::NodeId,
) -> (blindfold_compiler::ir::NodeId, String) {
    let cin = g.fact(x).unwrap().shape[1];
    let mut cout = rng.range(1, 6);
    let depthwise = rng.coin() && cin > 1;
    if depthwise && !cout.is_multiple_of(cin) {
        // Depthwise needs a multiple of the input channels.
        cout = cin * rng.range(1, 2);
    }
    let groups = if depthwise { cin } else { 1 };
    let kernel = [rng.range(1, 5), rng.range(1, 5)];
    let strides = [rng.range(1, 3), rng.range(1, 3)];
    let pads = [
        rng.range(0, 2),
        rng.range(0, 2),
        rng.range(0, 2),
        rng.range(0, 2),
    ];
    let weight = rng.tensor(&[cout, cin / groups, kernel[0], kernel[1]]);
    let bias = rng.coin().then(|| rng.tensor(&[cout]));
    let desc = format!(
        "conv {cin}->{cout} kernel {kernel:?} strides {strides:?} pads {pads:?} groups {groups} \
         bias {}",
        bias.is_some()
    );
    let conv = Conv2d {
        weight,
        bias,
        strides,
        pads,
        groups,
    };
    let y = g
        .add_inferred("conv", Op::Conv(conv), &[x])
        .unwrap_or_else(|e| panic!("{desc}: {e}"));
    (y, desc)
}

fn input(g: &mut Graph, shape: Vec<usize>) -> blindfold_compiler::ir::NodeId {
    let x = g.add_node("x", Op::Input, Fact::new(shape), &[]);
    g.add_input(x);
    x
}

/// Lowers `g` on the smallest secure parameters and compares the simulation with the
/// reference interpreter on two random inputs; returns the worst relative error and the
/// description of the circuit.
fn lower_and_compare(g: &Graph, rng: &mut Rng) -> Result<(f64, String), String> {
    // The key-saving form (shared baby steps, giant-step chains) is the newer path; the
    // default form is covered by the zoo and fixture tests.
    let (circuit, depth) = lower_on_small_params(g, true)?;
    compare(g, &circuit, depth, rng)
}

/// Lowers `g` on the smallest secure parameters for scale 2^40; returns the circuit and
/// the depth `lower::depth` predicted.
fn lower_on_small_params(
    g: &Graph,
    small_keys: bool,
) -> Result<(blindfold_runtime::circuit::Circuit, usize), String> {
    let depth = lower::depth(g).map_err(|e| format!("depth: {e}"))?;
    let spec = params::choose(&ParamsRequest {
        depth,
        scale_bits: 40,
        headroom_bits: 10,
        security: SecurityLevel::Classical128,
        min_log_n: 12,
    })
    .map_err(|e| format!("params: {e}"))?;
    let shape = g.fact(g.inputs()[0]).unwrap().shape.clone();
    let circuit = lower::lower(
        g,
        &lower::LowerOptions {
            params: spec,
            preprocess: Preprocess {
                channels: shape.get(1).copied().unwrap_or(1),
                height: shape.get(2).copied().unwrap_or(1),
                width: shape.get(3).copied().unwrap_or(1),
                pixel_scale: 1.0,
                mean: vec![],
                std: vec![],
            },
            meta: Metadata::default(),
            small_keys,
        },
    )
    .map_err(|e| format!("lower: {e}"))?;
    Ok((circuit, depth))
}

/// Checks the circuit's depth, then compares its simulation with the reference interpreter
/// on two random inputs.
fn compare(
    g: &Graph,
    circuit: &blindfold_runtime::circuit::Circuit,
    depth: usize,
    rng: &mut Rng,
) -> Result<(f64, String), String> {
    let log_n = circuit.params.log_n;
    let shape = g.fact(g.inputs()[0]).unwrap().shape.clone();
    let summary = circuit.validate().map_err(|e| format!("validate: {e}"))?;
    if summary.depth != depth {
        return Err(format!(
            "lower::depth says {depth}, the circuit consumes {}",
            summary.depth
        ));
    }
    let simulator = Simulator::new(circuit).map_err(|e| e.to_string())?;
    let mut worst = 0.0f64;
    for _ in 0..2 {
        let x = rng.tensor(&shape);
        let want = reference::run(g, &x).map_err(|e| format!("reference: {e}"))?;
        let got = simulator
            .run(x.data())
            .map_err(|e| format!("simulate: {e}"))?;
        worst = worst.max(rel_err(&got, want.data()));
    }
    let info = format!(
        "depth {depth}, N = 2^{log_n}, {} input / {} output ciphertexts, {} rotations",
        circuit.input.values.len(),
        circuit.output.values.len(),
        circuit.rotations.len()
    );
    Ok((worst, info))
}

fn run_cases(base: u64, build: impl Fn(&mut Rng) -> (Graph, String)) {
    let mut failures = String::new();
    for seed in seeds(base) {
        let mut rng = Rng(seed);
        let (g, desc) = build(&mut rng);
        match lower_and_compare(&g, &mut rng) {
            Ok((worst, info)) if worst <= TOLERANCE => {
                println!("seed {seed}: {desc}: {info}: error {worst:.1e}");
            }
            Ok((worst, info)) => {
                let _ = writeln!(
                    failures,
                    "seed {seed}: {desc}: {info}: relative error {worst:.3e} > {TOLERANCE:e}"
                );
            }
            Err(e) => {
                let _ = writeln!(failures, "seed {seed}: {desc}: {e}");
            }
        }
    }
    assert!(failures.is_empty(), "failing cases:\n{failures}");
}

#[test]
fn random_convolutions_simulate_like_the_reference() {
    run_cases(1, |rng| {
        let cin = rng.range(1, 4);
        let hw = rng.range(5, 12);
        let mut g = Graph::new();
        let x = input(&mut g, vec![1, cin, hw, hw]);
        let (y, desc) = random_conv(rng, &mut g, x);
        g.set_outputs(vec![y]);
        (g, format!("{hw}x{hw} {desc}"))
    });
}

#[test]
fn random_conv_pool_dense_chains_simulate_like_the_reference() {
    run_cases(1001, |rng| {
        let cin = rng.range(1, 4);
        let hw = rng.range(5, 12);
        let mut g = Graph::new();
        let x = input(&mut g, vec![1, cin, hw, hw]);
        let (mut y, mut desc) = random_conv(rng, &mut g, x);
        if rng.coin() {
            y = g.add_inferred("square", Op::Square, &[y]).unwrap();
            desc.push_str(" -> square");
        }
        let [_, c, h, w] = <[usize; 4]>::try_from(g.fact(y).unwrap().shape.clone()).unwrap();
        let k = rng.range(1, 2.min(h.min(w)).max(1));
        let s = rng.range(1, 2);
        let pool = Pool2d {
            kernel: [k, k],
            strides: [s, s],
            pads: [0; 4],
            count_include_pad: true,
        };
        y = g.add_inferred("pool", Op::AvgPool(pool), &[y]).unwrap();
        let features: usize = g.fact(y).unwrap().shape.iter().product();
        y = g
            .add_inferred(
                "flatten",
                Op::Reshape {
                    shape: vec![1, features],
                },
                &[y],
            )
            .unwrap();
        let out = rng.range(1, 10);
        let dense = Dense {
            weight: rng.tensor(&[out, features]),
            bias: Some(rng.tensor(&[out])),
        };
        y = g.add_inferred("dense", Op::Dense(dense), &[y]).unwrap();
        g.set_outputs(vec![y]);
        (
            g,
            format!(
                "{hw}x{hw} {desc} ({c}x{h}x{w}) -> avgpool {k}x{k}/{s} -> flatten {features} -> \
                 dense {out}"
            ),
        )
    });
}

/// A dense layer after a strided convolution reads a spread-out input: the transform is
/// folded (few diagonals and a rotate-and-sum) and stays exact; with small keys it is not
/// folded (the rotate-and-sum would need keys of its own) and stays exact too.
#[test]
fn a_dense_layer_after_a_strided_convolution_is_folded_and_exact() {
    let mut rng = Rng(7);
    let mut g = Graph::new();
    let x = input(&mut g, vec![1, 1, 20, 20]);
    let conv = Conv2d {
        weight: rng.tensor(&[6, 1, 3, 3]),
        bias: Some(rng.tensor(&[6])),
        strides: [2, 2],
        pads: [1; 4],
        groups: 1,
    };
    let y = g.add_inferred("conv", Op::Conv(conv), &[x]).unwrap();
    let y = g.add_inferred("square", Op::Square, &[y]).unwrap();
    let y = g
        .add_inferred(
            "flatten",
            Op::Reshape {
                shape: vec![1, 600],
            },
            &[y],
        )
        .unwrap();
    let dense = Dense {
        weight: rng.tensor(&[10, 600]),
        bias: Some(rng.tensor(&[10])),
    };
    let y = g.add_inferred("dense", Op::Dense(dense), &[y]).unwrap();
    g.set_outputs(vec![y]);
    for small_keys in [false, true] {
        let (circuit, depth) = lower_on_small_params(&g, small_keys).unwrap();
        let kinds: Vec<&str> = circuit.layers.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(
            kinds
                .last()
                .is_some_and(|k| k.contains("folded to period 16")),
            !small_keys,
            "small keys {small_keys}: {kinds:?}"
        );
        let (worst, info) = compare(&g, &circuit, depth, &mut rng).unwrap();
        assert!(
            worst <= TOLERANCE,
            "small keys {small_keys}: {info}: relative error {worst:.3e}"
        );
    }
}

#[test]
fn random_zero_pads_simulate_like_the_reference() {
    run_cases(3001, |rng| {
        let c = rng.range(1, 4);
        let hw = rng.range(5, 12);
        let mut g = Graph::new();
        let x = input(&mut g, vec![1, c, hw, hw]);
        let (t, l, b, r) = (
            rng.range(0, 2),
            rng.range(0, 2),
            rng.range(0, 2),
            rng.range(0, 2),
        );
        let pad = Op::Pad {
            pads: vec![0, 0, t, l, 0, 0, b, r],
        };
        let mut y = g.add_inferred("pad", pad, &[x]).unwrap();
        let mut desc = format!("{c}x{hw}x{hw} pad [{t}, {l}, {b}, {r}]");
        if rng.coin() {
            y = g.add_inferred("square", Op::Square, &[y]).unwrap();
            desc.push_str(" -> square");
        }
        g.set_outputs(vec![y]);
        (g, desc)
    });
}

#[test]
fn elementwise_ops_with_a_constant_simulate_like_the_reference() {
    // `x ⊕ c` and `c ⊕ x` for a scalar, a per-channel and a full constant: linear maps that
    // `lower` folds into a transform.
    let mut failures = String::new();
    let shape = vec![1usize, 2, 3, 4];
    let mut rng = Rng(4001);
    for op in [Op::Add, Op::Sub, Op::Mul] {
        for cshape in [vec![], vec![2, 1, 1], shape.clone()] {
            for constant_first in [false, true] {
                let mut g = Graph::new();
                let x = input(&mut g, shape.clone());
                let c = rng.tensor(&cshape);
                let cid = g.add_node("c", Op::Const(c), Fact::new(cshape.clone()), &[]);
                let operands = if constant_first { [cid, x] } else { [x, cid] };
                let y = g.add_inferred("op", op.clone(), &operands).unwrap();
                g.set_outputs(vec![y]);
                let desc = format!(
                    "{} with a {cshape:?} constant as operand {}",
                    op.name(),
                    usize::from(!constant_first)
                );
                match lower_and_compare(&g, &mut rng) {
                    Ok((worst, _)) if worst <= TOLERANCE => {}
                    Ok((worst, _)) => {
                        let _ = writeln!(failures, "{desc}: relative error {worst:.3e}");
                    }
                    Err(e) => {
                        let _ = writeln!(failures, "{desc}: {e}");
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "failing cases:\n{failures}");
}

#[test]
fn candidate_layouts_never_put_two_elements_in_one_slot() {
    // The layouts `lower` may choose for a convolution's output: each must give every element
    // its own slot, within the ciphertexts it declares.
    let slots = 1 << 12;
    let mut failures = String::new();
    for seed in seeds(2001) {
        let mut rng = Rng(seed);
        let cin = rng.range(1, 4);
        let hw = rng.range(5, 12);
        let mut g = Graph::new();
        let x = input(&mut g, vec![1, cin, hw, hw]);
        let (y, desc) = random_conv(&mut rng, &mut g, x);
        let Op::Conv(conv) = &g.node(y).unwrap().op else {
            unreachable!()
        };
        let out_shape = g.fact(y).unwrap().shape.clone();
        let input_layout = Layout::compact(&[1, cin, hw, hw], slots);
        // A zero pad of the input by the convolution's pads (stride 1) as well.
        let [t, l, b, r] = conv.pads;
        let padded = vec![1, cin, hw + t + b, hw + l + r];
        let mut cands: Vec<(String, Vec<usize>, Layout)> = Vec::new();
        for c in layout::candidates(&input_layout, &out_shape, conv.strides, slots) {
            cands.push((desc.clone(), out_shape.clone(), c));
        }
        for c in layout::candidates(&input_layout, &padded, [1, 1], slots) {
            cands.push((format!("pad {:?}", conv.pads), padded.clone(), c));
        }
        for (desc, out_shape, c) in cands {
            let mut p = c.positions.clone();
            p.sort_unstable();
            p.dedup();
            let end = c.positions.iter().max().map_or(0, |m| m + 1);
            if p.len() != c.positions.len() || end > c.ciphertexts * slots {
                let _ = writeln!(
                    failures,
                    "seed {seed}: {hw}x{hw} {desc} -> {out_shape:?}: candidate '{}' (grid {:?}) \
                     puts {} elements in {} distinct slots",
                    c.name,
                    c.grid.as_ref().map(|g| (g.row, g.col, &g.channel_base)),
                    c.positions.len(),
                    p.len()
                );
            }
        }
    }
    assert!(failures.is_empty(), "overlapping layouts:\n{failures}");
}

#[test]
fn fusing_a_chain_of_squares_neither_deepens_it_nor_takes_long() {
    for squares in [2usize, 4, 18] {
        let mut g = Graph::new();
        let mut x = input(&mut g, vec![1, 4]);
        for i in 0..squares {
            x = g.add_inferred(format!("sq{i}"), Op::Square, &[x]).unwrap();
        }
        g.set_outputs(vec![x]);
        let start = std::time::Instant::now();
        blindfold_compiler::passes::fuse_polynomials(&mut g, None).unwrap();
        let took = start.elapsed().as_secs_f64();
        assert_eq!(lower::depth(&g).unwrap(), squares, "{squares} squares");
        assert!(took < 0.5, "{squares} squares: fused in {took:.1} s");
    }
}

const SECURITY_LEVELS: [SecurityLevel; 3] = [
    SecurityLevel::Classical128,
    SecurityLevel::Classical192,
    SecurityLevel::Classical256,
];

/// The request of the exhaustive parameter tests.
fn request(depth: usize, scale_bits: u32, security: SecurityLevel) -> ParamsRequest {
    ParamsRequest {
        depth,
        scale_bits,
        headroom_bits: 8,
        security,
        min_log_n: 12,
    }
}

/// Checks one accepted parameter set; returns what is wrong with it. `full`: also build it
/// with `CkksParams::new` (NTT tables and key-switching converters: ~0.1 s at N = 2^16, so
/// not for every one of the ~3000 sets); otherwise only its cheap checks are repeated here
/// (security bound, NTT-friendly distinct primes, digit count).
fn check_spec(
    spec: &CkksParamsSpec,
    depth: usize,
    scale_bits: u32,
    security: SecurityLevel,
    full: bool,
) -> Result<(), String> {
    let bound = security.max_log_qp(spec.log_n).unwrap();
    if spec.log_qp() > f64::from(bound) {
        return Err(format!(
            "log2(QP) = {:.4} above the bound {bound} at N = 2^{} (q = {:?} bits, p = {} \
             primes; CkksParams::new: {:?})",
            spec.log_qp(),
            spec.log_n,
            spec.q
                .iter()
                .map(|&q| 64 - q.leading_zeros())
                .collect::<Vec<_>>(),
            spec.p.len(),
            CkksParams::new(spec.clone())
                .map(|_| ())
                .map_err(|e| e.to_string())
        ));
    }
    if spec.q.len() != depth + 1 {
        return Err(format!("{} primes for {depth} levels", spec.q.len()));
    }
    if (spec.log_scale, spec.security) != (scale_bits, security)
        || spec.p.is_empty()
        || !(1..=spec.q.len()).contains(&spec.dnum)
    {
        return Err(format!("unexpected spec {spec:?}"));
    }
    let primes: Vec<u64> = spec.q.iter().chain(&spec.p).copied().collect();
    for (i, &p) in primes.iter().enumerate() {
        if !is_ntt_prime(p, 1 << spec.log_n) || primes[..i].contains(&p) {
            return Err(format!(
                "prime {p} is not a distinct NTT prime for N = 2^{}",
                spec.log_n
            ));
        }
    }
    if full {
        CkksParams::new(spec.clone()).map_err(|e| format!("CkksParams::new refuses it: {e}"))?;
    }
    Ok(())
}

/// What [`params::choose`] did for every depth at one scale and security level.
#[derive(Default)]
struct Tally {
    built: usize,
    full_built: usize,
    too_deep: usize,
    other_errors: Vec<String>,
    failures: Vec<String>,
}

fn tally(scale_bits: u32, security: SecurityLevel) -> Tally {
    let mut t = Tally::default();
    let bound16 = security.max_log_qp(16).unwrap();
    let mut first_too_deep = None;
    let mut deepest = std::collections::BTreeMap::new();
    for depth in 0..=40usize {
        let ctx = format!("depth {depth}, scale {scale_bits}, {security}");
        match params::choose(&request(depth, scale_bits, security)) {
            Ok(spec) => {
                if let Some(d) = first_too_deep {
                    t.failures
                        .push(format!("{ctx}: accepted although depth {d} was too deep"));
                }
                let full = spec.log_n <= 14;
                if let Err(e) = check_spec(&spec, depth, scale_bits, security, full) {
                    t.failures.push(format!("{ctx}: {e}"));
                }
                t.built += 1;
                t.full_built += usize::from(full);
                deepest.insert(spec.log_n, (depth, spec));
            }
            Err(e @ CompileError::TooDeep { .. }) => {
                let text = e.to_string();
                let CompileError::TooDeep {
                    depth: d,
                    scale_bits: s,
                    log_qp,
                    bound,
                    security: bits,
                } = e
                else {
                    unreachable!()
                };
                let fields_ok = (d, s, bound, bits)
                    == (depth, scale_bits, bound16, security.bits())
                    && log_qp > bound;
                let text_ok = text.starts_with(&format!(
                    "the circuit needs {depth} levels at {scale_bits}-bit scale"
                )) && text.contains(&format!(
                    "{}-bit security allows log2(QP) <= {bound16} even at N = 2^16",
                    security.bits()
                ));
                if !(fields_ok && text_ok) {
                    t.failures.push(format!("{ctx}: {text}"));
                }
                first_too_deep.get_or_insert(depth);
                t.too_deep += 1;
            }
            // Allowed by this property (nothing insecure is returned); whether a secure set
            // existed is checked by `params_choose_finds_a_set_whenever_one_exists`.
            Err(e) => t.other_errors.push(format!("{ctx}: {e}")),
        }
    }
    // The deepest set accepted at each ring degree is the closest to its bound: build those
    // of the large rings too.
    for (depth, spec) in deepest.into_values().filter(|(_, s)| s.log_n > 14) {
        if let Err(e) = check_spec(&spec, depth, scale_bits, security, true) {
            t.failures.push(format!(
                "depth {depth}, scale {scale_bits}, {security}: {e}"
            ));
        }
        t.full_built += 1;
    }
    t
}

#[test]
fn params_choose_never_returns_an_insecure_set() {
    let start = std::time::Instant::now();
    let cases: Vec<(u32, SecurityLevel)> = SECURITY_LEVELS
        .iter()
        .flat_map(|&sec| params::SCALE_BITS.map(move |s| (s, sec)))
        .collect();
    let tallies: Vec<Tally> = cases.par_iter().map(|&(s, sec)| tally(s, sec)).collect();
    let sum = |f: fn(&Tally) -> usize| tallies.iter().map(f).sum::<usize>();
    let other: Vec<&String> = tallies.iter().flat_map(|t| &t.other_errors).collect();
    let failures: Vec<&String> = tallies.iter().flat_map(|t| &t.failures).collect();
    println!(
        "{} parameter sets chosen ({} built with CkksParams::new), {} too deep, {} other \
         errors, {} failures, in {:.1} s",
        sum(|t| t.built),
        sum(|t| t.full_built),
        sum(|t| t.too_deep),
        other.len(),
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    for e in other.iter().take(3) {
        println!("  other error: {e}");
    }
    assert!(sum(|t| t.built) > 0 && sum(|t| t.too_deep) > 0);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Whether some ring degree and digit count within the security bound give a chain that the
/// runtime accepts, for the chain layout `params::choose` documents (q_0 with the headroom,
/// one `scale_bits` prime per level, 60-bit special primes as large as the largest digit).
fn some_secure_set_exists(req: &ParamsRequest) -> Option<(u32, usize)> {
    let q0 = (req.scale_bits + req.headroom_bits + 2).clamp(req.scale_bits + 1, 60);
    let mut q_bits = vec![q0];
    q_bits.extend(std::iter::repeat_n(req.scale_bits, req.depth));
    let log_q: u32 = q_bits.iter().sum();
    for log_n in 12..=16 {
        let bound = req.security.max_log_qp(log_n).unwrap();
        for dnum in 1..=q_bits.len() {
            let alpha = q_bits.len().div_ceil(dnum);
            let digit: u32 = q_bits.chunks(alpha).map(|c| c.iter().sum()).max().unwrap();
            let p_bits = vec![60u32; digit.div_ceil(60) as usize];
            if log_q + 60 * p_bits.len() as u32 > bound {
                continue;
            }
            let spec = CkksParamsSpec::from_bits(
                log_n,
                &q_bits,
                &p_bits,
                dnum,
                req.scale_bits,
                req.security,
            );
            if spec.is_ok_and(|s| CkksParams::new(s).is_ok()) {
                return Some((log_n, dnum));
            }
        }
    }
    None
}

#[test]
fn params_choose_finds_a_set_whenever_one_exists() {
    let mut failures = Vec::new();
    for security in SECURITY_LEVELS {
        for scale_bits in params::SCALE_BITS {
            for depth in 0..=40usize {
                let req = request(depth, scale_bits, security);
                if let Err(e @ CompileError::Options(_)) = params::choose(&req) {
                    if let Some((log_n, dnum)) = some_secure_set_exists(&req) {
                        failures.push(format!(
                            "depth {depth}, scale {scale_bits}, {security}: {e}; but N = \
                             2^{log_n} with {dnum} digits works"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn params_choose_refuses_scales_outside_the_range() {
    for scale_bits in [0u32, 19, 59, 64] {
        let err = params::choose(&ParamsRequest {
            depth: 3,
            scale_bits,
            headroom_bits: 8,
            security: SecurityLevel::Classical128,
            min_log_n: 12,
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("--scale-bits {scale_bits} is outside 20..=58")),
            "{err}"
        );
    }
}
