//! Labelled image sets for calibration and encrypted evaluation.
//!
//! [`load`] reads a test set from a file or a folder and detects its format:
//!
//! | what `path` is | format | labels |
//! | --- | --- | --- |
//! | `*-images-idx3-ubyte[.gz]` | MNIST / Fashion-MNIST / KMNIST IDX images | the `*-labels-idx1-ubyte[.gz]` file next to it |
//! | `*-imgs.npz` or an `.npz` with image and label arrays | KMNIST NumPy archive | `*-labels.npz` next to it, or a 1-D array inside |
//! | `*.bin[.gz]` | CIFAR-10 binary batch (1 label byte + 3072 bytes of R, G, B planes per record) | in the records |
//! | `data_batch_N`, `test_batch` (optionally `.gz`) | CIFAR-10 python batch (a pickle of a dict with `data` and `labels`) | in the pickle |
//! | `*.tar`, `*.tar.gz`, `*.tgz` | images (PNG, JPEG) in one sub-folder per class | the class folder |
//! | a folder of `<index>_<label>.png` files | bundled samples (`models/samples/<dataset>/`) | the file name |
//! | a folder with one sub-folder per class | images (PNG, JPEG) | the class folder |
//! | a folder of other images | images, in natural order of their names | none |
//! | `*.png`, `*.jpg`, `*.jpeg` | one image | none |
//! | `*.npy` | one tensor `[H,W]`, `[C,H,W]` or `[N,C,H,W]` (uint8 or float) | none |
//!
//! A folder holding the files of a whole data set (the four MNIST IDX files, the CIFAR-10
//! batches, `train.tar` and `test.tar`, or `train/` and `test/` sub-folders) gives its test
//! split: `t10k-*`, `test_batch*`, `test.tar`, `test/`.
//!
//! Class folders: the label of a class folder is its name when every class folder is named by an
//! integer (`0`, `1`, ...), otherwise the position of its name in sorted order (for CIFAR-10,
//! `airplane` = 0 ... `truck` = 9, the official order). Class folders carry no global image
//! order, so [`load`] restores it from a label-order file when there is one (a text file with
//! one label per line, in dataset order; the `k`-th image of class `y` in the file is the
//! `k`-th file, in natural name order, of that class's folder). It looks for
//! `<split>_labels.txt` and `<split>_batch_labels.txt` (`<split>` being the archive's or the
//! folder's name, e.g. `test` for `test.tar`) inside the folder, next to it, and in
//! `../cifar10-partial/` (the layout of the project's `shared/datasets`, where
//! `cifar10-partial/test_batch_labels.txt` puts `cifar10-jpeg/test.tar` back into the official
//! `test_batch` order). Without one, the classes are interleaved: the first image of every
//! class, then the second of every class, and so on, so that the first `N` images are
//! balanced.
//!
//! Pixels are kept as stored: 8-bit values in channel, row, column order ([`Image::pixels`]).
//! A float `.npy` tensor keeps its values in [`Image::values`] instead, as model input values
//! ([`to_tensor`] does not rescale or normalise them). [`to_tensor`] turns an image into a
//! model input: channel conversion, bilinear resizing, scaling and per-channel normalisation.

mod cifar;
mod convert;
mod folder;
mod idx;
mod npy;
mod pickle;
mod source;

use std::path::Path;

pub use convert::to_tensor;
pub use npy::{parse_npy, NpyArray, NpyData};

/// One image of a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Number of channels: 1 (grey) or 3 (R, G, B) for decoded images; any for `.npy` tensors.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// 8-bit pixel values in CHW order (`channels * height * width` bytes). Empty when the
    /// image holds float data (see [`Image::values`]).
    pub pixels: Vec<u8>,
    /// Float data in CHW order, for `.npy` tensors of type float32 or float64; `None` for
    /// 8-bit images. These are taken as model input values: [`to_tensor`] converts their
    /// channels and size but applies no pixel scale, mean or standard deviation.
    pub values: Option<Vec<f64>>,
    /// The class label, when the data set has one.
    pub label: Option<usize>,
    /// Where the image comes from, for messages: a file path, `file[index]` for an image
    /// inside a data file, or `archive:member` for an image inside an archive.
    pub source: String,
}

impl Image {
    /// Number of values in the image (`channels * height * width`).
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True when the image has no values (a zero dimension).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a data set could not be read or an image not converted. Every message names the file
/// (or image) and the problem, and says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// A file or folder could not be opened or read.
    #[error("{path}: cannot read it: {error}; check the path and its permissions")]
    Io {
        /// The file or folder.
        path: String,
        /// The error of the operating system (part of the message, not a separate source).
        error: std::io::Error,
    },
    /// The file's content does not follow its format: wrong magic number, truncated data,
    /// inconsistent counts, missing labels.
    #[error("{path}: {message}")]
    Malformed {
        /// The file (or archive member).
        path: String,
        /// The problem and its fix.
        message: String,
    },
    /// Nothing at the path is a supported data set or image.
    #[error("{path}: {message}")]
    Unrecognized {
        /// The file or folder.
        path: String,
        /// What was found and what is supported.
        message: String,
    },
    /// [`to_tensor`] cannot produce the requested input from this image.
    #[error("{image}: {message}")]
    Conversion {
        /// The image's [`Image::source`].
        image: String,
        /// The problem and its fix.
        message: String,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl std::fmt::Display, error: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_string(),
            error,
        }
    }

    pub(crate) fn malformed(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        DatasetError::Malformed {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn unrecognized(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        DatasetError::Unrecognized {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// Reads the images of the data set at `path` (a file or a folder; the formats are listed in
/// the [module documentation](self)), in the data set's order, keeping the first `limit`
/// images when `limit` is given.
///
/// With a limit, IDX files and CIFAR-10 binary batches are read only as far as needed, and
/// only the selected images of an image folder or archive are decoded.
pub fn load(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let meta = std::fs::metadata(path).map_err(|e| DatasetError::io(path.display(), e))?;
    if meta.is_dir() {
        folder::load_dir(path, limit)
    } else {
        load_file(path, limit)
    }
}

/// Decodes one PNG or JPEG image from memory: grey images (with or without alpha) give one
/// channel, colour images three (R, G, B; alpha is dropped). 16-bit images are reduced to 8
/// bits. The label is `None`; `source` names the image in messages.
pub fn decode_image(bytes: &[u8], source: &str) -> Result<Image, DatasetError> {
    let img = image::load_from_memory(bytes).map_err(|e| {
        DatasetError::malformed(
            source,
            format!("cannot decode it as an image ({e}); PNG and JPEG images are supported"),
        )
    })?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (channels, pixels) = if img.color().has_color() {
        let rgb = img.to_rgb8().into_raw();
        let plane = width * height;
        let mut planar = vec![0u8; 3 * plane];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                planar[c * plane + i] = v;
            }
        }
        (3, planar)
    } else {
        (1, img.to_luma8().into_raw())
    };
    Ok(Image {
        channels,
        height,
        width,
        pixels,
        values: None,
        label: None,
        source: source.to_string(),
    })
}

/// What a file is, from its name (and, for names that say nothing, its first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Idx,
    CifarBin,
    CifarPickle,
    Npy,
    Npz,
    Tar,
    Image,
}

/// The lower-case file name without a trailing `.gz`.
fn base_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match name.strip_suffix(".gz") {
        Some(base) => base.to_string(),
        None => name,
    }
}

fn kind_from_name(path: &Path) -> Option<FileKind> {
    let full = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let base = base_name(path);
    if base.contains("idx1") || base.contains("idx3") || base.ends_with("-ubyte") {
        Some(FileKind::Idx)
    } else if base.ends_with(".bin") {
        Some(FileKind::CifarBin)
    } else if base.ends_with(".npy") {
        Some(FileKind::Npy)
    } else if base.ends_with(".npz") {
        Some(FileKind::Npz)
    } else if base.ends_with(".tar") || full.ends_with(".tgz") {
        Some(FileKind::Tar)
    } else if [".png", ".jpg", ".jpeg"].iter().any(|e| full.ends_with(e)) {
        Some(FileKind::Image)
    } else if (base.starts_with("data_batch") || base.starts_with("test_batch"))
        && (!base.contains('.') || base.ends_with(".pkl") || base.ends_with(".pickle"))
    {
        Some(FileKind::CifarPickle)
    } else {
        None
    }
}

fn kind_from_content(head: &[u8]) -> Option<FileKind> {
    if head.starts_with(b"\x93NUMPY") {
        Some(FileKind::Npy)
    } else if head.starts_with(b"PK\x03\x04") {
        Some(FileKind::Npz)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(FileKind::Tar)
    } else if head.starts_with(b"\x89PNG") || head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(FileKind::Image)
    } else if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        Some(FileKind::CifarPickle)
    } else if head.len() >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 {
        Some(FileKind::Idx)
    } else {
        None
    }
}

fn load_file(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let kind = match kind_from_name(path) {
        Some(kind) => kind,
        None => {
            let head = source::sniff(path, 512)?;
            kind_from_content(&head).ok_or_else(|| {
                DatasetError::unrecognized(
                    path.display(),
                    "neither its name nor its content matches a supported format; give an \
                     IDX images file (*-images-idx3-ubyte[.gz]), a KMNIST .npz, a CIFAR-10 \
                     batch (*.bin[.gz], data_batch_N, test_batch), a .tar[.gz] of class \
                     folders, a PNG or JPEG image, a .npy tensor, or a folder of these",
                )
            })?
        }
    };
    match kind {
        FileKind::Idx => idx::load(path, limit),
        FileKind::CifarBin => cifar::load_binary(path, limit),
        FileKind::CifarPickle => cifar::load_pickle(path, limit),
        FileKind::Npy => npy::load_npy(path, limit),
        FileKind::Npz => npy::load_npz(path, limit),
        FileKind::Tar => folder::load_tar(path, limit),
        FileKind::Image => {
            let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path.display(), e))?;
            let image = decode_image(&bytes, &path.display().to_string())?;
            Ok(if limit == Some(0) {
                Vec::new()
            } else {
                vec![image]
            })
        }
    }
}
