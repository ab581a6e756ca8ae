//! The ciphertexts of one circuit input or output, bound to the circuit they were made for.
//!
//! A client encrypts an image into the input ciphertexts of a circuit; the server returns the
//! output ciphertexts. Both travel as one [`EncryptedTensor`] (kind [`Kind::EncryptedTensor`]
//! of the common header, then the parameter fingerprint, the circuit fingerprint, the role and
//! the ciphertexts), so a server refuses an input made for another circuit before computing
//! anything, and a client refuses to decrypt an input as if it were an answer.

use super::Circuit;
use crate::ckks::serial::{Kind, Reader, Writer};
use crate::ckks::{Ciphertext, CkksParams};
use crate::error::{Result, RuntimeError};

/// Whether the ciphertexts are a circuit's input or its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Made by a client for the server.
    Input,
    /// Made by the server for the client.
    Output,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Input => "an encrypted input",
            Self::Output => "an encrypted output",
        }
    }
}

/// The ciphertexts of a circuit's input or output, with the fingerprint of the circuit.
#[derive(Clone, Debug)]
pub struct EncryptedTensor {
    /// [`Circuit::fingerprint`] of the circuit the tensor belongs to.
    pub circuit: [u8; 16],
    /// Input or output.
    pub role: Role,
    /// One ciphertext per input or output value, in the circuit's order.
    pub ciphertexts: Vec<Ciphertext>,
}

impl EncryptedTensor {
    /// Serializes the tensor (ciphertexts under `params`).
    pub fn to_bytes(&self, params: &CkksParams) -> Vec<u8> {
        let mut w = Writer::new(Kind::EncryptedTensor, Some(params.fingerprint()));
        w.bytes(&self.circuit);
        w.u8(match self.role {
            Role::Input => 0,
            Role::Output => 1,
        });
        w.len(self.ciphertexts.len());
        for ct in &self.ciphertexts {
            ct.write_body(&mut w, params);
        }
        w.into_bytes()
    }

    /// Reads a tensor and checks that it is `role` of `circuit`: the parameter set, the circuit
    /// fingerprint, the role and the number of ciphertexts must all match.
    pub fn from_bytes(circuit: &Circuit, role: Role, bytes: &[u8]) -> Result<Self> {
        let params = CkksParams::new(circuit.params.clone())?;
        Self::from_bytes_with(circuit, &params, circuit.fingerprint(), role, bytes)
    }

    /// [`Self::from_bytes`] with the circuit's parameters and fingerprint already at hand (a
    /// server reading one input per request should not rebuild them each time).
    pub fn from_bytes_with(
        circuit: &Circuit,
        params: &CkksParams,
        expected: [u8; 16],
        role: Role,
        bytes: &[u8],
    ) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::EncryptedTensor)?;
        r.fingerprint(params)?;
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(r.take(16)?);
        let found = match r.u8()? {
            0 => Role::Input,
            1 => Role::Output,
            other => return Err(r.corrupted(format!("role {other}")).into()),
        };
        if fingerprint != expected {
            return Err(RuntimeError::WrongCircuit {
                detail: format!(
                    "{} made for circuit {} was given to circuit {} ({}); encrypt with the same \
                     .bfc file the server runs",
                    found.name(),
                    hex(&fingerprint),
                    hex(&expected),
                    circuit.meta.model
                ),
            });
        }
        if found != role {
            return Err(RuntimeError::WrongCircuit {
                detail: format!(
                    "expected {} but the file holds {}",
                    role.name(),
                    found.name()
                ),
            });
        }
        let count = r.u32()? as usize;
        let expected_count = match role {
            Role::Input => circuit.input.values.len(),
            Role::Output => circuit.output.values.len(),
        };
        if count != expected_count {
            return Err(r
                .corrupted(format!(
                    "{count} ciphertexts where the circuit has {expected_count}"
                ))
                .into());
        }
        let ciphertexts = (0..count)
            .map(|_| Ciphertext::read_body(&mut r, params))
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(Self {
            circuit: fingerprint,
            role,
            ciphertexts,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
