//! Reading one model input from a file: a NumPy `.npy` array (float32 or float64) or an
//! image (PNG, JPEG) scaled to [0, 1].

use anyhow::{bail, Context, Result};
use blindfold::compiler::ir::Tensor;
use std::path::Path;

/// Reads `path` as an input for a model whose input shape is `model_shape` (`[1, C, H, W]`
/// for images). `.npy` files keep their shape (the interpreter accepts `[C,H,W]`,
/// `[1,C,H,W]` or the model's shape); images become `[1, C, H, W]`.
pub fn read_input(path: &Path, model_shape: &[usize]) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\x93NUMPY") {
        return parse_npy(&bytes).with_context(|| format!("reading {} as .npy", path.display()));
    }
    read_image(&bytes, model_shape)
        .with_context(|| format!("reading {} as an image", path.display()))
}

fn read_image(bytes: &[u8], model_shape: &[usize]) -> Result<Tensor> {
    let img =
        image::load_from_memory(bytes).context("not a .npy file, and not a PNG or JPEG image")?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let &[_, c, mh, mw] = model_shape else {
        bail!(
            "the model input {model_shape:?} is not an image batch [N, C, H, W]; give a .npy file"
        );
    };
    if (mh, mw) != (h, w) {
        bail!("the image is {w}x{h} pixels but the model expects {mw}x{mh}");
    }
    let data: Vec<f64> = match c {
        1 => img
            .to_luma8()
            .into_raw()
            .iter()
            .map(|&p| f64::from(p) / 255.0)
            .collect(),
        3 => {
            let rgb = img.to_rgb8().into_raw();
            let mut planar = vec![0.0; 3 * h * w];
            for (i, px) in rgb.chunks_exact(3).enumerate() {
                for (ch, &v) in px.iter().enumerate() {
                    planar[ch * h * w + i] = f64::from(v) / 255.0;
                }
            }
            planar
        }
        other => bail!("the model expects {other} channels; images give 1 (grey) or 3 (RGB)"),
    };
    Ok(Tensor::new(vec![1, c, h, w], data)?)
}

/// Parses a NumPy `.npy` file (format versions 1 to 3, little-endian float32 or float64,
/// C order).
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor> {
    let major = *bytes.get(6).context("truncated header")?;
    let (len, start) = match major {
        1 => (
            u16::from_le_bytes([
                bytes.get(8).copied().unwrap_or(0),
                bytes.get(9).copied().unwrap_or(0),
            ]) as usize,
            10,
        ),
        2 | 3 => {
            let b = bytes.get(8..12).context("truncated header")?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => bail!("unsupported .npy format version {v}"),
    };
    let header = std::str::from_utf8(bytes.get(start..start + len).context("truncated header")?)
        .context("header is not text")?;
    let field = |key: &str| -> Result<&str> {
        let at = header
            .find(&format!("'{key}'"))
            .with_context(|| format!("header has no '{key}'"))?;
        Ok(header[at + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start())
    };
    let descr = field("descr")?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        bail!(
            "element type {} is not supported (float32 '<f4' or float64 '<f8' are)",
            descr.split(',').next().unwrap_or("")
        );
    };
    if field("fortran_order")?.starts_with("True") {
        bail!("Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
    }
    let shape_text = field("shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split_once(')'))
        .map(|(s, _)| s)
        .context("malformed shape")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().context("malformed shape"))
        .collect::<Result<Vec<_>>>()?;
    let n: usize = shape.iter().product();
    let body = bytes.get(start + len..).unwrap_or(&[]);
    if body.len() != n * width {
        bail!(
            "shape {shape:?} needs {} bytes of data, the file has {}",
            n * width,
            body.len()
        );
    }
    let data = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    };
    Ok(Tensor::new(shape, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_float32_and_float64() {
        let body: Vec<u8> = [1.0f32, 2.5, -3.0, 0.5, 0.0, 7.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = parse_npy(&npy("<f4", "(1, 2, 3)", &body)).unwrap();
        assert_eq!(t.shape(), [1, 2, 3]);
        assert_eq!(t.data(), [1.0, 2.5, -3.0, 0.5, 0.0, 7.0]);
        let body: Vec<u8> = [4.25f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse_npy(&npy("<f8", "(1,)", &body)).unwrap();
        assert_eq!((t.shape(), t.data()), (&[1usize][..], &[4.25][..]));
    }

    #[test]
    fn refuses_bad_files() {
        assert!(parse_npy(&npy("<i8", "(1,)", &[0; 8])).is_err());
        assert!(parse_npy(&npy("<f4", "(2,)", &[0; 4])).is_err());
        assert!(parse_npy(b"\x93NUMPY\x01").is_err());
    }
}
