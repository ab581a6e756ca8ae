//! NumPy `.npy` arrays and `.npz` archives (a zip of `.npy` files, as KMNIST ships).

use super::source::read_all;
use super::{DatasetError, Image};
use std::io::Read;
use std::path::{Path, PathBuf};

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// The elements in C (row-major) order.
    pub data: NpyData,
}

/// The elements of an [`NpyArray`], by kind of element type.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `uint8` (and `bool`) elements.
    U8(Vec<u8>),
    /// Other integer elements (`int8` to `int64`, `uint16` to `uint64` up to `i64::MAX`).
    Int(Vec<i64>),
    /// `float32` and `float64` elements (float32 values are exact in f64).
    Float(Vec<f64>),
}

impl NpyData {
    fn len(&self) -> usize {
        match self {
            NpyData::U8(v) => v.len(),
            NpyData::Int(v) => v.len(),
            NpyData::Float(v) => v.len(),
        }
    }
}

/// Parses a NumPy `.npy` file held in memory (format versions 1 to 3, C order, little- or
/// big-endian `bool`, `int8`..`int64`, `uint8`..`uint64`, `float32` or `float64` elements).
/// `source` names the data in error messages.
pub fn parse_npy(bytes: &[u8], source: &str) -> Result<NpyArray, DatasetError> {
    parse(bytes).map_err(|message| DatasetError::malformed(source, message))
}

fn parse(bytes: &[u8]) -> Result<NpyArray, String> {
    const FIX: &str = "save the array with numpy.save";
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(format!(
            "not a .npy file (it does not start with \\x93NUMPY); {FIX}"
        ));
    }
    let truncated = || format!("the .npy header is truncated; {FIX}");
    let major = *bytes.get(6).ok_or_else(truncated)?;
    let (len, start) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or_else(truncated)?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(truncated)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy format version {v} (1 to 3 are)")),
    };
    let header = bytes.get(start..start + len).ok_or_else(truncated)?;
    let header =
        std::str::from_utf8(header).map_err(|_| format!("the .npy header is not text; {FIX}"))?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the .npy header has no '{key}'; {FIX}"))?;
        Ok(header[at + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start())
    };
    let descr_text = field("descr")?;
    let descr = descr_text
        .strip_prefix('\'')
        .and_then(|s| s.split_once('\''))
        .map(|(d, _)| d)
        .ok_or_else(|| {
            "structured element types are not supported; save a plain numeric array".to_string()
        })?;
    if field("fortran_order")?.starts_with("True") {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape_text = field("shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split_once(')'))
        .map(|(s, _)| s)
        .ok_or_else(|| format!("malformed shape in the .npy header; {FIX}"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("malformed shape ({inner}) in the .npy header; {FIX}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("the shape {shape:?} is too large"))?;

    let (order, kind, size) = {
        let mut chars = descr.chars();
        let order = chars.next().unwrap_or(' ');
        let kind = chars.next().unwrap_or(' ');
        let size: usize = chars.as_str().parse().unwrap_or(0);
        (order, kind, size)
    };
    let unsupported = || {
        format!(
            "element type '{descr}' is not supported (bool, int8..int64, uint8..uint64, \
             float32 and float64 are); convert the array with .astype"
        )
    };
    if !matches!(order, '<' | '>' | '|' | '=') {
        return Err(unsupported());
    }
    let big = order == '>';
    let body = bytes.get(start + len..).unwrap_or(&[]);
    let need = n.checked_mul(size).ok_or_else(unsupported)?;
    if !matches!(
        (kind, size),
        ('b' | 'u' | 'i', 1) | ('u' | 'i', 2 | 4 | 8) | ('f', 4 | 8)
    ) {
        return Err(unsupported());
    }
    if body.len() != need {
        return Err(format!(
            "shape {shape:?} of '{descr}' needs {need} bytes of data, the file has {}: it is \
             truncated or damaged; save it again",
            body.len()
        ));
    }
    let word = |c: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        if big {
            for (i, &b) in c.iter().rev().enumerate() {
                a[i] = b;
            }
        } else {
            a[..c.len()].copy_from_slice(c);
        }
        a
    };
    let data = match (kind, size) {
        ('b' | 'u', 1) => NpyData::U8(body.to_vec()),
        ('i', 1) => NpyData::Int(body.iter().map(|&b| i64::from(b as i8)).collect()),
        ('u', _) => NpyData::Int(
            body.chunks_exact(size)
                .map(|c| {
                    i64::try_from(u64::from_le_bytes(word(c)))
                        .map_err(|_| "an element does not fit in int64".to_string())
                })
                .collect::<Result<_, _>>()?,
        ),
        ('i', _) => NpyData::Int(
            body.chunks_exact(size)
                .map(|c| {
                    let shift = 64 - 8 * size as u32;
                    (i64::from_le_bytes(word(c)) << shift) >> shift
                })
                .collect(),
        ),
        ('f', 4) => NpyData::Float(
            body.chunks_exact(4)
                .map(|c| {
                    let w = word(c);
                    f64::from(f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                })
                .collect(),
        ),
        _ => NpyData::Float(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(word(c)))
                .collect(),
        ),
    };
    Ok(NpyArray { shape, data })
}

/// Images from an array of `[N, C, H, W]` (or `[N, H, W]`, `[N, H, W, C]` with C = 1 or 3).
fn images_from(
    array: &NpyArray,
    layout: &[usize],
    nhwc: bool,
    labels: Option<&[usize]>,
    limit: Option<usize>,
    source: &str,
) -> Vec<Image> {
    let (n, c, h, w) = (layout[0], layout[1], layout[2], layout[3]);
    let size = c * h * w;
    let take = limit.map_or(n, |l| l.min(n));
    let to_chw = |start: usize| -> Vec<usize> {
        // Index in the array of each CHW position of the image that starts at `start`.
        (0..size)
            .map(|i| {
                if nhwc {
                    let (ch, rest) = (i / (h * w), i % (h * w));
                    start + rest * c + ch
                } else {
                    start + i
                }
            })
            .collect()
    };
    // Integer pixels within 0..=255 are stored as bytes, like uint8 arrays.
    let ints_are_bytes =
        matches!(&array.data, NpyData::Int(v) if v.iter().all(|x| (0..=255).contains(x)));
    (0..take)
        .map(|k| {
            let idx = to_chw(k * size);
            let (pixels, values) = match &array.data {
                NpyData::U8(v) => (idx.iter().map(|&i| v[i]).collect(), None),
                NpyData::Float(v) => (Vec::new(), Some(idx.iter().map(|&i| v[i]).collect())),
                NpyData::Int(v) if ints_are_bytes => {
                    (idx.iter().map(|&i| v[i] as u8).collect(), None)
                }
                NpyData::Int(v) => (Vec::new(), Some(idx.iter().map(|&i| v[i] as f64).collect())),
            };
            Image {
                channels: c,
                height: h,
                width: w,
                pixels,
                values,
                label: labels.map(|l| l[k]),
                source: if n == 1 {
                    source.to_string()
                } else {
                    format!("{source}[{k}]")
                },
            }
        })
        .collect()
}

/// Reads a single `.npy` tensor: `[H, W]`, `[C, H, W]` or `[N, C, H, W]` (N images); no
/// labels. uint8 arrays (and integer arrays within 0..=255) give pixels, other arrays values.
pub(crate) fn load_npy(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let bytes = read_all(path)?;
    let name = path.display().to_string();
    let array = parse_npy(&bytes, &name)?;
    let layout = match array.shape.as_slice() {
        [h, w] => [1, 1, *h, *w],
        [c, h, w] => [1, *c, *h, *w],
        [n, c, h, w] => [*n, *c, *h, *w],
        other => {
            return Err(DatasetError::malformed(
                &name,
                format!(
                    "the array has shape {other:?}; an image tensor is [H, W], [C, H, W] or \
                     [N, C, H, W]"
                ),
            ))
        }
    };
    Ok(images_from(&array, &layout, false, None, limit, &name))
}

/// The arrays of a `.npz` archive, by name (without `.npy`).
fn read_npz(path: &Path) -> Result<Vec<(String, NpyArray)>, DatasetError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| DatasetError::io(&name, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        DatasetError::malformed(
            &name,
            format!("cannot read it as a .npz (zip) archive ({e}); download it again"),
        )
    })?;
    let mut arrays = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| {
            DatasetError::malformed(
                &name,
                format!("cannot read member {i} ({e}); download it again"),
            )
        })?;
        let member = entry
            .name()
            .map_err(|e| {
                DatasetError::malformed(
                    &name,
                    format!("member {i} has an unreadable name ({e}); download it again"),
                )
            })?
            .into_owned();
        let Some(stem) = member.strip_suffix(".npy") else {
            continue;
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| {
            DatasetError::malformed(
                &name,
                format!("cannot read member {member} ({e}); download it again"),
            )
        })?;
        arrays.push((
            stem.to_string(),
            parse_npy(&bytes, &format!("{name}:{member}"))?,
        ));
    }
    Ok(arrays)
}

fn pick(
    arrays: &[(String, NpyArray)],
    keep: impl Fn(&NpyArray) -> bool,
) -> Option<&(String, NpyArray)> {
    let candidates: Vec<_> = arrays.iter().filter(|(_, a)| keep(a)).collect();
    match candidates.as_slice() {
        [one] => Some(one),
        many => many
            .iter()
            .find(|(n, _)| n.to_lowercase().contains("test"))
            .copied(),
    }
}

fn label_values(array: &NpyArray, name: &str) -> Result<Vec<usize>, DatasetError> {
    let bad = || {
        DatasetError::malformed(
            name,
            "the labels array holds negative or non-integer values; labels are class indices",
        )
    };
    match &array.data {
        NpyData::U8(v) => Ok(v.iter().map(|&b| usize::from(b)).collect()),
        NpyData::Int(v) => v
            .iter()
            .map(|&x| usize::try_from(x).map_err(|_| bad()))
            .collect(),
        NpyData::Float(_) => Err(bad()),
    }
}

/// The labels file next to a KMNIST images archive: `imgs` (or `images`) -> `labels`.
fn sibling_labels(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    ["imgs", "images", "x_"].iter().find_map(|from| {
        let at = name.find(from)?;
        let to = if *from == "x_" { "y_" } else { "labels" };
        let candidate =
            path.with_file_name(format!("{}{to}{}", &name[..at], &name[at + from.len()..]));
        candidate.is_file().then_some(candidate)
    })
}

/// Reads a `.npz` archive of images (`[N, H, W]`, `[N, C, H, W]` or `[N, H, W, C]`) with its
/// labels: a 1-D integer array in the same archive, or the single array of the `*-labels.npz`
/// next to a `*-imgs.npz` (the KMNIST layout). When an archive holds several arrays of a
/// kind, the one whose name contains `test` is used (`x_test`, `y_test`).
pub(crate) fn load_npz(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let name = path.display().to_string();
    let arrays = read_npz(path)?;
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    let (image_name, images) =
        pick(&arrays, |a| matches!(a.shape.len(), 3 | 4)).ok_or_else(|| {
            DatasetError::malformed(
                &name,
                format!(
                "no single image array (3 or 4 dimensions) in it (arrays: {names:?}); give the \
                 images archive, e.g. kmnist-test-imgs.npz"
            ),
            )
        })?;
    let member = format!("{name}:{image_name}.npy");
    let layout = match images.shape.as_slice() {
        [n, h, w] => ([*n, 1, *h, *w], false),
        [n, c, h, w] if matches!(c, 1 | 3) => ([*n, *c, *h, *w], false),
        [n, h, w, c] if matches!(c, 1 | 3) => ([*n, *c, *h, *w], true),
        other => {
            return Err(DatasetError::malformed(
                &member,
                format!("the image array has shape {other:?}; expected [N, H, W], [N, C, H, W] or [N, H, W, C] with C = 1 or 3"),
            ))
        }
    };
    let labeled = |a: &NpyArray| a.shape.len() == 1 && !matches!(a.data, NpyData::Float(_));
    let labels = match pick(&arrays, labeled) {
        Some((label_name, array)) => label_values(array, &format!("{name}:{label_name}.npy"))?,
        None => {
            let Some(other) = sibling_labels(path) else {
                return Err(DatasetError::malformed(
                    &name,
                    "it holds no labels array and there is no labels archive next to it \
                     (`*-labels.npz` beside `*-imgs.npz`); put the labels archive in the same \
                     folder",
                ));
            };
            let other_name = other.display().to_string();
            let arrays = read_npz(&other)?;
            let (_, array) = pick(&arrays, labeled).ok_or_else(|| {
                DatasetError::malformed(
                    &other_name,
                    "it holds no 1-D integer labels array; give the matching *-labels.npz",
                )
            })?;
            label_values(array, &other_name)?
        }
    };
    if labels.len() != layout.0[0] {
        return Err(DatasetError::malformed(
            &name,
            format!(
                "it holds {} images but its labels array holds {} labels; use the labels of the \
                 same split",
                layout.0[0],
                labels.len()
            ),
        ));
    }
    if images.data.len() != layout.0.iter().product::<usize>() {
        return Err(DatasetError::malformed(
            &member,
            "the array data does not match its shape",
        ));
    }
    Ok(images_from(
        images,
        &layout.0,
        layout.1,
        Some(&labels),
        limit,
        &member,
    ))
}
