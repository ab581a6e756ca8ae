//! Binary encoding of the program's steps (part of the circuit format of `io`): a one-byte
//! opcode, the operands, then the level annotation and the layer index.

use super::io::Read;
use super::{ConstId, Instr, Step, ValueId};
use crate::ckks::serial::{Reader, Writer};

pub(super) fn ids(v: &[ValueId]) -> Vec<u32> {
    v.iter().map(|id| id.0).collect()
}

pub(super) fn read_ids(r: &mut Reader<'_>) -> Read<Vec<ValueId>> {
    Ok(r.u32s()?.into_iter().map(ValueId).collect())
}

/// Opcodes of the instructions, in the order of [`Instr`].
mod op {
    pub const LINEAR_TRANSFORM: u8 = 0;
    pub const POLYNOMIAL: u8 = 1;
    pub const ADD: u8 = 2;
    pub const SUB: u8 = 3;
    pub const MUL: u8 = 4;
    pub const MUL_CONST: u8 = 5;
    pub const ADD_CONST: u8 = 6;
    pub const MUL_PLAIN: u8 = 7;
    pub const ADD_PLAIN: u8 = 8;
    pub const ROTATE: u8 = 9;
    pub const LEVEL_DOWN: u8 = 10;
}

pub(super) fn write_step(w: &mut Writer, step: &Step) {
    match &step.instr {
        Instr::LinearTransform {
            dst,
            src,
            transform,
        } => {
            w.u8(op::LINEAR_TRANSFORM);
            w.u32s(&ids(dst));
            w.u32s(&ids(src));
            w.u32(*transform);
        }
        Instr::Polynomial { dst, src, poly } => {
            w.u8(op::POLYNOMIAL);
            w.u32(dst.0);
            w.u32(src.0);
            w.u32(*poly);
        }
        Instr::Add { dst, a, b } | Instr::Sub { dst, a, b } | Instr::Mul { dst, a, b } => {
            w.u8(match step.instr {
                Instr::Add { .. } => op::ADD,
                Instr::Sub { .. } => op::SUB,
                _ => op::MUL,
            });
            w.u32(dst.0);
            w.u32(a.0);
            w.u32(b.0);
        }
        Instr::MulConst { dst, src, c } | Instr::AddConst { dst, src, c } => {
            let code = if matches!(step.instr, Instr::MulConst { .. }) {
                op::MUL_CONST
            } else {
                op::ADD_CONST
            };
            w.u8(code);
            w.u32(dst.0);
            w.u32(src.0);
            w.f64(*c);
        }
        Instr::MulPlain { dst, src, constant } | Instr::AddPlain { dst, src, constant } => {
            let code = if matches!(step.instr, Instr::MulPlain { .. }) {
                op::MUL_PLAIN
            } else {
                op::ADD_PLAIN
            };
            w.u8(code);
            w.u32(dst.0);
            w.u32(src.0);
            w.u32(constant.0);
        }
        Instr::Rotate { dst, src, step } => {
            w.u8(op::ROTATE);
            w.u32(dst.0);
            w.u32(src.0);
            w.u32(*step);
        }
        Instr::LevelDown { dst, src, level } => {
            w.u8(op::LEVEL_DOWN);
            w.u32(dst.0);
            w.u32(src.0);
            w.usize(*level);
        }
    }
    w.usize(step.level);
    w.u32(step.layer);
}

pub(super) fn read_step(r: &mut Reader<'_>) -> Read<Step> {
    let code = r.u8()?;
    let instr = match code {
        op::LINEAR_TRANSFORM => Instr::LinearTransform {
            dst: read_ids(r)?,
            src: read_ids(r)?,
            transform: r.u32()?,
        },
        op::POLYNOMIAL => Instr::Polynomial {
            dst: ValueId(r.u32()?),
            src: ValueId(r.u32()?),
            poly: r.u32()?,
        },
        op::ADD | op::SUB | op::MUL => {
            let (dst, a, b) = (ValueId(r.u32()?), ValueId(r.u32()?), ValueId(r.u32()?));
            match code {
                op::ADD => Instr::Add { dst, a, b },
                op::SUB => Instr::Sub { dst, a, b },
                _ => Instr::Mul { dst, a, b },
            }
        }
        op::MUL_CONST | op::ADD_CONST => {
            let (dst, src, c) = (ValueId(r.u32()?), ValueId(r.u32()?), r.f64()?);
            if code == op::MUL_CONST {
                Instr::MulConst { dst, src, c }
            } else {
                Instr::AddConst { dst, src, c }
            }
        }
        op::MUL_PLAIN | op::ADD_PLAIN => {
            let (dst, src, constant) = (ValueId(r.u32()?), ValueId(r.u32()?), ConstId(r.u32()?));
            if code == op::MUL_PLAIN {
                Instr::MulPlain { dst, src, constant }
            } else {
                Instr::AddPlain { dst, src, constant }
            }
        }
        op::ROTATE => Instr::Rotate {
            dst: ValueId(r.u32()?),
            src: ValueId(r.u32()?),
            step: r.u32()?,
        },
        op::LEVEL_DOWN => Instr::LevelDown {
            dst: ValueId(r.u32()?),
            src: ValueId(r.u32()?),
            level: r.usize()?,
        },
        other => return Err(r.corrupted(format!("unknown instruction opcode {other}"))),
    };
    Ok(Step {
        instr,
        level: r.usize()?,
        layer: r.u32()?,
    })
}
