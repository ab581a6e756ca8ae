//! The static parts of validation: input and output descriptions, the rotation list, constants,
//! transforms and polynomials (everything but the program, which `verify` walks).

use super::instr::volume;
use super::verify::invalid;
use super::{Circuit, ConstId, LinearTransform};
use crate::error::Result;
use std::collections::HashSet;

impl Circuit {
    pub(super) fn check_input(&self, slots: usize, max_level: usize) -> Result<()> {
        let input = &self.input;
        if input.values.is_empty() {
            return Err(invalid("the input defines no values".into()));
        }
        if input.slots.len() != input.values.len() {
            return Err(invalid(format!(
                "the input lists slots for {} ciphertexts but defines {} values",
                input.slots.len(),
                input.values.len()
            )));
        }
        let elements = volume(&input.shape)
            .ok_or_else(|| invalid(format!("input shape {:?} is too large", input.shape)))?;
        for (ct, map) in input.slots.iter().enumerate() {
            let mut seen = HashSet::new();
            for &(slot, element) in map {
                if slot as usize >= slots {
                    return Err(invalid(format!(
                        "input ciphertext {ct}: slot {slot} is out of range ({slots} slots)"
                    )));
                }
                if element as usize >= elements {
                    return Err(invalid(format!(
                        "input ciphertext {ct}: element {element} is outside the input tensor \
                         of {elements} elements"
                    )));
                }
                if !seen.insert(slot) {
                    return Err(invalid(format!(
                        "input ciphertext {ct} lists slot {slot} twice"
                    )));
                }
            }
        }
        if input.level > max_level {
            return Err(invalid(format!(
                "input level {} is above the top level {max_level} of the parameters",
                input.level
            )));
        }
        let p = &input.preprocess;
        for (what, v) in [("means", &p.mean), ("standard deviations", &p.std)] {
            if !v.is_empty() && v.len() != p.channels {
                return Err(invalid(format!(
                    "preprocessing lists {} {what} for {} channels",
                    v.len(),
                    p.channels
                )));
            }
        }
        Ok(())
    }

    pub(super) fn check_output(&self, slots: usize) -> Result<()> {
        let out = &self.output;
        if out.values.is_empty() {
            return Err(invalid("the circuit returns no values".into()));
        }
        let elements = volume(&out.shape);
        if elements != Some(out.positions.len()) {
            return Err(invalid(format!(
                "output shape {:?} does not match the {} listed output positions",
                out.shape,
                out.positions.len()
            )));
        }
        for (e, &(ct, slot)) in out.positions.iter().enumerate() {
            if ct as usize >= out.values.len() || slot as usize >= slots {
                return Err(invalid(format!(
                    "output element {e} lies in slot {slot} of result {ct}, but there are {} \
                     results of {slots} slots",
                    out.values.len()
                )));
            }
        }
        Ok(())
    }

    pub(super) fn check_rotation_list(&self, slots: usize) -> Result<()> {
        for (i, &r) in self.rotations.iter().enumerate() {
            if r == 0 || r as usize >= slots {
                return Err(invalid(format!(
                    "rotation list: step {r} is outside 1..{slots}"
                )));
            }
            if i > 0 && self.rotations[i - 1] >= r {
                return Err(invalid(format!(
                    "rotation list must be sorted and distinct ({r} follows {})",
                    self.rotations[i - 1]
                )));
            }
        }
        Ok(())
    }

    pub(super) fn check_constants(&self, slots: usize) -> Result<()> {
        for (i, c) in self.constants.iter().enumerate() {
            for (j, &(slot, value)) in c.entries.iter().enumerate() {
                if slot as usize >= slots {
                    return Err(invalid(format!(
                        "constant c{i}: slot {slot} is out of range ({slots} slots)"
                    )));
                }
                if j > 0 && c.entries[j - 1].0 >= slot {
                    return Err(invalid(format!(
                        "constant c{i}: entries must be sorted by slot and distinct (slot {slot} \
                         follows slot {})",
                        c.entries[j - 1].0
                    )));
                }
                if !value.is_finite() {
                    return Err(invalid(format!(
                        "constant c{i}: the value at slot {slot} is not finite"
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) fn check_const(&self, what: &str, c: ConstId) -> Result<()> {
        if c.0 as usize >= self.constants.len() {
            return Err(invalid(format!(
                "{what}: constant {c} does not exist (the circuit has {})",
                self.constants.len()
            )));
        }
        Ok(())
    }

    pub(super) fn check_transform(
        &self,
        i: usize,
        t: &LinearTransform,
        slots: usize,
    ) -> Result<()> {
        let what = format!("transform {i}");
        if t.n1 == 0 || t.inputs == 0 || t.outputs == 0 {
            return Err(invalid(format!(
                "{what}: n1 = {}, {} inputs, {} outputs; each must be at least 1",
                t.n1, t.inputs, t.outputs
            )));
        }
        if t.bias.len() != t.outputs {
            return Err(invalid(format!(
                "{what}: {} bias entries for {} output blocks",
                t.bias.len(),
                t.outputs
            )));
        }
        for c in t.bias.iter().flatten() {
            self.check_const(&what, *c)?;
        }
        let mut pairs = HashSet::new();
        for b in &t.blocks {
            let block = format!("{what}, block (output {}, input {})", b.output, b.input);
            if b.output as usize >= t.outputs || b.input as usize >= t.inputs {
                return Err(invalid(format!(
                    "{block}: out of range ({} outputs, {} inputs)",
                    t.outputs, t.inputs
                )));
            }
            if !pairs.insert((b.output, b.input)) {
                return Err(invalid(format!("{block} appears twice")));
            }
            if b.diagonals.is_empty() {
                return Err(invalid(format!("{block} has no diagonals")));
            }
            for (j, &(k, c)) in b.diagonals.iter().enumerate() {
                if k as usize >= slots {
                    return Err(invalid(format!(
                        "{block}: diagonal offset {k} is out of range ({slots} slots)"
                    )));
                }
                if j > 0 && b.diagonals[j - 1].0 >= k {
                    return Err(invalid(format!(
                        "{block}: diagonal offsets must be sorted and distinct ({k} follows {})",
                        b.diagonals[j - 1].0
                    )));
                }
                self.check_const(&block, c)?;
            }
        }
        for j in 0..t.outputs as u32 {
            if !t.blocks.iter().any(|b| b.output == j) {
                return Err(invalid(format!(
                    "{what}: output block {j} has no diagonal block"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn check_polynomials(&self) -> Result<()> {
        for (i, p) in self.polynomials.iter().enumerate() {
            let d = p.degree();
            if p.coeffs.is_empty() {
                return Err(invalid(format!("polynomial {i} has no coefficients")));
            }
            if let Some(j) = p.coeffs.iter().position(|c| !c.is_finite()) {
                return Err(invalid(format!(
                    "polynomial {i}: coefficient c_{j} is not finite"
                )));
            }
            if d == 0 {
                return Err(invalid(format!(
                    "polynomial {i} has degree 0 (a constant); fold it into the surrounding steps"
                )));
            }
            if p.coeffs[d] == 0.0 {
                return Err(invalid(format!(
                    "polynomial {i}: the leading coefficient c_{d} is zero; drop trailing zeros"
                )));
            }
        }
        Ok(())
    }
}
