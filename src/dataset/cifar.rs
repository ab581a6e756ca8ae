//! CIFAR-10 batches: the binary version (records of 1 label byte and 3072 pixel bytes) and
//! the python version (a pickled dict with `data` and `labels`).

use super::pickle::{self, Value};
use super::source::{open, read_all, read_error, read_full};
use super::{DatasetError, Image};
use std::path::Path;

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;
const RECORD: usize = 1 + PIXELS;

fn image(pixels: Vec<u8>, label: usize, source: String) -> Image {
    Image {
        channels: 3,
        height: SIDE,
        width: SIDE,
        pixels,
        values: None,
        label: Some(label),
        source,
    }
}

/// Reads a CIFAR-10 binary batch (`data_batch_N.bin`, `test_batch.bin`, optionally gzipped),
/// stopping after `limit` records.
pub(crate) fn load_binary(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let mut reader = open(path)?;
    let mut images = Vec::new();
    let mut record = vec![0u8; RECORD];
    while limit.is_none_or(|l| images.len() < l) {
        let i = images.len();
        let got = read_full(&mut *reader, &mut record).map_err(|e| read_error(path, &e))?;
        if got == 0 {
            break;
        }
        if got < RECORD {
            return Err(DatasetError::malformed(
                path.display(),
                format!(
                    "the file is truncated: it ends inside record {i} ({got} of its {RECORD} \
                     bytes); a CIFAR-10 binary batch is a sequence of {RECORD}-byte records \
                     (1 label byte, 3072 pixel bytes): download the file again"
                ),
            ));
        }
        let label = record[0];
        if label > 9 {
            return Err(DatasetError::malformed(
                path.display(),
                format!(
                    "record {i} has label byte {label}, but CIFAR-10 labels are 0 to 9; this is \
                     not a CIFAR-10 binary batch (CIFAR-100 binary files, with two label bytes, \
                     are not supported)"
                ),
            ));
        }
        images.push(image(
            record[1..].to_vec(),
            usize::from(label),
            format!("{}[{i}]", path.display()),
        ));
    }
    if images.is_empty() && limit != Some(0) {
        return Err(DatasetError::malformed(
            path.display(),
            "the file is empty: a CIFAR-10 binary batch holds 3073-byte records",
        ));
    }
    Ok(images)
}

/// Reads a CIFAR-10 python batch (`data_batch_N`, `test_batch`): a pickle of a dict with
/// `data` (a uint8 array of N x 3072) and `labels` (N integers; `fine_labels` is accepted
/// too).
pub(crate) fn load_pickle(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let bytes = read_all(path)?;
    let malformed = |message: String| DatasetError::malformed(path.display(), message);
    let root = pickle::parse(&bytes).map_err(|e| {
        malformed(format!(
            "cannot read it as a CIFAR-10 python batch: {e}; give an intact `data_batch_N` or \
             `test_batch` file from cifar-10-python.tar.gz"
        ))
    })?;
    let Value::Dict(entries) = &root else {
        return Err(malformed(
            "the pickle holds no dict; a CIFAR-10 python batch is a dict with `data` and `labels`"
                .into(),
        ));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_text().is_some_and(|t| t == key.as_bytes()))
            .map(|(_, v)| v)
    };
    let data = get("data").ok_or_else(|| {
        malformed("the dict has no `data` entry; this is not a CIFAR-10 python batch".into())
    })?;
    // CIFAR-100 batches name their 100-class labels `fine_labels`.
    let (labels, max_label) = match (get("labels"), get("fine_labels")) {
        (Some(l), _) => (l, 9),
        (None, Some(l)) => (l, 99),
        (None, None) => {
            return Err(malformed(
                "the dict has no `labels` entry; this is not a CIFAR-10 python batch".into(),
            ))
        }
    };
    let (shape, pixels) = pickle::numpy_u8_array(data)
        .map_err(|e| malformed(format!("its `data` entry is not usable: {e}")))?;
    let rows = match shape.as_slice() {
        [n, w] if *w == PIXELS => *n,
        [n, 3, 32, 32] => *n,
        other => {
            return Err(malformed(format!(
                "its `data` array has shape {other:?}; CIFAR-10 batches hold N x 3072 pixels"
            )))
        }
    };
    let labels = pickle::int_list(labels)
        .map_err(|e| malformed(format!("its `labels` entry is not usable: {e}")))?;
    if labels.len() != rows {
        return Err(malformed(format!(
            "it holds {rows} images but {} labels; the file is damaged: download it again",
            labels.len()
        )));
    }
    let take = limit.map_or(rows, |l| l.min(rows));
    let mut images = Vec::with_capacity(take);
    for (i, (&label, row)) in labels
        .iter()
        .zip(pixels.chunks_exact(PIXELS))
        .take(take)
        .enumerate()
    {
        let label = usize::try_from(label)
            .ok()
            .filter(|&l| l <= max_label)
            .ok_or_else(|| {
                malformed(format!(
                    "image {i} has label {label}, but the labels go from 0 to {max_label}; \
                     the file is damaged: download it again"
                ))
            })?;
        images.push(image(
            row.to_vec(),
            label,
            format!("{}[{i}]", path.display()),
        ));
    }
    Ok(images)
}
