//! Circuits on the cleartext slot simulator and the cost counter, against naive f64 oracles:
//! linear transforms against the dense slot-matrix product, polynomials against Clenshaw's
//! recurrence (with the levels they consume), mixed-level arithmetic, validation messages and
//! operation counts. The binary format is tested in `circuit_format.rs`, real CKKS execution in
//! `circuit_ckks.rs`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use blindfold_runtime::circuit::*;
use blindfold_runtime::exec::{count, count_steps, simulate, Counts, Simulator};
use common::{deep_spec, max_err, small_spec, Builder, Rng};
use rayon::prelude::*;
use std::collections::BTreeSet;

/// Random offsets in `0..slots` including `0` and `slots − 1`.
fn offsets(rng: &mut Rng, slots: usize, extra: usize) -> Vec<u32> {
    let mut set: BTreeSet<u32> = [0, slots as u32 - 1].into_iter().collect();
    while set.len() < extra + 2 {
        set.insert(rng.below(slots as u64) as u32);
    }
    set.into_iter().collect()
}

#[test]
fn linear_transform_matches_the_dense_matrix_product() {
    let slots = 2048;
    for &n1 in &[1usize, 2, 7, 16, 45, 64, slots] {
        let mut rng = Rng::new(n1 as u64);
        let (mut b, x) = Builder::new(small_spec(), 2, 2);
        assert_eq!(b.slots(), slots);
        let mut blocks = Vec::new();
        let mut dense = Vec::new();
        for j in 0..2u32 {
            for i in 0..2u32 {
                let mut diagonals = Vec::new();
                for k in offsets(&mut rng, slots, 24) {
                    let d = rng.vector(slots);
                    diagonals.push((k, b.constant(&d)));
                    dense.push((j, i, k, d));
                }
                blocks.push(DiagonalBlock {
                    output: j,
                    input: i,
                    diagonals,
                });
            }
        }
        let bias0 = rng.vector(slots);
        let bias = vec![Some(b.constant(&bias0)), None];
        let t = b.transform(LinearTransform {
            inputs: 2,
            outputs: 2,
            n1,
            blocks,
            bias,
        });
        let y = vec![b.value(), b.value()];
        b.push(Instr::LinearTransform {
            dst: y.clone(),
            src: x.clone(),
            transform: t,
        });
        assert_eq!(b.level(y[0]), 1);
        let circuit = b.finish(&y);
        let input = rng.vector(2 * slots);
        let out = simulate(&circuit, &input).unwrap();

        // Oracle: the dense matrix M_ji with M[s][(s + k) mod n] = diag_k[s], times x_i.
        let mut expected = vec![0.0; 2 * slots];
        expected[..slots].copy_from_slice(&bias0);
        for j in 0..2u32 {
            for i in 0..2u32 {
                let mut m = vec![0.0; slots * slots];
                for (_, _, k, d) in dense.iter().filter(|e| e.0 == j && e.1 == i) {
                    for s in 0..slots {
                        m[s * slots + (s + *k as usize) % slots] += d[s];
                    }
                }
                let xi = &input[i as usize * slots..][..slots];
                for s in 0..slots {
                    let row = &m[s * slots..][..slots];
                    expected[j as usize * slots + s] +=
                        row.iter().zip(xi).map(|(a, b)| a * b).sum::<f64>();
                }
            }
        }
        let err = max_err(&out, &expected);
        assert!(err < 1e-9, "n1 = {n1}: error {err}");
    }
}

fn ceil_log2(x: usize) -> usize {
    (usize::BITS - (x - 1).leading_zeros()) as usize
}

#[test]
fn polynomials_match_clenshaw_and_consume_their_depth() {
    let slots = 4096;
    for d in 1..=31usize {
        let mut rng = Rng::new(1000 + d as u64);
        let mut coeffs = rng.vector(d + 1);
        if coeffs[d].abs() < 0.1 {
            coeffs[d] = 0.5;
        }
        let poly = ChebyshevPoly {
            coeffs: coeffs.clone(),
        };
        assert_eq!(poly.depth(), ceil_log2(d + 1), "degree {d}");

        let (mut b, x) = Builder::new(deep_spec(), 1, 6);
        let p = b.polynomial(coeffs.clone());
        let y = b.op(|dst| Instr::Polynomial {
            dst,
            src: x[0],
            poly: p,
        });
        assert_eq!(b.level(y), 6 - poly.depth());
        let circuit = b.finish(&[y]);
        let summary = circuit.validate().unwrap();
        assert_eq!(summary.depth, poly.depth());

        let input = rng.vector(slots);
        let mut seen = None;
        let out = Simulator::new(&circuit)
            .unwrap()
            .run_inspect(&input, |view| seen = view.level(y))
            .unwrap();
        assert_eq!(seen, Some(6 - poly.depth()), "degree {d}");

        let norm: f64 = coeffs.iter().map(|c| c.abs()).sum();
        let expected: Vec<f64> = input.iter().map(|&t| poly.eval(t)).collect();
        let err = max_err(&out, &expected);
        assert!(err <= 1e-9 * norm, "degree {d}: error {err}");
    }
}

#[test]
fn sparse_polynomials_land_on_their_planned_level() {
    // Odd polynomials skip half the basis; the result is still at `level − depth`.
    for d in [3usize, 7, 15, 27] {
        let coeffs: Vec<f64> = (0..=d)
            .map(|i| if i % 2 == 1 { 1.0 / i as f64 } else { 0.0 })
            .collect();
        let (mut b, x) = Builder::new(deep_spec(), 1, 6);
        let p = b.polynomial(coeffs.clone());
        let y = b.op(|dst| Instr::Polynomial {
            dst,
            src: x[0],
            poly: p,
        });
        let circuit = b.finish(&[y]);
        let input = Rng::new(d as u64).vector(4096);
        let out = simulate(&circuit, &input).unwrap();
        let poly = ChebyshevPoly { coeffs };
        let expected: Vec<f64> = input.iter().map(|&t| poly.eval(t)).collect();
        assert!(max_err(&out, &expected) < 1e-12, "degree {d}");
    }
}

fn mixed_circuit() -> (Circuit, Vec<ValueId>) {
    common::mixed_circuit(deep_spec(), 6)
}

fn mixed_expected(input: &[f64], slots: usize) -> Vec<f64> {
    common::mixed_expected(input, slots)
}

#[test]
fn mixed_levels_follow_the_rules() {
    let (circuit, v) = mixed_circuit();
    let levels: Vec<usize> = circuit.steps.iter().map(|s| s.level).collect();
    assert_eq!(levels, [5, 4, 4, 2, 2, 5, 5, 2, 2, 1]);
    assert_eq!(v, [ValueId(10), ValueId(11), ValueId(8)]);
    let summary = circuit.validate().unwrap();
    assert_eq!(summary.depth, 5);
    assert_eq!(summary.output_level, 1);
    assert_eq!(summary.rotations, vec![5]);
    assert_eq!(summary.constants, 2);
    assert_eq!(summary.steps, 10);
    let input = Rng::new(7).vector(2 * 4096);
    let out = simulate(&circuit, &input).unwrap();
    assert!(max_err(&out, &mixed_expected(&input, 4096)) < 1e-12);
}

#[test]
fn the_simulator_runs_images_in_parallel() {
    let (circuit, _) = mixed_circuit();
    let sim = Simulator::new(&circuit).unwrap();
    let inputs: Vec<Vec<f64>> = (0..16).map(|i| Rng::new(i).vector(2 * 4096)).collect();
    let outs: Vec<Vec<f64>> = inputs.par_iter().map(|x| sim.run(x).unwrap()).collect();
    for (x, out) in inputs.iter().zip(&outs) {
        assert!(max_err(out, &mixed_expected(x, 4096)) < 1e-12);
    }
}

#[test]
fn packing_checks_lengths() {
    let (circuit, _) = mixed_circuit();
    let err = simulate(&circuit, &[0.0; 10]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shape mismatch: the circuit takes an input tensor of shape [8192] (8192 values), got 10 values"
    );
    let err = circuit.output.unpack(&[vec![0.0; 4096]]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shape mismatch: the circuit returns 3 ciphertexts, got 1 slot vectors"
    );
    let packed = circuit.input.pack(&vec![1.0; 8192], 4096).unwrap();
    assert_eq!(packed.len(), 2);
    assert!(packed.iter().all(|v| v.len() == 4096));
}

// ---------------------------------------------------------------- validation

fn message(c: &Circuit) -> String {
    c.validate().unwrap_err().to_string()
}

#[test]
fn use_before_definition_is_refused() {
    let (mut c, _) = mixed_circuit();
    if let Instr::Mul { b, .. } = &mut c.steps[1].instr {
        *b = ValueId(99);
    }
    assert_eq!(
        message(&c),
        "invalid circuit: step 1 (mul): operand %99 is used before it is defined"
    );
    let (mut c, _) = mixed_circuit();
    c.steps.swap(0, 1);
    assert_eq!(
        message(&c),
        "invalid circuit: step 0 (mul): operand %2 is used before it is defined"
    );
}

#[test]
fn double_definition_is_refused() {
    let (mut c, _) = mixed_circuit();
    if let Instr::Mul { dst, .. } = &mut c.steps[1].instr {
        *dst = ValueId(1);
    }
    assert_eq!(
        message(&c),
        "invalid circuit: step 1 (mul): %1 is defined twice (as an input and by step 1)"
    );
}

#[test]
fn missing_rotation_keys_are_refused() {
    let (mut c, _) = mixed_circuit();
    c.rotations.clear();
    assert_eq!(
        message(&c),
        "invalid circuit: step 4 (rotate): rotation by 5 is not in the circuit's rotation list"
    );

    let (mut b, x) = Builder::new(small_spec(), 1, 2);
    let one = b.constant(&vec![1.0; 2048]);
    let t = b.transform(LinearTransform {
        inputs: 1,
        outputs: 1,
        n1: 4,
        blocks: vec![DiagonalBlock {
            output: 0,
            input: 0,
            diagonals: vec![(0, one), (3, one), (9, one)],
        }],
        bias: vec![None],
    });
    let y = b.value();
    b.push(Instr::LinearTransform {
        dst: vec![y],
        src: x,
        transform: t,
    });
    let mut c = b.finish(&[y]);
    assert_eq!(c.required_rotations(), vec![1, 3, 8]);
    c.rotations = vec![1, 8];
    assert_eq!(
        message(&c),
        "invalid circuit: step 0 (linear_transform): rotation by 3 (transform 0) is not in the \
         circuit's rotation list"
    );
}

#[test]
fn wrong_level_annotations_are_refused() {
    let (mut c, _) = mixed_circuit();
    c.steps[1].level = 5;
    assert_eq!(
        message(&c),
        "invalid circuit: step 1 (mul): annotated level 5, but the level rules give 4"
    );
    let (mut c, _) = mixed_circuit();
    if let Instr::LevelDown { level, .. } = &mut c.steps[3].instr {
        *level = 4;
    }
    assert_eq!(
        message(&c),
        "invalid circuit: step 3 (level_down): target level 4 is not below the level 4 of %4"
    );
}

#[test]
fn circuits_deeper_than_the_chain_are_refused() {
    let (mut b, x) = Builder::new(small_spec(), 1, 2);
    let y = b.op(|dst| Instr::Mul {
        dst,
        a: x[0],
        b: x[0],
    });
    let z = b.op(|dst| Instr::Mul { dst, a: y, b: y });
    let mut c = b.finish(&[z]);
    c.validate().unwrap();
    // Two more squarings: the annotations cannot go below 0.
    for (dst, src) in [(3, 2), (4, 3)] {
        c.steps.push(Step {
            instr: Instr::Mul {
                dst: ValueId(dst),
                a: ValueId(src),
                b: ValueId(src),
            },
            level: 0,
            layer: 0,
        });
    }
    c.output.values = vec![ValueId(4)];
    assert_eq!(
        message(&c),
        "invalid circuit: the circuit needs 4 levels but the parameters provide 2 (step 2 (mul) \
         is the first to go below level 0)"
    );
}

#[test]
fn structural_errors_are_named() {
    let (mut c, _) = mixed_circuit();
    c.polynomials.push(ChebyshevPoly { coeffs: vec![0.5] });
    assert_eq!(
        message(&c),
        "invalid circuit: polynomial 0 has degree 0 (a constant); fold it into the surrounding \
         steps"
    );
    let (mut c, _) = mixed_circuit();
    c.constants[1].entries = vec![(3, 1.0), (2, 1.0)];
    assert_eq!(
        message(&c),
        "invalid circuit: constant c1: entries must be sorted by slot and distinct (slot 2 \
         follows slot 3)"
    );
    let (mut c, _) = mixed_circuit();
    c.input.level = 7;
    assert_eq!(
        message(&c),
        "invalid circuit: input level 7 is above the top level 6 of the parameters"
    );
    let (mut c, _) = mixed_circuit();
    c.output.values[0] = ValueId(77);
    assert_eq!(message(&c), "invalid circuit: output %77 is never defined");
    let (mut c, _) = mixed_circuit();
    c.steps[0].layer = 4;
    assert_eq!(
        message(&c),
        "invalid circuit: step 0 (mul_const): layer 4 does not exist (the circuit has 1 layers)"
    );
    let (mut c, _) = mixed_circuit();
    c.params.q[1] = c.params.q[2];
    assert!(message(&c).contains("appears more than once"));
}

#[test]
fn transform_inputs_must_share_a_level() {
    let (mut b, x) = Builder::new(small_spec(), 2, 2);
    let one = b.constant(&vec![1.0; 2048]);
    let t = b.transform(LinearTransform {
        inputs: 2,
        outputs: 1,
        n1: 1,
        blocks: vec![
            DiagonalBlock {
                output: 0,
                input: 0,
                diagonals: vec![(0, one)],
            },
            DiagonalBlock {
                output: 0,
                input: 1,
                diagonals: vec![(0, one)],
            },
        ],
        bias: vec![None],
    });
    let low = b.op(|dst| Instr::LevelDown {
        dst,
        src: x[1],
        level: 1,
    });
    let y = b.value();
    let mut c = b.finish(&[low]);
    c.steps.push(Step {
        instr: Instr::LinearTransform {
            dst: vec![y],
            src: vec![x[0], low],
            transform: t,
        },
        level: 0,
        layer: 0,
    });
    assert_eq!(
        message(&c),
        "invalid circuit: step 1 (linear_transform): inputs are at different levels (%0 at level \
         2, %2 at level 1); bring them to one level first"
    );
}

// ---------------------------------------------------------------- costs

#[test]
fn cost_of_a_known_transform() {
    let (mut b, x) = Builder::new(small_spec(), 1, 2);
    let d = b.constant(&vec![1.0; 2048]);
    // Offsets 0 1 2 3 | 4 5 | 8 | 13 with n1 = 4: baby steps {1, 2, 3} (one hoisted group),
    // giant steps {4, 8, 12}.
    let diagonals = [0, 1, 2, 3, 4, 5, 8, 13].map(|k| (k, d)).to_vec();
    let t = b.transform(LinearTransform {
        inputs: 1,
        outputs: 1,
        n1: 4,
        blocks: vec![DiagonalBlock {
            output: 0,
            input: 0,
            diagonals,
        }],
        bias: vec![Some(d)],
    });
    let y = b.value();
    b.push(Instr::LinearTransform {
        dst: vec![y],
        src: x,
        transform: t,
    });
    let circuit = b.finish(&[y]);
    assert_eq!(circuit.rotations, vec![1, 2, 3, 4, 8, 12]);
    let counts = count(&circuit).unwrap();
    assert_eq!(
        counts,
        Counts {
            key_switches: 6,
            rotations: 6,
            hoisted_groups: 1,
            relinearizations: 0,
            ct_mults: 0,
            pt_mults: 8,
            const_mults: 0,
            additions: 7,
            plain_additions: 1,
            rescales: 1,
            drops: 0,
            encodes: 9,
        }
    );
}

#[test]
fn costs_of_blocks_and_steps() {
    // 2 x 2 blocks with n1 = 3: one hoisted group per input, giant rotations per output.
    let (mut b, x) = Builder::new(small_spec(), 2, 2);
    let d = b.constant(&[1.0]);
    let block = |output, input, offsets: &[u32]| DiagonalBlock {
        output,
        input,
        diagonals: offsets.iter().map(|&k| (k, d)).collect(),
    };
    let t = b.transform(LinearTransform {
        inputs: 2,
        outputs: 2,
        n1: 3,
        blocks: vec![
            block(0, 0, &[0, 1, 4]),
            block(0, 1, &[2, 3]),
            block(1, 0, &[7]),
            block(1, 1, &[0]),
        ],
        bias: vec![None, None],
    });
    let y = vec![b.value(), b.value()];
    b.push(Instr::LinearTransform {
        dst: y.clone(),
        src: x.clone(),
        transform: t,
    });
    let z = b.op(|dst| Instr::Mul {
        dst,
        a: y[0],
        b: y[1],
    });
    let circuit = b.finish(&[z]);
    let total = count(&circuit).unwrap();
    // Input 0 babies {1} (offsets 0, 1, 4, 7 mod 3 = 0, 1, 1, 1), input 1 babies {2}
    // (2, 3, 0 mod 3 = 2, 0, 0): 2 hoisted rotations in 2 groups. Output 0 giants {0, 1}:
    // one rotation; output 1 giants {2, 0}: one rotation.
    assert_eq!(total.hoisted_groups, 2);
    assert_eq!(total.rotations, 4);
    assert_eq!(total.pt_mults, 7);
    assert_eq!(total.ct_mults, 1);
    assert_eq!(total.relinearizations, 1);
    assert_eq!(total.key_switches, 5);
    assert_eq!(total.rescales, 3);
    let steps = count_steps(&circuit).unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0] + steps[1], total);
    assert_eq!(steps[1].ct_mults, 1);
    assert_eq!(total - steps[0], steps[1]);
}

#[test]
fn polynomial_products_stay_below_the_degree() {
    for d in [2usize, 7, 15, 31] {
        let (mut b, x) = Builder::new(deep_spec(), 1, 6);
        let p = b.polynomial(vec![0.5; d + 1]);
        let y = b.op(|dst| Instr::Polynomial {
            dst,
            src: x[0],
            poly: p,
        });
        let counts = count(&b.finish(&[y])).unwrap();
        assert!(
            counts.ct_mults as usize <= d,
            "degree {d}: {} products",
            counts.ct_mults
        );
        assert_eq!(counts.rotations, 0);
    }
}
