//! The untrusted side: runs a circuit on encrypted inputs with the client's evaluation keys.

use crate::error::Error;
use crate::runtime::circuit::{Circuit, EncryptedTensor, Role};
use crate::runtime::ckks::serial::{peek_kind, Kind};
use crate::runtime::ckks::{Ciphertext, CkksParams, EvalKeys};
use crate::runtime::exec::{CkksBackend, Executor};
use std::sync::Arc;

/// A circuit bound to one client's evaluation keys. It never sees a secret key: it refuses one
/// given in place of evaluation keys. `run` takes `&self`, so one server can serve several
/// inputs from several threads.
#[derive(Debug)]
pub struct Server {
    executor: Executor<CkksBackend>,
    params: CkksParams,
    fingerprint: [u8; 16],
}

impl Server {
    /// Validates the circuit and checks that `keys` belong to its parameter set and hold
    /// every key it needs.
    pub fn new(circuit: Circuit, keys: EvalKeys) -> Result<Self, Error> {
        let params = CkksParams::new(circuit.params.clone())?;
        let backend = CkksBackend::new(&circuit, Arc::new(keys))?;
        let executor = Executor::new(&circuit, backend)?;
        Ok(Self {
            fingerprint: circuit.fingerprint(),
            executor,
            params,
        })
    }

    /// [`Server::new`] with serialized evaluation keys; a secret key or any other object is
    /// refused with a message saying what the file is.
    pub fn from_key_bytes(circuit: Circuit, eval_keys: &[u8]) -> Result<Self, Error> {
        match peek_kind(eval_keys) {
            Some(Kind::SecretKey) => {
                return Err(Error::WrongFile(
                    "this is a secret key: the server must never receive it; give the \
                     evaluation keys written by `blindfold keygen --eval-keys`"
                        .into(),
                ))
            }
            Some(kind) if kind != Kind::EvalKeys => {
                return Err(Error::WrongFile(format!(
                    "this is a {} file, not evaluation keys; give the file written by \
                     `blindfold keygen --eval-keys`",
                    kind.name()
                )))
            }
            _ => {}
        }
        let params = CkksParams::new(circuit.params.clone())?;
        let keys = EvalKeys::from_bytes(&params, eval_keys)?;
        Self::new(circuit, keys)
    }

    /// The circuit.
    pub fn circuit(&self) -> &Circuit {
        self.executor.circuit()
    }

    /// The parameter set.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// Runs the circuit on an encrypted input of this circuit; returns the encrypted output.
    pub fn run(&self, input: &EncryptedTensor) -> Result<EncryptedTensor, Error> {
        if input.circuit != self.fingerprint || input.role != Role::Input {
            return Err(Error::WrongFile(
                "the ciphertexts are not an input of this circuit; encrypt with the same .bfc \
                 file the server runs"
                    .into(),
            ));
        }
        self.execute(input.ciphertexts.clone())
    }

    fn execute(&self, inputs: Vec<Ciphertext>) -> Result<EncryptedTensor, Error> {
        Ok(EncryptedTensor {
            circuit: self.fingerprint,
            role: Role::Output,
            ciphertexts: self.executor.run(inputs)?,
        })
    }

    /// Reads a serialized input, runs, and serializes the output.
    pub fn run_bytes(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        if peek_kind(input) == Some(Kind::SecretKey) {
            return Err(Error::WrongFile(
                "this is a secret key, not an encrypted input; give the file written by \
                 `blindfold encrypt`"
                    .into(),
            ));
        }
        let input = EncryptedTensor::from_bytes_with(
            self.circuit(),
            &self.params,
            self.fingerprint,
            Role::Input,
            input,
        )?;
        Ok(self.execute(input.ciphertexts)?.to_bytes(&self.params))
    }
}
