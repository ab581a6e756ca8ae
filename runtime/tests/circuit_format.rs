//! The binary circuit format: round trips to an equal circuit with an equal fingerprint; trailing
//! bytes, another kind of file and bad magic are refused with their messages; every truncation
//! is an error and no corrupted byte makes reading, validation or execution panic.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use blindfold_runtime::circuit::*;
use blindfold_runtime::ckks::serial::{peek_kind, Kind};
use blindfold_runtime::exec::{count, simulate};
use blindfold_runtime::{FormatError, RuntimeError};
use common::{deep_spec, small_spec, Builder};

/// A small circuit with every instruction, a transform with a bias, a polynomial, and full
/// metadata, whose input and output touch few slots (so every byte can be mutated quickly).
fn compact_circuit() -> Circuit {
    let (mut b, x) = Builder::new(small_spec(), 2, 2);
    let d0 = b.constant(&[0.5, -1.0, 0.0, 2.0]);
    let d1 = b.constant(&[0.0, 0.25]);
    let bias = b.constant(&[1.0, 0.0, -1.0]);
    let t = b.transform(LinearTransform {
        inputs: 2,
        outputs: 2,
        n1: 2,
        blocks: vec![
            DiagonalBlock {
                output: 0,
                input: 0,
                diagonals: vec![(0, d0), (1, d1), (3, d0)],
            },
            DiagonalBlock {
                output: 1,
                input: 1,
                diagonals: vec![(2, d1)],
            },
        ],
        bias: vec![Some(bias), None],
    });
    let y = vec![b.value(), b.value()];
    b.push(Instr::LinearTransform {
        dst: y.clone(),
        src: x.clone(),
        transform: t,
    });
    let p = b.polynomial(vec![0.1, 0.5, 0.25]);
    let z = b.op(|dst| Instr::Polynomial {
        dst,
        src: x[0],
        poly: p,
    });
    let s = b.op(|dst| Instr::Sub { dst, a: y[0], b: z });
    let a = b.op(|dst| Instr::Add { dst, a: s, b: y[1] });
    let r = b.op(|dst| Instr::Rotate {
        dst,
        src: a,
        step: 7,
    });
    let k = b.op(|dst| Instr::AddConst {
        dst,
        src: r,
        c: 0.125,
    });
    let m = b.op(|dst| Instr::MulConst {
        dst,
        src: y[1],
        c: 3.0,
    });
    let ap = b.op(|dst| Instr::AddPlain {
        dst,
        src: x[1],
        constant: bias,
    });
    let mp = b.op(|dst| Instr::MulPlain {
        dst,
        src: ap,
        constant: d0,
    });
    let ld = b.op(|dst| Instr::LevelDown {
        dst,
        src: mp,
        level: 0,
    });
    let sq = b.op(|dst| Instr::Mul {
        dst,
        a: x[1],
        b: x[1],
    });
    assert_eq!([k, m, ld, sq].map(|v| b.level(v)), [0, 0, 0, 1]);
    let mut c = b.finish(&[k, m, ld, sq]);
    c.input.shape = vec![1, 2, 3];
    c.input.slots = vec![vec![(0, 0), (1, 1), (2, 2)], vec![(0, 3), (5, 4), (9, 5)]];
    c.input.preprocess = Preprocess {
        channels: 2,
        height: 1,
        width: 3,
        pixel_scale: 1.0 / 255.0,
        mean: vec![0.5, 0.25],
        std: vec![0.2, 0.3],
    };
    c.output.shape = vec![1, 4];
    c.output.positions = vec![(0, 0), (0, 1), (1, 2), (2, 3)];
    c.layers[0].input_shape = vec![1, 2, 3];
    c.layers[0].output_shape = vec![1, 4];
    c.meta.activations.push(ActivationInfo {
        layer: "/relu".into(),
        function: "relu".into(),
        degree: 2,
        interval: (-4.0, 4.0),
    });
    c.meta.calibration = Some(CalibrationInfo {
        images: 100,
        labelled: 90,
        original_accuracy: 0.97,
        simulated_accuracy: 0.96,
        max_abs_output: Some(12.5),
    });
    c
}

#[test]
fn scores_beyond_the_calibrated_outputs_are_flagged_and_older_circuits_still_read() {
    let mut c = compact_circuit();
    let meta = &c.meta;
    assert_eq!(meta.out_of_range(&[-12.5, 3.0, 18.0, 0.0]), None);
    let warning = meta.out_of_range(&[1e11, 0.0, 0.0, 0.0]).unwrap();
    assert!(
        warning.contains("out of range")
            && warning.contains("1.000e11")
            && warning.contains("12.5"),
        "{warning}"
    );
    assert!(meta.out_of_range(&[f64::NAN, 0.0, 0.0, 0.0]).is_some());
    // A circuit without the recorded bound (as written before it existed) reads back without
    // it and flags nothing.
    if let Some(cal) = &mut c.meta.calibration {
        cal.max_abs_output = None;
    }
    let back = Circuit::from_bytes(&c.to_bytes()).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.meta.out_of_range(&[1e11, 0.0, 0.0, 0.0]), None);
}

#[test]
fn the_format_round_trips() {
    let c = compact_circuit();
    c.validate().unwrap();
    let bytes = c.to_bytes();
    assert_eq!(peek_kind(&bytes), Some(Kind::Circuit));
    let back = Circuit::from_bytes(&bytes).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.fingerprint(), c.fingerprint());
    assert_eq!(c.fingerprint_hex().len(), 32);
    let tensor = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
    assert_eq!(
        simulate(&back, &tensor).unwrap(),
        simulate(&c, &tensor).unwrap()
    );

    let mut other = c.clone();
    other.meta.model = "another".into();
    assert_ne!(other.fingerprint(), c.fingerprint());

    let (big, _) = common::mixed_circuit(deep_spec(), 6);
    assert_eq!(Circuit::from_bytes(&big.to_bytes()).unwrap(), big);
}

#[test]
fn malformed_files_are_refused() {
    let bytes = compact_circuit().to_bytes();
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        Circuit::from_bytes(&long),
        Err(RuntimeError::Format(FormatError::TrailingBytes {
            extra: 1,
            ..
        }))
    ));
    let params = small_spec().to_bytes();
    assert_eq!(
        Circuit::from_bytes(&params).unwrap_err().to_string(),
        "expected circuit data, found parameter set data"
    );
    assert!(matches!(
        Circuit::from_bytes(b"not a circuit"),
        Err(RuntimeError::Format(FormatError::BadMagic { .. }))
    ));
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let c = compact_circuit();
    let bytes = c.to_bytes();
    for len in 0..bytes.len() {
        assert!(
            Circuit::from_bytes(&bytes[..len]).is_err(),
            "prefix of {len}"
        );
    }
    let tensor = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
    let (mut parsed, mut valid) = (0, 0);
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[pos] ^= mask;
            if let Ok(circuit) = Circuit::from_bytes(&corrupt) {
                parsed += 1;
                if circuit.validate().is_ok() {
                    valid += 1;
                    let _ = simulate(&circuit, &tensor);
                    let _ = count(&circuit);
                }
            }
        }
    }
    eprintln!(
        "{parsed} parsed, {valid} valid of {} mutations",
        3 * bytes.len()
    );
    // Most mutations are still readable; validation catches many of the rest.
    assert!(
        parsed > 0 && valid < parsed,
        "{parsed} parsed, {valid} valid"
    );
}
