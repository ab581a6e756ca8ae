//! Reading and writing the files of the encrypted workflow (circuits, keys, ciphertexts), with
//! messages that name the file, and circuits from either a `.bfc` file or an ONNX model.

use anyhow::{Context, Result};
use blindfold::runtime::circuit::Circuit;
use std::path::Path;

/// Reads a whole file, naming it and its role on failure.
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// Writes a public file (evaluation keys, ciphertexts).
pub fn write(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing the {what} {}", path.display()))
}

/// Writes a secret key readable by its owner only (mode 0600 on Unix), refusing to overwrite
/// an existing file (a lost secret key cannot decrypt anything made under it).
pub fn write_secret(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !force {
            format!(
                "{} exists: refusing to overwrite a secret key (pass --force to replace it)",
                path.display()
            )
        } else {
            format!("creating the secret key {}", path.display())
        }
    })?;
    file.write_all(bytes)
        .with_context(|| format!("writing the secret key {}", path.display()))
}

/// The circuit of `model`: read from a `.bfc` file, or compiled from an ONNX model with the
/// default options and its bundled calibration samples (a note says so).
pub fn circuit_of(model: &Path, notes: &mut Vec<String>) -> Result<Circuit> {
    if super::inspect::is_circuit(model) {
        return super::inspect::read_circuit(model);
    }
    let (_, compiled) = blindfold::compile_file(
        model,
        None,
        Some(200),
        blindfold::compiler::CompileOptions::default(),
    )
    .with_context(|| format!("compiling {}", model.display()))?;
    notes.extend(compiled.degree_warning());
    notes.push(format!(
        "compiled {} with the default options (degree {:?}, N = 2^{}); compile once with \
         `blindfold compile` to skip this",
        model.display(),
        compiled.degree,
        compiled.circuit.params.log_n
    ));
    Ok(compiled.circuit)
}

/// Reads the first image of `path` (PNG/JPEG, .npy, or any data set `blindfold::dataset`
/// reads).
pub fn first_image(path: &Path) -> Result<blindfold::dataset::Image> {
    blindfold::dataset::load(path, Some(1))
        .with_context(|| format!("reading {}", path.display()))?
        .into_iter()
        .next()
        .with_context(|| format!("{} holds no image", path.display()))
}

/// Megabytes, for messages.
pub fn mb(bytes: usize) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}
