//! Operation counting: the executor over a backend that computes nothing and counts every call,
//! so the count is exactly what CKKS execution of the same circuit performs.

use super::{Backend, Executor};
use crate::circuit::Circuit;
use crate::error::Result;
use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering};

/// Operation counts (a snapshot; subtract two to get the cost of the steps between them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Key switches: rotations (hoisted ones included) plus relinearizations.
    pub key_switches: u64,
    /// Rotations, each one key switch (`rotate` and every non-zero step of `rotate_hoisted`).
    pub rotations: u64,
    /// Hoisted rotation groups: one key-switching decomposition shared by several rotations.
    pub hoisted_groups: u64,
    /// Relinearizations (one per ciphertext product).
    pub relinearizations: u64,
    /// Ciphertext-ciphertext products.
    pub ct_mults: u64,
    /// Ciphertext-plaintext products.
    pub pt_mults: u64,
    /// Ciphertext-constant products.
    pub const_mults: u64,
    /// Ciphertext additions, subtractions and negations.
    pub additions: u64,
    /// Additions of a plaintext or a constant.
    pub plain_additions: u64,
    /// Rescales.
    pub rescales: u64,
    /// Level drops (`drop_to`).
    pub drops: u64,
    /// Plaintext encodings.
    pub encodes: u64,
}

macro_rules! fieldwise {
    ($trait:ident, $method:ident, $op:ident) => {
        impl $trait for Counts {
            type Output = Counts;
            fn $method(self, o: Counts) -> Counts {
                Counts {
                    key_switches: self.key_switches.$op(o.key_switches),
                    rotations: self.rotations.$op(o.rotations),
                    hoisted_groups: self.hoisted_groups.$op(o.hoisted_groups),
                    relinearizations: self.relinearizations.$op(o.relinearizations),
                    ct_mults: self.ct_mults.$op(o.ct_mults),
                    pt_mults: self.pt_mults.$op(o.pt_mults),
                    const_mults: self.const_mults.$op(o.const_mults),
                    additions: self.additions.$op(o.additions),
                    plain_additions: self.plain_additions.$op(o.plain_additions),
                    rescales: self.rescales.$op(o.rescales),
                    drops: self.drops.$op(o.drops),
                    encodes: self.encodes.$op(o.encodes),
                }
            }
        }
    };
}

fieldwise!(Sub, sub, saturating_sub);
fieldwise!(Add, add, saturating_add);

/// Counter indices.
#[derive(Clone, Copy)]
enum C {
    Rotations,
    Hoisted,
    Relin,
    CtMul,
    PtMul,
    ConstMul,
    Add,
    PlainAdd,
    Rescale,
    Drop,
    Encode,
}

/// [`Backend`] that counts operations (thread-safe) and computes nothing: scales and moduli
/// are `1`.
#[derive(Debug, Default)]
pub struct CostBackend {
    slots: usize,
    counters: [AtomicU64; 11],
}

impl CostBackend {
    /// A counter for ciphertexts of `slots` slots.
    pub fn new(slots: usize) -> Self {
        Self {
            slots,
            counters: Default::default(),
        }
    }

    fn bump(&self, c: C, by: u64) {
        self.counters[c as usize].fetch_add(by, Ordering::Relaxed);
    }

    fn get(&self, c: C) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let rotations = self.get(C::Rotations);
        let relinearizations = self.get(C::Relin);
        Counts {
            key_switches: rotations + relinearizations,
            rotations,
            hoisted_groups: self.get(C::Hoisted),
            relinearizations,
            ct_mults: self.get(C::CtMul),
            pt_mults: self.get(C::PtMul),
            const_mults: self.get(C::ConstMul),
            additions: self.get(C::Add),
            plain_additions: self.get(C::PlainAdd),
            rescales: self.get(C::Rescale),
            drops: self.get(C::Drop),
            encodes: self.get(C::Encode),
        }
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        for c in &self.counters {
            c.store(0, Ordering::Relaxed);
        }
    }
}

impl Backend for CostBackend {
    type Value = ();
    type Plain = ();

    fn slots(&self) -> usize {
        self.slots
    }

    fn scale(&self, _level: usize) -> Result<f64> {
        Ok(1.0)
    }

    fn modulus(&self, _level: usize) -> Result<f64> {
        Ok(1.0)
    }

    fn encode(&self, _values: &[f64], _level: usize, _scale: f64) -> Result<()> {
        self.bump(C::Encode, 1);
        Ok(())
    }

    fn add(&self, _a: &(), _b: &()) -> Result<()> {
        self.bump(C::Add, 1);
        Ok(())
    }

    fn sub(&self, _a: &(), _b: &()) -> Result<()> {
        self.bump(C::Add, 1);
        Ok(())
    }

    fn neg(&self, _a: &()) -> Result<()> {
        self.bump(C::Add, 1);
        Ok(())
    }

    fn mul_plain(&self, _a: &(), _p: &()) -> Result<()> {
        self.bump(C::PtMul, 1);
        Ok(())
    }

    fn add_plain(&self, _a: &(), _p: &()) -> Result<()> {
        self.bump(C::PlainAdd, 1);
        Ok(())
    }

    fn mul_const(&self, _a: &(), _c: f64, _const_scale: f64) -> Result<()> {
        self.bump(C::ConstMul, 1);
        Ok(())
    }

    fn add_const(&self, _a: &(), _c: f64) -> Result<()> {
        self.bump(C::PlainAdd, 1);
        Ok(())
    }

    fn mul(&self, _a: &(), _b: &()) -> Result<()> {
        self.bump(C::CtMul, 1);
        self.bump(C::Relin, 1);
        Ok(())
    }

    fn mul_sum_rescale(
        &self,
        pairs: &[(&(), &())],
        linear: Option<&()>,
        constant: f64,
    ) -> Result<()> {
        let products = pairs.len() as u64;
        self.bump(C::CtMul, products);
        self.bump(C::Relin, 1);
        self.bump(
            C::Add,
            (products + u64::from(linear.is_some())).saturating_sub(1),
        );
        self.bump(C::PlainAdd, u64::from(constant != 0.0));
        self.bump(C::Rescale, 1);
        Ok(())
    }

    fn rescale(&self, _a: &()) -> Result<()> {
        self.bump(C::Rescale, 1);
        Ok(())
    }

    fn drop_to(&self, _a: &(), _level: usize) -> Result<()> {
        self.bump(C::Drop, 1);
        Ok(())
    }

    fn rotate(&self, _a: &(), step: u32) -> Result<()> {
        if !(step as usize).is_multiple_of(self.slots) {
            self.bump(C::Rotations, 1);
        }
        Ok(())
    }

    fn rotate_hoisted(&self, _a: &(), steps: &[u32]) -> Result<Vec<()>> {
        let real = steps
            .iter()
            .filter(|&&s| !(s as usize).is_multiple_of(self.slots))
            .count() as u64;
        self.bump(C::Rotations, real);
        if real > 0 {
            self.bump(C::Hoisted, 1);
        }
        Ok(vec![(); steps.len()])
    }
}

/// The operations one execution of `circuit` performs.
pub fn count(circuit: &Circuit) -> Result<Counts> {
    let executor = Executor::new(circuit, CostBackend::new(circuit.slots()))?;
    executor.run(vec![(); circuit.input.values.len()])?;
    Ok(executor.backend().counts())
}

/// The operations of each step of `circuit` (same order as [`Circuit::steps`]).
pub fn count_steps(circuit: &Circuit) -> Result<Vec<Counts>> {
    let executor = Executor::new(circuit, CostBackend::new(circuit.slots()))?;
    let mut per_step = Vec::with_capacity(circuit.steps.len());
    let mut before = Counts::default();
    executor.run_traced(vec![(); circuit.input.values.len()], |_, backend| {
        let now = backend.counts();
        per_step.push(now - before);
        before = now;
    })?;
    Ok(per_step)
}
