//! The untrusted side: runs a circuit on encrypted inputs with the client's evaluation keys.

use crate::error::Error;
use crate::runtime::circuit::{Circuit, EncryptedTensor, Role};
use crate::runtime::ckks::serial::{peek_kind, Kind};
use crate::runtime::ckks::{Ciphertext, CkksParams, EvalKeys};
use crate::runtime::exec::{CkksBackend, Executor, DEFAULT_PLAINTEXT_CACHE_BYTES};
use std::sync::Arc;

/// A circuit made ready to serve any number of clients: validated, with its plaintext operands
/// encoded once. [`PreparedCircuit::bind`] adds one client's evaluation keys and gives a
/// [`Server`]; every server bound from one prepared circuit shares its encoded plaintexts, so a
/// service with many clients pays for them once.
#[derive(Debug)]
pub struct PreparedCircuit {
    executor: Executor<CkksBackend>,
    params: CkksParams,
    fingerprint: [u8; 16],
}

impl PreparedCircuit {
    /// Validates the circuit and encodes its plaintext operands, as many as fit in
    /// [`DEFAULT_PLAINTEXT_CACHE_BYTES`] (the rest are encoded at each use).
    pub fn new(circuit: Circuit) -> Result<Self, Error> {
        Self::with_plaintext_cache(circuit, DEFAULT_PLAINTEXT_CACHE_BYTES)
    }

    /// [`PreparedCircuit::new`] keeping up to `bytes` of encoded plaintext operands: more
    /// memory, less encoding per run (large circuits run up to twice as fast with all of
    /// them kept).
    pub fn with_plaintext_cache(circuit: Circuit, bytes: usize) -> Result<Self, Error> {
        let params = CkksParams::new(circuit.params.clone())?;
        let backend = CkksBackend::without_keys(&circuit)?.with_plaintext_cache(bytes);
        let executor = Executor::new(&circuit, backend)?;
        Ok(Self {
            fingerprint: circuit.fingerprint(),
            executor,
            params,
        })
    }

    /// The circuit.
    pub fn circuit(&self) -> &Circuit {
        self.executor.circuit()
    }

    /// The parameter set.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// The circuit's fingerprint (what its inputs and outputs carry).
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// A server for the client whose evaluation keys these are; checks that they belong to the
    /// parameter set and hold every key the circuit needs.
    pub fn bind(&self, keys: EvalKeys) -> Result<Server, Error> {
        Ok(Server {
            executor: self.executor.with_keys(Arc::new(keys))?,
            params: self.params.clone(),
            fingerprint: self.fingerprint,
        })
    }

    /// [`PreparedCircuit::bind`] with serialized evaluation keys; a secret key
    /// ([`Error::SecretKeyRefused`]) or any other object is refused with a message saying what
    /// the bytes are.
    pub fn bind_bytes(&self, eval_keys: &[u8]) -> Result<Server, Error> {
        match peek_kind(eval_keys) {
            Some(Kind::SecretKey) => {
                return Err(Error::SecretKeyRefused(
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
        self.bind(EvalKeys::from_bytes(&self.params, eval_keys)?)
    }
}

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
    /// every key it needs. To serve several clients, prepare the circuit once
    /// ([`PreparedCircuit`]) and bind each client's keys to it.
    pub fn new(circuit: Circuit, keys: EvalKeys) -> Result<Self, Error> {
        PreparedCircuit::new(circuit)?.bind(keys)
    }

    /// [`Server::new`] with serialized evaluation keys; a secret key or any other object is
    /// refused with a message saying what the file is.
    pub fn from_key_bytes(circuit: Circuit, eval_keys: &[u8]) -> Result<Self, Error> {
        PreparedCircuit::new(circuit)?.bind_bytes(eval_keys)
    }

    /// The circuit.
    pub fn circuit(&self) -> &Circuit {
        self.executor.circuit()
    }

    /// The parameter set.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// [`Circuit::fingerprint`] of the server's circuit (computed once).
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// The executor bound to the keys (for [`crate::precision::trace`]).
    pub(crate) fn executor(&self) -> &Executor<CkksBackend> {
        &self.executor
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
            return Err(Error::SecretKeyRefused(
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
