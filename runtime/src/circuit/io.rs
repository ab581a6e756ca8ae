//! Versioned binary format of circuits (`.bfc`).
//!
//! The header is the one of every blindfold object (magic `BLDF`, `u16` version, kind tag
//! [`Kind::Circuit`], no parameter fingerprint: the circuit carries its parameters). Then, all
//! little-endian: the parameter set as [`CkksParamsSpec::canonical_bytes`], the input and
//! output descriptions, the rotation list, the constants (`u32` slot + `f64` value per non-zero
//! entry), the transforms, the polynomials, the steps (a one-byte opcode, the operands, the
//! level and layer), the layers and the metadata. Collections are prefixed by a `u32` count,
//! strings by a `u32` byte length, `usize` fields are `u64`.
//!
//! The reader checks every count against the bytes left before allocating, refuses unknown
//! opcodes, flags and trailing bytes, and never panics; the structure it returns is not yet
//! validated ([`Circuit::validate`] does that).

use super::io_step::{ids, read_ids, read_step, write_step};
use super::{
    ActivationInfo, CalibrationInfo, ChebyshevPoly, Circuit, ConstId, DiagonalBlock, InputSpec,
    LayerInfo, LinearTransform, Metadata, OutputSpec, Preprocess, SlotVector,
};
use crate::ckks::serial::{Kind, Reader, Writer};
use crate::ckks::CkksParamsSpec;
use crate::error::{FormatError, Result};
use sha2::{Digest, Sha256};

/// Result of the field readers.
pub(super) type Read<T> = std::result::Result<T, FormatError>;

impl Circuit {
    /// Serializes the circuit (deterministic: equal circuits give equal bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Circuit, None);
        w.bytes(&self.params.canonical_bytes());
        write_input(&mut w, &self.input);
        write_output(&mut w, &self.output);
        w.u32s(&self.rotations);
        w.len(self.constants.len());
        for c in &self.constants {
            w.len(c.entries.len());
            for &(slot, value) in &c.entries {
                w.u32(slot);
                w.f64(value);
            }
        }
        w.len(self.transforms.len());
        for t in &self.transforms {
            write_transform(&mut w, t);
        }
        w.len(self.polynomials.len());
        for p in &self.polynomials {
            w.f64s(&p.coeffs);
        }
        w.len(self.steps.len());
        for s in &self.steps {
            write_step(&mut w, s);
        }
        w.len(self.layers.len());
        for l in &self.layers {
            w.str(&l.name);
            w.str(&l.kind);
            w.usizes(&l.input_shape);
            w.usizes(&l.output_shape);
        }
        write_meta(&mut w, &self.meta);
        w.into_bytes()
    }

    /// Reads a circuit written by [`Self::to_bytes`]. The result is structurally complete but
    /// not validated: call [`Self::validate`] (the executor does) before trusting it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Circuit)?;
        let params = CkksParamsSpec::read_body(&mut r)?;
        let input = read_input(&mut r)?;
        let output = read_output(&mut r)?;
        let rotations = r.u32s()?;
        let n = r.len(4)?;
        let mut constants = Vec::with_capacity(n);
        for _ in 0..n {
            let m = r.len(12)?;
            let entries = (0..m)
                .map(|_| Ok((r.u32()?, r.f64()?)))
                .collect::<Read<_>>()?;
            constants.push(SlotVector { entries });
        }
        let n = r.len(20)?;
        let transforms = (0..n)
            .map(|_| read_transform(&mut r))
            .collect::<Read<_>>()?;
        let n = r.len(4)?;
        let polynomials = (0..n)
            .map(|_| Ok(ChebyshevPoly { coeffs: r.f64s()? }))
            .collect::<Read<_>>()?;
        let n = r.len(13)?;
        let steps = (0..n).map(|_| read_step(&mut r)).collect::<Read<_>>()?;
        let n = r.len(16)?;
        let layers = (0..n)
            .map(|_| {
                Ok(LayerInfo {
                    name: r.str()?,
                    kind: r.str()?,
                    input_shape: r.usizes()?,
                    output_shape: r.usizes()?,
                })
            })
            .collect::<Read<_>>()?;
        let meta = read_meta(&mut r)?;
        r.finish()?;
        Ok(Self {
            params,
            input,
            output,
            rotations,
            constants,
            transforms,
            polynomials,
            steps,
            layers,
            meta,
        })
    }

    /// The first 16 bytes of the SHA-256 of [`Self::to_bytes`]: identifies the circuit, so
    /// keys and ciphertexts made for it can be tied to it.
    pub fn fingerprint(&self) -> [u8; 16] {
        let digest = Sha256::digest(self.to_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }

    /// [`Self::fingerprint`] in lower-case hexadecimal.
    pub fn fingerprint_hex(&self) -> String {
        crate::ckks::serial::to_hex(&self.fingerprint())
    }
}

pub(super) fn write_pairs(w: &mut Writer, pairs: &[(u32, u32)]) {
    w.len(pairs.len());
    for &(a, b) in pairs {
        w.u32(a);
        w.u32(b);
    }
}

pub(super) fn read_pairs(r: &mut Reader<'_>) -> Read<Vec<(u32, u32)>> {
    let n = r.len(8)?;
    (0..n).map(|_| Ok((r.u32()?, r.u32()?))).collect()
}

fn write_input(w: &mut Writer, input: &InputSpec) {
    w.usizes(&input.shape);
    w.u32s(&ids(&input.values));
    w.len(input.slots.len());
    for s in &input.slots {
        write_pairs(w, s);
    }
    w.usize(input.level);
    let p = &input.preprocess;
    w.usize(p.channels);
    w.usize(p.height);
    w.usize(p.width);
    w.f64(p.pixel_scale);
    w.f64s(&p.mean);
    w.f64s(&p.std);
}

fn read_input(r: &mut Reader<'_>) -> Read<InputSpec> {
    let shape = r.usizes()?;
    let values = read_ids(r)?;
    let n = r.len(4)?;
    let slots = (0..n).map(|_| read_pairs(r)).collect::<Read<_>>()?;
    let level = r.usize()?;
    let preprocess = Preprocess {
        channels: r.usize()?,
        height: r.usize()?,
        width: r.usize()?,
        pixel_scale: r.f64()?,
        mean: r.f64s()?,
        std: r.f64s()?,
    };
    Ok(InputSpec {
        shape,
        values,
        slots,
        level,
        preprocess,
    })
}

fn write_output(w: &mut Writer, output: &OutputSpec) {
    w.usizes(&output.shape);
    w.u32s(&ids(&output.values));
    write_pairs(w, &output.positions);
}

fn read_output(r: &mut Reader<'_>) -> Read<OutputSpec> {
    Ok(OutputSpec {
        shape: r.usizes()?,
        values: read_ids(r)?,
        positions: read_pairs(r)?,
    })
}

fn write_transform(w: &mut Writer, t: &LinearTransform) {
    w.usize(t.inputs);
    w.usize(t.outputs);
    w.usize(t.n1);
    w.len(t.blocks.len());
    for b in &t.blocks {
        w.u32(b.output);
        w.u32(b.input);
        let diagonals: Vec<(u32, u32)> = b.diagonals.iter().map(|&(k, c)| (k, c.0)).collect();
        write_pairs(w, &diagonals);
    }
    w.len(t.bias.len());
    for b in &t.bias {
        match b {
            Some(c) => {
                w.u8(1);
                w.u32(c.0);
            }
            None => w.u8(0),
        }
    }
}

fn read_transform(r: &mut Reader<'_>) -> Read<LinearTransform> {
    let inputs = r.usize()?;
    let outputs = r.usize()?;
    let n1 = r.usize()?;
    let n = r.len(12)?;
    let blocks = (0..n)
        .map(|_| {
            Ok(DiagonalBlock {
                output: r.u32()?,
                input: r.u32()?,
                diagonals: read_pairs(r)?
                    .into_iter()
                    .map(|(k, c)| (k, ConstId(c)))
                    .collect(),
            })
        })
        .collect::<Read<_>>()?;
    let n = r.len(1)?;
    let bias = (0..n)
        .map(|_| match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(ConstId(r.u32()?))),
            other => Err(r.corrupted(format!("bias flag {other}"))),
        })
        .collect::<Read<_>>()?;
    Ok(LinearTransform {
        inputs,
        outputs,
        n1,
        blocks,
        bias,
    })
}

fn write_meta(w: &mut Writer, meta: &Metadata) {
    w.str(&meta.model);
    w.len(meta.activations.len());
    for a in &meta.activations {
        w.str(&a.layer);
        w.str(&a.function);
        w.usize(a.degree);
        w.f64(a.interval.0);
        w.f64(a.interval.1);
    }
    match &meta.calibration {
        Some(c) => {
            w.u8(if c.max_abs_output.is_some() { 2 } else { 1 });
            w.usize(c.images);
            w.usize(c.labelled);
            w.f64(c.original_accuracy);
            w.f64(c.simulated_accuracy);
            if let Some(m) = c.max_abs_output {
                w.f64(m);
            }
        }
        None => w.u8(0),
    }
}

fn read_meta(r: &mut Reader<'_>) -> Read<Metadata> {
    let model = r.str()?;
    let n = r.len(32)?;
    let activations = (0..n)
        .map(|_| {
            Ok(ActivationInfo {
                layer: r.str()?,
                function: r.str()?,
                degree: r.usize()?,
                interval: (r.f64()?, r.f64()?),
            })
        })
        .collect::<Read<_>>()?;
    let calibration = match r.u8()? {
        0 => None,
        flag @ (1 | 2) => Some(CalibrationInfo {
            images: r.usize()?,
            labelled: r.usize()?,
            original_accuracy: r.f64()?,
            simulated_accuracy: r.f64()?,
            max_abs_output: if flag == 2 { Some(r.f64()?) } else { None },
        }),
        other => return Err(r.corrupted(format!("calibration flag {other}"))),
    };
    Ok(Metadata {
        model,
        activations,
        calibration,
    })
}
