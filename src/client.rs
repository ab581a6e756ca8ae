//! The data owner's side: keys, encryption of images, decryption of scores.

use crate::dataset::{self, Image};
use crate::error::Error;
use crate::runtime::circuit::{Circuit, EncryptedTensor, Role};
use crate::runtime::ckks::{
    os_rng, Ciphertext, CkksParams, Decryptor, Encoder, Encryptor, EvalKeys, KeyGenerator,
    SecretKey,
};
use crate::runtime::exec::{key_levels, scale_ladder};
use zeroize::Zeroizing;

/// Holds the secret key of one circuit's parameter set. Makes the evaluation keys a server
/// needs (exactly the circuit's rotations, plus relinearization when the circuit multiplies
/// ciphertexts), encrypts inputs in the circuit's packing and decrypts its outputs. Nothing it
/// sends to a server reveals the secret key.
pub struct Client {
    circuit: Circuit,
    fingerprint: [u8; 16],
    params: CkksParams,
    encoder: Encoder,
    secret: SecretKey,
    input_scale: f64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("model", &self.circuit.meta.model)
            .field("params", &self.params.fingerprint_hex())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with a fresh secret key drawn from the operating system's CSPRNG.
    pub fn new(circuit: Circuit) -> Result<Self, Error> {
        let params = Self::params_of(&circuit)?;
        let secret = KeyGenerator::new(&params).secret_key(&mut os_rng()?);
        Ok(Self::assemble(circuit, params, secret))
    }

    /// A client with a secret key saved earlier by [`Client::secret_key_bytes`]; refuses a key
    /// made for another parameter set.
    pub fn with_secret_key(circuit: Circuit, secret_key: &[u8]) -> Result<Self, Error> {
        let params = Self::params_of(&circuit)?;
        let secret = SecretKey::from_bytes(&params, secret_key)?;
        Ok(Self::assemble(circuit, params, secret))
    }

    fn params_of(circuit: &Circuit) -> Result<CkksParams, Error> {
        circuit.validate()?;
        Ok(CkksParams::new(circuit.params.clone())?)
    }

    fn assemble(circuit: Circuit, params: CkksParams, secret: SecretKey) -> Self {
        let top = circuit.input.level;
        let input_scale = scale_ladder(&circuit.params, top)
            .get(top)
            .copied()
            .unwrap_or_else(|| params.default_scale());
        Self {
            fingerprint: circuit.fingerprint(),
            encoder: Encoder::new(&params),
            circuit,
            params,
            secret,
            input_scale,
        }
    }

    /// The circuit the client encrypts for.
    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }

    /// [`Circuit::fingerprint`] of the client's circuit (computed once).
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// The parameter set of the circuit.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// The secret key, serialized (to store it; the buffer is wiped when dropped).
    pub fn secret_key_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.secret.to_bytes()
    }

    /// Fresh evaluation keys for the circuit: one rotation key per step in
    /// [`Circuit::rotations`] and the relinearization key when the circuit needs it, each
    /// restricted to the highest level the circuit uses it at
    /// ([`crate::runtime::exec::key_levels`]).
    pub fn eval_keys(&self) -> Result<EvalKeys, Error> {
        let levels = key_levels(&self.circuit)?;
        let rotations: Vec<(i64, usize)> = levels
            .rotations
            .iter()
            .map(|(&step, &level)| (step.into(), level))
            .collect();
        Ok(KeyGenerator::new(&self.params).eval_keys_at_levels(
            &self.secret,
            levels.relinearization,
            &rotations,
            None,
            &mut os_rng()?,
        ))
    }

    /// Encrypts a model input (`C·H·W` values in CHW order, after preprocessing) into the
    /// circuit's input ciphertexts.
    pub fn encrypt(&self, tensor: &[f64]) -> Result<EncryptedTensor, Error> {
        let slots = self.params.slots();
        let top = self.circuit.input.level;
        let encryptor = Encryptor::with_secret_key(&self.params, &self.secret)?;
        let mut rng = os_rng()?;
        let ciphertexts = self
            .circuit
            .input
            .pack(tensor, slots)?
            .iter()
            .map(|v| {
                let pt = self.encoder.encode(v, top, self.input_scale)?;
                Ok(encryptor.encrypt(&pt, &mut rng))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(EncryptedTensor {
            circuit: self.fingerprint,
            role: Role::Input,
            ciphertexts,
        })
    }

    /// The model input of an image: the preprocessing recorded in the circuit (channels,
    /// size, pixel scale, normalisation).
    pub fn preprocess(&self, image: &Image) -> Result<Vec<f64>, Error> {
        preprocess(&self.circuit, image)
    }

    /// Preprocesses and encrypts an image.
    pub fn encrypt_image(&self, image: &Image) -> Result<EncryptedTensor, Error> {
        self.encrypt(&self.preprocess(image)?)
    }

    /// Decrypts the circuit's output: the scores (logits) in the order of the model's output.
    pub fn decrypt(&self, output: &EncryptedTensor) -> Result<Vec<f64>, Error> {
        if output.circuit != self.fingerprint || output.role != Role::Output {
            return Err(Error::WrongFile(
                "the ciphertexts are not an output of this client's circuit; decrypt the \
                 answer of a server running the same .bfc file"
                    .into(),
            ));
        }
        let decryptor = Decryptor::new(&self.params, &self.secret)?;
        let slots: Vec<Vec<f64>> = output
            .ciphertexts
            .iter()
            .map(|ct| self.encoder.decode(&decryptor.decrypt(ct)))
            .collect();
        Ok(self.circuit.output.unpack(&slots)?)
    }

    /// Decrypts one ciphertext of the circuit's parameter set into its slots (any value of a
    /// run, for [`crate::precision::trace`]).
    pub(crate) fn decrypt_slots(&self, ct: &Ciphertext) -> Result<Vec<f64>, Error> {
        let decryptor = Decryptor::new(&self.params, &self.secret)?;
        Ok(self.encoder.decode(&decryptor.decrypt(ct)))
    }

    /// Reads and decrypts a serialized output ([`EncryptedTensor::to_bytes`]).
    pub fn decrypt_bytes(&self, bytes: &[u8]) -> Result<Vec<f64>, Error> {
        self.decrypt(&EncryptedTensor::from_bytes_with(
            &self.circuit,
            &self.params,
            self.fingerprint,
            Role::Output,
            bytes,
        )?)
    }
}

/// The model input of an image under the preprocessing recorded in `circuit`.
pub fn preprocess(circuit: &Circuit, image: &Image) -> Result<Vec<f64>, Error> {
    let p = &circuit.input.preprocess;
    Ok(dataset::to_tensor(
        image,
        p.channels,
        p.height,
        p.width,
        p.pixel_scale,
        &p.mean,
        &p.std,
    )?)
}
