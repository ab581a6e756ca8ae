//! `eval --records FILE`: one JSON line per evaluated image, written as each image completes,
//! so that an encrypted evaluation of a large test set (hours for a CIFAR-10 network) can stop
//! and go on later, in another process or on another machine of the same kind. A resumed run
//! reads the records, checks that they were made by the same circuit on the same images, skips
//! those images and reports over all of them.

use super::measure::ImageResult;
use anyhow::{bail, Context, Result};
use blindfold::dataset::Image;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The records file of one evaluation: the images already done, and where new ones go.
pub struct Records {
    path: PathBuf,
    circuit: String,
    file: File,
}

/// Identifies an image by its content (label and pixel or float data), so that records are
/// matched to a data set whatever path it is read from.
fn image_digest(image: &Image) -> String {
    let mut h = Sha256::new();
    h.update((image.channels as u64).to_le_bytes());
    h.update((image.height as u64).to_le_bytes());
    h.update((image.width as u64).to_le_bytes());
    h.update(image.pixels.as_slice());
    if let Some(values) = &image.values {
        for v in values {
            h.update(v.to_le_bytes());
        }
    }
    h.update(image.label.map_or(u64::MAX, |l| l as u64).to_le_bytes());
    blindfold::runtime::ckks::serial::to_hex(&h.finalize()[..8])
}

impl Records {
    /// Opens (or creates) `path` for the circuit with fingerprint `circuit` (hex) evaluated
    /// on `images`, and returns the results it already holds, in data-set order. A last line
    /// cut short (the process was stopped while writing it) is dropped; anything else that
    /// does not match is an error naming the line and the fix.
    pub fn open(path: &Path, circuit: &str, images: &[Image]) -> Result<(Self, Vec<ImageResult>)> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {} to append records", path.display()))?;
        // Two runs appending to one file would interleave their records.
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => anyhow::anyhow!(
                "{} is being written by another `blindfold eval`: wait for it to end or pass \
                 another --records file",
                path.display()
            ),
            TryLockError::Error(e) => {
                anyhow::Error::new(e).context(format!("locking {}", path.display()))
            }
        })?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut done = Vec::new();
        let mut keep = 0;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let complete = line.ends_with('\n');
            let parsed = serde_json::from_str::<Value>(line.trim_end());
            let value = match (parsed, complete) {
                (Ok(v), true) => v,
                // Only the last line can lack its newline: it was cut short.
                (_, false) => break,
                (Err(e), true) => bail!(
                    "{} line {}: not a record of `blindfold eval` ({e}); pass another \
                     --records file or delete this one",
                    path.display(),
                    i + 1
                ),
            };
            let image = images.get(done.len()).with_context(|| {
                format!(
                    "{} holds more records ({}) than the images evaluated ({}): pass the same \
                     --limit as the run that wrote it, or another --records file",
                    path.display(),
                    lines.len(),
                    images.len()
                )
            })?;
            let result = parse(&value, circuit, image).with_context(|| {
                format!(
                    "{} line {}: pass another --records file or delete this one",
                    path.display(),
                    i + 1
                )
            })?;
            done.push(result);
            keep += line.len();
        }
        if keep < text.len() {
            // Drop the cut-short line, so that new records start on a line of their own.
            file.set_len(keep as u64)
                .with_context(|| format!("truncating {}", path.display()))?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                circuit: circuit.to_string(),
                file,
            },
            done,
        ))
    }

    /// Appends the record of `result`, the evaluation of `image`, and flushes it to disk.
    pub fn append(&mut self, image: &Image, result: &ImageResult) -> Result<()> {
        let record = json!({
            "circuit": self.circuit,
            "image": image_digest(image),
            "source": result.source,
            "label": result.label,
            "plain": result.plain.as_deref().map(scores_json),
            "simulated": scores_json(&result.simulated),
            "encrypted": scores_json(&result.encrypted),
            "encrypt_ms": result.encrypt.as_secs_f64() * 1e3,
            "run_ms": result.run.as_secs_f64() * 1e3,
            "decrypt_ms": result.decrypt.as_secs_f64() * 1e3,
            "input_bytes": result.input_bytes,
            "output_bytes": result.output_bytes,
        });
        let mut line = record.to_string();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("writing to {}", self.path.display()))
    }
}

/// Scores as JSON numbers; a score that is not finite (a diverged run) becomes `null`.
fn scores_json(scores: &[f64]) -> Value {
    scores
        .iter()
        .map(|&v| if v.is_finite() { json!(v) } else { Value::Null })
        .collect()
}

fn parse(value: &Value, circuit: &str, image: &Image) -> Result<ImageResult> {
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let number = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .with_context(|| format!("its `{key}` is missing or not a number"))
    };
    let scores = |key: &str| -> Result<Vec<f64>> {
        let list = value
            .get(key)
            .and_then(Value::as_array)
            .with_context(|| format!("its `{key}` scores are missing"))?;
        list.iter()
            .map(|v| match v {
                Value::Null => Ok(f64::NAN),
                v => v
                    .as_f64()
                    .with_context(|| format!("its `{key}` scores are not numbers")),
            })
            .collect()
    };
    let found = text("circuit").context("it names no circuit")?;
    if found != circuit {
        bail!("it was made by another circuit (fingerprint {found}, this one is {circuit})");
    }
    let digest = image_digest(image);
    let recorded = text("image").context("it names no image")?;
    if recorded != digest {
        bail!(
            "it is the record of another image ({}) than the data set's image at this position \
             ({}): the records were made on another data set",
            text("source").unwrap_or("unnamed"),
            image.source
        );
    }
    let plain = match value.get("plain") {
        None | Some(Value::Null) => None,
        Some(_) => Some(scores("plain")?),
    };
    let ms = |key: &str| number(key).map(|v| Duration::from_secs_f64(v / 1e3));
    Ok(ImageResult {
        source: image.source.clone(),
        label: image.label,
        plain,
        simulated: scores("simulated")?,
        encrypted: scores("encrypted")?,
        encrypt: ms("encrypt_ms")?,
        run: ms("run_ms")?,
        decrypt: ms("decrypt_ms")?,
        input_bytes: number("input_bytes")? as usize,
        output_bytes: number("output_bytes")? as usize,
    })
}
