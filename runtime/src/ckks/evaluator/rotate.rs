//! Slot rotations and complex conjugation (automorphisms followed by key switching), including
//! hoisted rotations that share one decomposition.

use super::Evaluator;
use crate::ckks::ciphertext::Ciphertext;
use crate::ckks::keys::{
    galois_element_for_conjugation, galois_element_for_rotation, SwitchingKey,
};
use crate::ckks::keyswitch::{apply_key, decompose, Decomposition};
use crate::error::{Result, RuntimeError};
use rayon::prelude::*;

impl Evaluator {
    fn galois_key(&self, g: u64, what: impl FnOnce() -> String) -> Result<&SwitchingKey> {
        self.keys
            .as_ref()
            .and_then(|k| k.galois.get(&g))
            .ok_or_else(|| RuntimeError::MissingGaloisKey {
                what: what(),
                element: g,
            })
    }

    /// Rotates slots left by `step` (slot `j` receives slot `j + step`); negative steps rotate
    /// right. Needs the rotation key for `step`.
    pub fn rotate(&self, ct: &Ciphertext, step: i64) -> Result<Ciphertext> {
        let g = galois_element_for_rotation(step, &self.params);
        if g == 1 {
            return Ok(ct.clone());
        }
        self.apply_galois(ct, g, || format!("rotation by {step}"))
    }

    /// Complex conjugation of every slot. Needs the conjugation key.
    pub fn conjugate(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        let g = galois_element_for_conjugation(&self.params);
        self.apply_galois(ct, g, || "conjugation".to_string())
    }

    fn apply_galois(
        &self,
        ct: &Ciphertext,
        g: u64,
        what: impl FnOnce() -> String,
    ) -> Result<Ciphertext> {
        self.relinearized(ct, "rotate")?;
        let key = self.galois_key(g, what)?;
        let ring = self.params.ring();
        let c1 = ct.parts[1].automorphism(g, ring);
        let dec = decompose(&self.params, &c1, ct.level);
        Ok(self.finish_rotation(ct, g, &dec, key, None))
    }

    fn finish_rotation(
        &self,
        ct: &Ciphertext,
        g: u64,
        dec: &Decomposition,
        key: &SwitchingKey,
        galois_map: Option<&[u32]>,
    ) -> Ciphertext {
        let [k0, k1] = apply_key(&self.params, dec, key, galois_map);
        let basis = self.params.q_basis(ct.level);
        let mut c0 = ct.parts[0].automorphism(g, self.params.ring());
        c0.add_assign(&k0, &basis);
        Ciphertext::new(vec![c0, k1], ct.level, ct.scale)
    }

    /// Rotations of one ciphertext by several steps, sharing one key-switching decomposition
    /// (the baby steps of a baby-step giant-step linear transform). The result is in the order
    /// of `steps`; a step of 0 returns a copy.
    pub fn rotate_hoisted(&self, ct: &Ciphertext, steps: &[i64]) -> Result<Vec<Ciphertext>> {
        self.relinearized(ct, "rotate")?;
        let elements: Vec<u64> = steps
            .iter()
            .map(|&s| galois_element_for_rotation(s, &self.params))
            .collect();
        let keys: Vec<Option<&SwitchingKey>> = elements
            .iter()
            .zip(steps)
            .map(|(&g, &s)| {
                if g == 1 {
                    Ok(None)
                } else {
                    self.galois_key(g, || format!("rotation by {s}")).map(Some)
                }
            })
            .collect::<Result<_>>()?;
        let dec = decompose(&self.params, &ct.parts[1], ct.level);
        Ok(elements
            .par_iter()
            .zip(keys.par_iter())
            .map(|(&g, key)| match key {
                None => ct.clone(),
                Some(key) => {
                    let map = self.params.ring().galois_map(g);
                    self.finish_rotation(ct, g, &dec, key, Some(&map))
                }
            })
            .collect())
    }
}
