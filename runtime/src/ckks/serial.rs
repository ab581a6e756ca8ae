//! Versioned binary formats for parameters, keys and ciphertexts (circuits use the same header
//! and field encoding, see `crate::circuit`).
//!
//! Every object starts with the magic `BLDF`, a little-endian `u16` format version, a one-byte
//! kind tag and (except parameter sets) the 16-byte fingerprint of the parameter set it belongs
//! to. Residues are bit-packed at the width of their prime. Readers check the header, the
//! fingerprint against the parameters in hand, every length against the bytes available before
//! allocating, every residue against its prime, and refuse trailing bytes: a truncated,
//! corrupted or mismatched file is an error, never a panic. See `docs/ckks.md` for the layout.

use super::ciphertext::Ciphertext;
use super::keys::{EvalKeys, PublicKey, SecretKey, SwitchingKey};
use super::params::{CkksParams, CkksParamsSpec};
use super::security::SecurityLevel;
use crate::error::{FormatError, Result};
use crate::math::{Eval, Prime, RnsPoly};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

/// Magic bytes opening every blindfold binary object.
pub const MAGIC: [u8; 4] = *b"BLDF";
/// Version of the formats written by this build. Version 2 added the level of each
/// key-switching key (version 1 keys serve every level); the other formats are unchanged.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest version this build reads.
pub const OLDEST_READ_VERSION: u16 = 1;

/// Lower-case hexadecimal of `bytes`: how fingerprints are shown and named on disk.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Kind tags of serialized objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A [`CkksParamsSpec`].
    Params = 1,
    /// A [`SecretKey`].
    SecretKey = 2,
    /// A [`PublicKey`].
    PublicKey = 3,
    /// [`EvalKeys`].
    EvalKeys = 4,
    /// A [`Ciphertext`].
    Ciphertext = 5,
    /// A compiled [`crate::circuit::Circuit`].
    Circuit = 6,
    /// The ciphertexts of one circuit input or output ([`crate::circuit::EncryptedTensor`]).
    EncryptedTensor = 7,
}

impl Kind {
    /// Human name of the kind, used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Params => "parameter set",
            Self::SecretKey => "secret key",
            Self::PublicKey => "public key",
            Self::EvalKeys => "evaluation keys",
            Self::Ciphertext => "ciphertext",
            Self::Circuit => "circuit",
            Self::EncryptedTensor => "encrypted tensor",
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        [
            Self::Params,
            Self::SecretKey,
            Self::PublicKey,
            Self::EvalKeys,
            Self::Ciphertext,
            Self::Circuit,
            Self::EncryptedTensor,
        ]
        .into_iter()
        .find(|k| *k as u8 == tag)
    }
}

/// Reads the kind of a serialized object from its header, if it is a blindfold object.
pub fn peek_kind(bytes: &[u8]) -> Option<Kind> {
    (bytes.len() >= 7 && bytes[..4] == MAGIC)
        .then(|| Kind::from_tag(bytes[6]))
        .flatten()
}

/// Appends little-endian fields to a buffer that starts with an object header.
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// Starts an object of `kind`: magic, version, kind tag and the optional fingerprint.
    pub(crate) fn new(kind: Kind, fingerprint: Option<[u8; 16]>) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(kind as u8);
        if let Some(f) = fingerprint {
            out.extend_from_slice(&f);
        }
        Self { out }
    }

    /// The finished object.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// A `usize` as a `u64`.
    pub(crate) fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }

    /// The IEEE-754 bits of `v`.
    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A `u32` length followed by the elements.
    pub(crate) fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for &x in v {
            self.u32(x);
        }
    }

    /// A `u32` length followed by the elements as `u64`.
    pub(crate) fn usizes(&mut self, v: &[usize]) {
        self.len(v.len());
        for &x in v {
            self.usize(x);
        }
    }

    /// A `u32` length followed by the elements.
    pub(crate) fn f64s(&mut self, v: &[f64]) {
        self.len(v.len());
        for &x in v {
            self.f64(x);
        }
    }

    /// A `u32` byte length followed by the UTF-8 bytes.
    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.bytes(s.as_bytes());
    }

    /// A collection length. Lengths above `u32::MAX` cannot occur in a valid object (they
    /// would not fit in memory as circuit parts); they are saturated so the reader refuses them.
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Bit-packs each limb at the width of its prime.
    fn poly(&mut self, poly: &RnsPoly<Eval>, basis: &[&Prime]) {
        for (i, p) in basis.iter().enumerate() {
            let bits = p.modulus().bits();
            let mut acc: u128 = 0;
            let mut filled = 0u32;
            for &x in poly.limb(i) {
                acc |= (x as u128) << filled;
                filled += bits;
                while filled >= 8 {
                    self.out.push(acc as u8);
                    acc >>= 8;
                    filled -= 8;
                }
            }
            if filled > 0 {
                self.out.push(acc as u8);
            }
        }
    }
}

/// Reads the fields a [`Writer`] wrote, checking every length against the bytes left.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    kind: Kind,
    version: u16,
}

impl<'a> Reader<'a> {
    /// Checks the header (magic, version, kind) and positions after it.
    pub(crate) fn open(data: &'a [u8], kind: Kind) -> Result<Self, FormatError> {
        if data.len() < 4 || data[..4] != MAGIC {
            return Err(FormatError::BadMagic {
                expected: kind.name(),
            });
        }
        let mut r = Self {
            data,
            pos: 4,
            kind,
            version: FORMAT_VERSION,
        };
        let version = u16::from_le_bytes([r.u8()?, r.u8()?]);
        r.version = version;
        if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FormatError::Version {
                kind: kind.name(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let tag = r.u8()?;
        if tag != kind as u8 {
            return Err(FormatError::WrongKind {
                expected: kind.name(),
                found: Kind::from_tag(tag)
                    .map(|k| k.name().to_string())
                    .unwrap_or_else(|| format!("unknown (tag {tag})")),
            });
        }
        Ok(r)
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], FormatError> {
        let remaining = self.data.len() - self.pos;
        if len > remaining {
            return Err(FormatError::Truncated {
                kind: self.kind.name(),
                offset: self.pos,
                needed: len - remaining,
            });
        }
        let out = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    /// A `u64` that must fit a `usize`.
    pub(crate) fn usize(&mut self) -> Result<usize, FormatError> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.corrupted(format!("value {v} does not fit in memory")))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, FormatError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A collection length whose elements take at least `min_size` bytes each; refused before
    /// anything is allocated when the bytes left cannot hold that many.
    pub(crate) fn len(&mut self, min_size: usize) -> Result<usize, FormatError> {
        let count = self.u32()? as usize;
        let needed = count.saturating_mul(min_size.max(1));
        if needed > self.remaining() {
            return Err(FormatError::Truncated {
                kind: self.kind.name(),
                offset: self.pos,
                needed: needed - self.remaining(),
            });
        }
        Ok(count)
    }

    /// A length-prefixed `u32` vector.
    pub(crate) fn u32s(&mut self) -> Result<Vec<u32>, FormatError> {
        let n = self.len(4)?;
        (0..n).map(|_| self.u32()).collect()
    }

    /// A length-prefixed `usize` vector (stored as `u64`).
    pub(crate) fn usizes(&mut self) -> Result<Vec<usize>, FormatError> {
        let n = self.len(8)?;
        (0..n).map(|_| self.usize()).collect()
    }

    /// A length-prefixed `f64` vector.
    pub(crate) fn f64s(&mut self) -> Result<Vec<f64>, FormatError> {
        let n = self.len(8)?;
        (0..n).map(|_| self.f64()).collect()
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self) -> Result<String, FormatError> {
        let n = self.len(1)?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.corrupted(format!("a string of {n} bytes is not UTF-8")))
    }

    fn array32(&mut self) -> Result<[u8; 32], FormatError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }

    /// A [`FormatError::Corrupted`] for this object.
    pub(crate) fn corrupted(&self, detail: String) -> FormatError {
        FormatError::Corrupted {
            kind: self.kind.name(),
            detail,
        }
    }

    /// Reads a parameter fingerprint and checks it is the one of `params`.
    pub(crate) fn fingerprint(&mut self, params: &CkksParams) -> Result<()> {
        let mut f = [0u8; 16];
        f.copy_from_slice(self.take(16)?);
        super::encrypt::ensure_fingerprint(params, f, self.kind.name())
    }

    fn poly(&mut self, n: usize, basis: &[&Prime]) -> Result<RnsPoly<Eval>, FormatError> {
        let total: usize = basis
            .iter()
            .map(|p| (n * p.modulus().bits() as usize).div_ceil(8))
            .sum();
        if total > self.remaining() {
            return Err(FormatError::Truncated {
                kind: self.kind.name(),
                offset: self.pos,
                needed: total - self.remaining(),
            });
        }
        let mut data = Vec::with_capacity(n * basis.len());
        for (i, p) in basis.iter().enumerate() {
            let bits = p.modulus().bits();
            let q = p.value();
            let bytes = self.take((n * bits as usize).div_ceil(8))?;
            let mask = (1u128 << bits) - 1;
            let mut acc: u128 = 0;
            let mut filled = 0u32;
            let mut it = bytes.iter();
            for k in 0..n {
                while filled < bits {
                    let b = it.next().copied().unwrap_or(0);
                    acc |= (b as u128) << filled;
                    filled += 8;
                }
                let x = (acc & mask) as u64;
                acc >>= bits;
                filled -= bits;
                if x >= q {
                    return Err(self.corrupted(format!(
                        "residue {x} of limb {i}, coefficient {k} is not below its modulus {q}"
                    )));
                }
                data.push(x);
            }
        }
        RnsPoly::from_raw(n, data).ok_or_else(|| self.corrupted("empty polynomial".into()))
    }

    /// Refuses trailing bytes.
    pub(crate) fn finish(self) -> Result<(), FormatError> {
        if self.remaining() > 0 {
            return Err(FormatError::TrailingBytes {
                kind: self.kind.name(),
                extra: self.remaining(),
            });
        }
        Ok(())
    }
}

impl CkksParamsSpec {
    /// Serializes the parameter set.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Params, None);
        w.bytes(&self.canonical_bytes());
        w.into_bytes()
    }

    /// Reads a parameter set (not yet validated: pass it to [`CkksParams::new`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Params)?;
        let spec = Self::read_body(&mut r)?;
        r.finish()?;
        Ok(spec)
    }

    /// Reads the fields of [`Self::canonical_bytes`] (also embedded in circuits).
    pub(crate) fn read_body(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        let log_n = r.u32()?;
        let primes = |r: &mut Reader<'_>| -> Result<Vec<u64>, FormatError> {
            let count = r.u32()? as usize;
            if count > 256 || count * 8 > r.remaining() {
                return Err(r.corrupted(format!("{count} primes declared")));
            }
            (0..count).map(|_| r.u64()).collect()
        };
        let q = primes(r)?;
        let p = primes(r)?;
        let dnum = r.u32()? as usize;
        let log_scale = r.u32()?;
        let bits = r.u32()?;
        let security = SecurityLevel::from_bits(bits)
            .ok_or_else(|| r.corrupted(format!("unknown security level {bits}")))?;
        Ok(Self {
            log_n,
            q,
            p,
            dnum,
            log_scale,
            security,
        })
    }
}

/// Bytes of one polynomial of degree `n` bit-packed limb by limb over `primes`.
fn packed_poly_len(n: usize, primes: &[u64]) -> u64 {
    primes
        .iter()
        .map(|&q| (n as u64 * u64::from(64 - q.leading_zeros())).div_ceil(8))
        .sum()
}

/// Bytes of a header with a parameter fingerprint (magic, version, kind, fingerprint).
const HEADER_LEN: u64 = 4 + 2 + 1 + 16;

impl CkksParamsSpec {
    /// Length of [`EvalKeys::to_bytes`] for keys holding a relinearization key for levels up to
    /// `relin` (`None`: none) and one rotation/conjugation key per entry of `rotation_levels`
    /// (the highest level each serves): what a client uploads, known before keygen.
    pub fn eval_keys_len(&self, relin: Option<usize>, rotation_levels: &[usize]) -> u64 {
        let key = |level: usize| self.switching_key_len(level);
        HEADER_LEN
            + 1
            + relin.map_or(0, key)
            + 4
            + rotation_levels.iter().map(|&l| 8 + key(l)).sum::<u64>()
    }

    /// Serialized length of a key-switching key serving levels up to `level`: the seed of its
    /// uniform parts, its level, then one `b` per digit meeting `q_0 … q_level`, over
    /// `q_0 … q_level` and `P`.
    fn switching_key_len(&self, level: usize) -> u64 {
        let n = 1usize << self.log_n;
        let top = self.q.len().saturating_sub(1);
        let level = level.min(top);
        let digit_size = self.q.len().div_ceil(self.dnum.max(1)).max(1);
        let digits = (level / digit_size + 1) as u64;
        let qp: Vec<u64> = self.q[..=level].iter().chain(&self.p).copied().collect();
        32 + 4 + digits * packed_poly_len(n, &qp)
    }

    /// Length of [`Ciphertext::to_bytes`] for a ciphertext of `parts` polynomials at `level`.
    pub fn ciphertext_len(&self, level: usize, parts: usize) -> u64 {
        let n = 1usize << self.log_n;
        let q = &self.q[..=level.min(self.q.len().saturating_sub(1))];
        HEADER_LEN + 4 + 8 + 1 + parts as u64 * packed_poly_len(n, q)
    }
}

impl SecretKey {
    /// Serializes the secret key (2 bits per coefficient). Keep the result secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new(Kind::SecretKey, Some(self.fingerprint));
        let mut packed = Zeroizing::new(vec![0u8; self.coeffs.len().div_ceil(4)]);
        for (i, &c) in self.coeffs.iter().enumerate() {
            let code: u8 = match c {
                0 => 0,
                1 => 1,
                _ => 2,
            };
            packed[i / 4] |= code << (2 * (i % 4));
        }
        w.bytes(&packed);
        Zeroizing::new(w.out)
    }

    /// Reads a secret key made for `params`.
    pub fn from_bytes(params: &CkksParams, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::SecretKey)?;
        r.fingerprint(params)?;
        let n = params.n();
        let packed = r.take(n / 4)?;
        let mut coeffs = Vec::with_capacity(n);
        for i in 0..n {
            let code = (packed[i / 4] >> (2 * (i % 4))) & 3;
            coeffs.push(match code {
                0 => 0,
                1 => 1,
                2 => -1,
                _ => {
                    return Err(r
                        .corrupted(format!("coefficient {i} has the invalid code 3"))
                        .into())
                }
            });
        }
        r.finish()?;
        Ok(Self::from_coeffs(params, coeffs))
    }
}

impl PublicKey {
    /// Serializes the public key (`b` and the seed of `a`).
    pub fn to_bytes(&self, params: &CkksParams) -> Vec<u8> {
        let mut w = Writer::new(Kind::PublicKey, Some(self.fingerprint));
        w.bytes(&self.seed);
        w.poly(&self.b, &params.q_basis(params.max_level()));
        w.out
    }

    /// Reads a public key made for `params`.
    pub fn from_bytes(params: &CkksParams, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::PublicKey)?;
        r.fingerprint(params)?;
        let seed = r.array32()?;
        let basis = params.q_basis(params.max_level());
        let b = r.poly(params.n(), &basis)?;
        r.finish()?;
        let a =
            crate::math::sampling::uniform(params.n(), &basis, &mut ChaCha20Rng::from_seed(seed));
        Ok(Self {
            b,
            a,
            seed,
            fingerprint: params.fingerprint(),
        })
    }
}

fn write_switching_key(w: &mut Writer, key: &SwitchingKey, params: &CkksParams) {
    w.bytes(&key.seed);
    w.u32(key.level as u32);
    let basis = params.qp_basis(key.level);
    for b in &key.b {
        w.poly(b, &basis);
    }
}

fn read_switching_key(r: &mut Reader<'_>, params: &CkksParams) -> Result<SwitchingKey> {
    let seed = r.array32()?;
    let level = if r.version >= 2 {
        r.u32()? as usize
    } else {
        params.max_level()
    };
    if level > params.max_level() {
        return Err(r
            .corrupted(format!(
                "a key for level {level}, above the top level {}",
                params.max_level()
            ))
            .into());
    }
    let basis = params.qp_basis(level);
    let b = (0..SwitchingKey::digits(params, level))
        .map(|_| r.poly(params.n(), &basis))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SwitchingKey {
        b,
        a: SwitchingKey::expand_a(params, seed, level),
        seed,
        level,
    })
}

impl EvalKeys {
    /// Serializes the evaluation keys (no secret).
    pub fn to_bytes(&self, params: &CkksParams) -> Vec<u8> {
        let mut w = Writer::new(Kind::EvalKeys, Some(self.fingerprint));
        match &self.relin {
            Some(k) => {
                w.u8(1);
                write_switching_key(&mut w, k, params);
            }
            None => w.u8(0),
        }
        w.u32(self.galois.len() as u32);
        for (&g, k) in &self.galois {
            w.u64(g);
            write_switching_key(&mut w, k, params);
        }
        w.out
    }

    /// Reads evaluation keys made for `params`.
    pub fn from_bytes(params: &CkksParams, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::EvalKeys)?;
        r.fingerprint(params)?;
        let relin = match r.u8()? {
            0 => None,
            1 => Some(read_switching_key(&mut r, params)?),
            other => return Err(r.corrupted(format!("relinearization flag {other}")).into()),
        };
        let count = r.u32()? as usize;
        let two_n = 2 * params.n() as u64;
        if count > params.n() {
            return Err(r
                .corrupted(format!("{count} rotation keys declared"))
                .into());
        }
        let mut galois = std::collections::BTreeMap::new();
        for _ in 0..count {
            let g = r.u64()?;
            if g % 2 == 0 || g >= two_n || g == 1 {
                return Err(r.corrupted(format!("invalid Galois element {g}")).into());
            }
            let key = read_switching_key(&mut r, params)?;
            if galois.insert(g, key).is_some() {
                return Err(r
                    .corrupted(format!("Galois element {g} appears twice"))
                    .into());
            }
        }
        r.finish()?;
        Ok(Self {
            relin,
            galois,
            fingerprint: params.fingerprint(),
        })
    }
}

impl Ciphertext {
    /// Serializes the ciphertext for `params`.
    pub fn to_bytes(&self, params: &CkksParams) -> Vec<u8> {
        let mut w = Writer::new(Kind::Ciphertext, Some(params.fingerprint()));
        self.write_body(&mut w, params);
        w.out
    }

    /// Reads a ciphertext made under `params`.
    pub fn from_bytes(params: &CkksParams, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Ciphertext)?;
        r.fingerprint(params)?;
        let ct = Self::read_body(&mut r, params)?;
        r.finish()?;
        Ok(ct)
    }

    /// Level, scale and polynomials, without a header (also used inside containers).
    pub(crate) fn write_body(&self, w: &mut Writer, params: &CkksParams) {
        w.u32(self.level as u32);
        w.u64(self.scale.to_bits());
        w.u8(self.parts.len() as u8);
        let basis = params.q_basis(self.level);
        for p in &self.parts {
            w.poly(p, &basis);
        }
    }

    /// Reads what [`Self::write_body`] wrote.
    pub(crate) fn read_body(r: &mut Reader<'_>, params: &CkksParams) -> Result<Self> {
        let level = r.u32()? as usize;
        if level > params.max_level() {
            return Err(r
                .corrupted(format!(
                    "level {level} is above the top level {}",
                    params.max_level()
                ))
                .into());
        }
        let scale = f64::from_bits(r.u64()?);
        if !scale.is_finite() || scale < 1.0 {
            return Err(r.corrupted(format!("invalid scale {scale}")).into());
        }
        let parts = r.u8()? as usize;
        if !(2..=3).contains(&parts) {
            return Err(r
                .corrupted(format!("{parts} polynomials (expected 2 or 3)"))
                .into());
        }
        let basis = params.q_basis(level);
        let polys = (0..parts)
            .map(|_| r.poly(params.n(), &basis))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ciphertext::new(polys, level, scale))
    }
}
