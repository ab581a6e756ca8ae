//! Validation of circuits: everything the executor relies on, checked once, with messages that
//! name the step, the instruction and the value (`step 12 (mul): operand %7 is used before it
//! is defined`).

use super::{Circuit, Instr, LinearTransform, ValueId};
use crate::ckks::CkksParams;
use crate::error::{Result, RuntimeError};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What validation learnt about a circuit.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitSummary {
    /// Slots per ciphertext (`N/2`).
    pub slots: usize,
    /// Level of the input ciphertexts.
    pub input_level: usize,
    /// Lowest level among the output values.
    pub output_level: usize,
    /// Levels consumed: the input level minus the lowest level any value reaches.
    pub depth: usize,
    /// Number of steps.
    pub steps: usize,
    /// Number of values (inputs and step results).
    pub values: usize,
    /// The rotation steps the program needs keys for ([`Circuit::required_rotations`]).
    pub rotations: Vec<u32>,
    /// Number of constant slot vectors.
    pub constants: usize,
    /// Total non-zero entries of the constants.
    pub constant_entries: usize,
}

pub(super) fn invalid(detail: String) -> RuntimeError {
    RuntimeError::InvalidCircuit { detail }
}

/// Where a value was defined, for messages.
#[derive(Clone, Copy)]
enum Def {
    Input,
    Step(usize),
}

impl std::fmt::Display for Def {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input => write!(f, "as an input"),
            Self::Step(i) => write!(f, "by step {i}"),
        }
    }
}

/// The rotation steps (in `1..slots`) a transform evaluated with `n1` baby steps needs: baby
/// steps `k mod n1 ≠ 0` and giant steps `(k / n1)·n1 mod slots ≠ 0` of its diagonal offsets `k`.
pub(crate) fn transform_rotations(t: &LinearTransform, slots: usize) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    if t.n1 == 0 || slots == 0 {
        return out;
    }
    let n1 = t.n1 as u64;
    for block in &t.blocks {
        for &(k, _) in &block.diagonals {
            let k = u64::from(k);
            let baby = (k % n1) % slots as u64;
            let giant = (k / n1 * n1) % slots as u64;
            for step in [baby, giant] {
                if step != 0 {
                    out.insert(step as u32);
                }
            }
        }
    }
    out
}

impl Circuit {
    /// The rotation steps the program needs Galois keys for, sorted and distinct, in
    /// `1..slots`: the baby and giant steps of every transform a step uses, and every `Rotate`.
    pub fn required_rotations(&self) -> Vec<u32> {
        let slots = self.slots();
        let mut out = BTreeSet::new();
        for step in &self.steps {
            match &step.instr {
                Instr::LinearTransform { transform, .. } => {
                    if let Some(t) = self.transforms.get(*transform as usize) {
                        out.extend(transform_rotations(t, slots));
                    }
                }
                Instr::Rotate { step, .. } if (1..slots as u64).contains(&u64::from(*step)) => {
                    out.insert(*step);
                }
                _ => {}
            }
        }
        out.into_iter().collect()
    }

    /// Checks everything the executor relies on and returns what it learnt. Refuses invalid
    /// parameters; inconsistent input/output descriptions; unsorted or out-of-range rotation
    /// lists, constants and diagonals; dangling references; a value used before its definition
    /// or defined twice; a rotation without a key in [`Circuit::rotations`]; a level annotation
    /// that differs from the rules of [`Instr`]; a program deeper than the modulus chain.
    pub fn validate(&self) -> Result<CircuitSummary> {
        let params = CkksParams::new(self.params.clone())?;
        let slots = params.slots();
        self.check_input(slots, params.max_level())?;
        self.check_output(slots)?;
        self.check_rotation_list(slots)?;
        self.check_constants(slots)?;
        for (i, t) in self.transforms.iter().enumerate() {
            self.check_transform(i, t, slots)?;
        }
        self.check_polynomials()?;
        let levels = self.check_program(slots)?;
        let lowest = levels.values().copied().min().unwrap_or(0);
        let output_level = self
            .output
            .values
            .iter()
            .filter_map(|v| levels.get(v))
            .copied()
            .min()
            .unwrap_or(0);
        Ok(CircuitSummary {
            slots,
            input_level: self.input.level,
            output_level: output_level.max(0) as usize,
            depth: (self.input.level as i64).saturating_sub(lowest).max(0) as usize,
            steps: self.steps.len(),
            values: levels.len(),
            rotations: self.required_rotations(),
            constants: self.constants.len(),
            constant_entries: self.constants.iter().map(|c| c.entries.len()).sum(),
        })
    }

    /// SSA, references, rotation keys and levels of the program; returns the level of every
    /// value (negative when the program is deeper than the chain, which is then refused).
    fn check_program(&self, slots: usize) -> Result<HashMap<ValueId, i64>> {
        let mut defs: HashMap<ValueId, (i64, Def)> = HashMap::new();
        for &v in &self.input.values {
            if let Some((_, first)) = defs.insert(v, (self.input.level as i64, Def::Input)) {
                return Err(invalid(format!(
                    "{v} is defined twice ({first} and as an input)"
                )));
            }
        }
        let keys: HashSet<u32> = self.rotations.iter().copied().collect();
        let mut too_deep: Option<String> = None;
        for (index, step) in self.steps.iter().enumerate() {
            let at = format!("step {index} ({})", step.instr.name());
            let mut operand_levels = Vec::new();
            for v in step.instr.operands() {
                match defs.get(&v) {
                    Some(&(level, _)) => operand_levels.push(level),
                    None => {
                        return Err(invalid(format!(
                            "{at}: operand {v} is used before it is defined"
                        )))
                    }
                }
            }
            let level = self.step_level(&at, &step.instr, &operand_levels, slots, &keys)?;
            if step.layer as usize >= self.layers.len() {
                return Err(invalid(format!(
                    "{at}: layer {} does not exist (the circuit has {} layers)",
                    step.layer,
                    self.layers.len()
                )));
            }
            if level < 0 {
                too_deep.get_or_insert_with(|| at.clone());
            } else if too_deep.is_none() && step.level as i64 != level {
                return Err(invalid(format!(
                    "{at}: annotated level {}, but the level rules give {level}",
                    step.level
                )));
            }
            for v in step.instr.results() {
                if let Some((_, first)) = defs.insert(v, (level, Def::Step(index))) {
                    return Err(invalid(format!(
                        "{at}: {v} is defined twice ({first} and by step {index})"
                    )));
                }
            }
        }
        for v in &self.output.values {
            if !defs.contains_key(v) {
                return Err(invalid(format!("output {v} is never defined")));
            }
        }
        let levels: HashMap<ValueId, i64> = defs.into_iter().map(|(v, (l, _))| (v, l)).collect();
        if let Some(at) = too_deep {
            let lowest = levels.values().copied().min().unwrap_or(0);
            return Err(invalid(format!(
                "the circuit needs {} levels but the parameters provide {} ({at} is the first \
                 to go below level 0)",
                (self.input.level as i64).saturating_sub(lowest),
                self.input.level
            )));
        }
        Ok(levels)
    }

    /// The level of the values a step defines, by the rules of [`Instr`], after checking the
    /// step's references and rotation keys.
    fn step_level(
        &self,
        at: &str,
        instr: &Instr,
        levels: &[i64],
        slots: usize,
        keys: &HashSet<u32>,
    ) -> Result<i64> {
        let l = levels.iter().copied().min().unwrap_or(0);
        Ok(match instr {
            Instr::LinearTransform {
                dst,
                src,
                transform,
            } => {
                let t = self.transforms.get(*transform as usize).ok_or_else(|| {
                    invalid(format!(
                        "{at}: transform {transform} does not exist (the circuit has {})",
                        self.transforms.len()
                    ))
                })?;
                if src.len() != t.inputs || dst.len() != t.outputs {
                    return Err(invalid(format!(
                        "{at}: transform {transform} maps {} inputs to {} outputs, but the step \
                         gives {} sources and {} destinations",
                        t.inputs,
                        t.outputs,
                        src.len(),
                        dst.len()
                    )));
                }
                if let Some(i) = levels.iter().position(|&x| x != l) {
                    let j = levels.iter().position(|&x| x == l).unwrap_or(0);
                    return Err(invalid(format!(
                        "{at}: inputs are at different levels ({} at level {}, {} at level {l}); \
                         bring them to one level first",
                        src[i], levels[i], src[j]
                    )));
                }
                if let Some(r) = transform_rotations(t, slots)
                    .into_iter()
                    .find(|r| !keys.contains(r))
                {
                    return Err(invalid(format!(
                        "{at}: rotation by {r} (transform {transform}) is not in the circuit's \
                         rotation list"
                    )));
                }
                l - 1
            }
            Instr::Polynomial { poly, .. } => {
                let p = self.polynomials.get(*poly as usize).ok_or_else(|| {
                    invalid(format!(
                        "{at}: polynomial {poly} does not exist (the circuit has {})",
                        self.polynomials.len()
                    ))
                })?;
                l - p.depth() as i64
            }
            Instr::Add { .. } | Instr::Sub { .. } | Instr::AddConst { .. } => {
                if let Instr::AddConst { c, .. } = instr {
                    finite(at, *c)?;
                }
                l
            }
            Instr::Mul { .. } => l - 1,
            Instr::MulConst { c, .. } => {
                finite(at, *c)?;
                l - 1
            }
            Instr::MulPlain { constant, .. } => {
                self.check_const(at, *constant)?;
                l - 1
            }
            Instr::AddPlain { constant, .. } => {
                self.check_const(at, *constant)?;
                l
            }
            Instr::Rotate { step, src, .. } => {
                if *step == 0 || *step as usize >= slots {
                    return Err(invalid(format!(
                        "{at}: rotation of {src} by {step} is outside 1..{slots}"
                    )));
                }
                if !keys.contains(step) {
                    return Err(invalid(format!(
                        "{at}: rotation by {step} is not in the circuit's rotation list"
                    )));
                }
                l
            }
            Instr::LevelDown { src, level, .. } => {
                if l < 0 {
                    // Already below the chain: reported as "too deep" at the end.
                    return Ok(l - 1);
                }
                match i64::try_from(*level) {
                    Ok(target) if target < l => target,
                    _ => {
                        return Err(invalid(format!(
                            "{at}: target level {level} is not below the level {l} of {src}"
                        )))
                    }
                }
            }
        })
    }
}

fn finite(at: &str, c: f64) -> Result<()> {
    if !c.is_finite() {
        return Err(invalid(format!("{at}: the constant {c} is not finite")));
    }
    Ok(())
}
