//! IDX files (MNIST, Fashion-MNIST, Kuzushiji-MNIST): a big-endian header (magic
//! `0x0000 08 NN`, `NN` dimensions, then one `u32` per dimension) followed by unsigned bytes.

use super::source::{open, read_error, read_full};
use super::{DatasetError, Image};
use std::io::Read;
use std::path::{Path, PathBuf};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest image accepted, in pixels: protects against a damaged header asking for gigabytes.
const MAX_PIXELS: usize = 1 << 24;

/// Reads an IDX images file and the labels file next to it.
pub(crate) fn load(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let mut reader = open(path)?;
    let header = read_header(path, &mut *reader)?;
    if header.magic == LABELS_MAGIC {
        return Err(DatasetError::unrecognized(
            path.display(),
            "this is an IDX labels file; give the images file (*-images-idx3-ubyte[.gz]): \
             its labels file is found next to it",
        ));
    }
    if header.magic != IMAGES_MAGIC {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "wrong magic number 0x{:08x} for an IDX images file (expected 0x{IMAGES_MAGIC:08x}: \
                 unsigned bytes, 3 dimensions); this is not an MNIST-style images file, or it is \
                 damaged: download it again",
                header.magic
            ),
        ));
    }
    let (count, height, width) = (header.dims[0], header.dims[1], header.dims[2]);
    let plane = height
        .checked_mul(width)
        .filter(|&p| p <= MAX_PIXELS && p > 0)
        .ok_or_else(|| {
            DatasetError::malformed(
                path.display(),
                format!(
                    "the header announces images of {height}x{width} pixels, which is not a \
                     plausible image size; the file is damaged: download it again"
                ),
            )
        })?;
    let labels_path = labels_path(path)?;
    let labels = read_labels(&labels_path, count, limit)?;

    let take = limit.map_or(count, |l| l.min(count));
    let mut images = Vec::with_capacity(take.min(100_000));
    for (i, &label) in labels.iter().enumerate().take(take) {
        let mut pixels = vec![0u8; plane];
        let got = read_full(&mut *reader, &mut pixels).map_err(|e| read_error(path, &e))?;
        if got < plane {
            return Err(DatasetError::malformed(
                path.display(),
                format!(
                    "the file is truncated: its header announces {count} images of {height}x{width} \
                     pixels ({} bytes of data) but the data ends inside image {i} (after {} bytes); \
                     download the file again",
                    count as u128 * plane as u128,
                    i * plane + got
                ),
            ));
        }
        images.push(Image {
            channels: 1,
            height,
            width,
            pixels,
            values: None,
            label: Some(usize::from(label)),
            source: format!("{}[{i}]", path.display()),
        });
    }
    if take == count {
        check_end(path, &mut *reader, count)?;
    }
    Ok(images)
}

struct Header {
    magic: u32,
    dims: Vec<usize>,
}

fn read_u32(path: &Path, reader: &mut dyn Read, what: &str) -> Result<u32, DatasetError> {
    let mut b = [0u8; 4];
    let got = read_full(reader, &mut b).map_err(|e| read_error(path, &e))?;
    if got < 4 {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "the file is truncated: it ends inside its IDX header ({what}); download it again"
            ),
        ));
    }
    Ok(u32::from_be_bytes(b))
}

fn read_header(path: &Path, reader: &mut dyn Read) -> Result<Header, DatasetError> {
    let magic = read_u32(path, reader, "magic number")?;
    if magic >> 16 != 0 || (magic >> 8) & 0xff != 0x08 {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "wrong magic number 0x{magic:08x}: an IDX file of unsigned bytes starts with \
                 0x000008NN (0x{IMAGES_MAGIC:08x} for images, 0x{LABELS_MAGIC:08x} for labels); \
                 this is not an MNIST-style IDX file, or it is damaged: download it again"
            ),
        ));
    }
    let ndims = (magic & 0xff) as usize;
    let mut dims = Vec::with_capacity(ndims);
    for d in 0..ndims {
        dims.push(read_u32(path, reader, &format!("dimension {d}"))? as usize);
    }
    Ok(Header { magic, dims })
}

/// After the last record: the file must end here.
fn check_end(path: &Path, reader: &mut dyn Read, count: usize) -> Result<(), DatasetError> {
    let mut extra = [0u8; 1];
    let got = read_full(reader, &mut extra).map_err(|e| read_error(path, &e))?;
    if got > 0 {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "the file has data after the {count} records its header announces; it is \
                 damaged or not a plain IDX file: download it again"
            ),
        ));
    }
    Ok(())
}

/// The labels file next to an images file: `images` -> `labels` and `idx3` -> `idx1` in the
/// name, with or without `.gz`.
fn labels_path(images: &Path) -> Result<PathBuf, DatasetError> {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_lowercase();
    let Some(at) = lower.find("images") else {
        return Err(DatasetError::malformed(
            images.display(),
            "cannot find its labels file: the name has no `images` to replace by `labels`; \
             name the pair like `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`",
        ));
    };
    let mut labels = format!("{}labels{}", &name[..at], &name[at + "images".len()..]);
    if let Some(i) = labels.to_lowercase().find("idx3") {
        labels.replace_range(i..i + 4, "idx1");
    }
    let plain = labels.strip_suffix(".gz").unwrap_or(&labels).to_string();
    let candidates = [format!("{plain}.gz"), plain];
    let dir = images.parent().unwrap_or(Path::new(""));
    for candidate in &candidates {
        let p = dir.join(candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DatasetError::malformed(
        images.display(),
        format!(
            "no labels file next to it (looked for {} and {}); put the matching labels file \
             in the same folder",
            dir.join(&candidates[0]).display(),
            dir.join(&candidates[1]).display()
        ),
    ))
}

fn read_labels(path: &Path, count: usize, limit: Option<usize>) -> Result<Vec<u8>, DatasetError> {
    let mut reader = open(path)?;
    let header = read_header(path, &mut *reader)?;
    if header.magic != LABELS_MAGIC {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "wrong magic number 0x{:08x} for an IDX labels file (expected \
                 0x{LABELS_MAGIC:08x}: unsigned bytes, 1 dimension); download it again",
                header.magic
            ),
        ));
    }
    let n = header.dims[0];
    if n != count {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "holds {n} labels but the images file next to it holds {count} images; the two \
                 files do not belong together (use the labels file of the same split)"
            ),
        ));
    }
    let take = limit.map_or(count, |l| l.min(count));
    let mut labels = vec![0u8; take];
    let got = read_full(&mut *reader, &mut labels).map_err(|e| read_error(path, &e))?;
    if got < take {
        return Err(DatasetError::malformed(
            path.display(),
            format!(
                "the file is truncated: its header announces {count} labels but the data ends \
                 after {got}; download it again"
            ),
        ));
    }
    if take == count {
        check_end(path, &mut *reader, count)?;
    }
    Ok(labels)
}
