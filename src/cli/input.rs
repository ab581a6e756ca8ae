//! Reading one model input from a file: a NumPy `.npy` array (float32 or float64) or an
//! image (PNG, JPEG) scaled to [0, 1]. The decoding is shared with [`blindfold::dataset`].

use anyhow::{bail, Context, Result};
use blindfold::compiler::ir::Tensor;
use blindfold::dataset::{self, NpyData};
use std::path::Path;

/// Reads `path` as an input for a model whose input shape is `model_shape` (`[1, C, H, W]`
/// for images). `.npy` files keep their shape (the interpreter accepts `[C,H,W]`,
/// `[1,C,H,W]` or the model's shape); images become `[1, C, H, W]`.
pub fn read_input(path: &Path, model_shape: &[usize]) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\x93NUMPY") {
        return parse_npy(&bytes).with_context(|| format!("reading {} as .npy", path.display()));
    }
    read_image(&bytes, path, model_shape)
        .with_context(|| format!("reading {} as an image", path.display()))
}

/// Decodes an image and converts it with [`dataset::to_tensor`] (pixels / 255; an RGB image
/// for a grey model by ITU-R BT.601 luma, a grey image for an RGB model by replication).
/// The size must be the model's: images are not resized here.
fn read_image(bytes: &[u8], path: &Path, model_shape: &[usize]) -> Result<Tensor> {
    let img = dataset::decode_image(bytes, &path.display().to_string())
        .context("not a .npy file, and not a PNG or JPEG image")?;
    let (w, h) = (img.width, img.height);
    let &[_, c, mh, mw] = model_shape else {
        bail!(
            "the model input {model_shape:?} is not an image batch [N, C, H, W]; give a .npy file"
        );
    };
    if (mh, mw) != (h, w) {
        bail!("the image is {w}x{h} pixels but the model expects {mw}x{mh}");
    }
    if !matches!(c, 1 | 3) {
        bail!("the model expects {c} channels; images give 1 (grey) or 3 (RGB)");
    }
    let data = dataset::to_tensor(&img, c, h, w, 1.0 / 255.0, &[], &[])?;
    Ok(Tensor::new(vec![1, c, h, w], data)?)
}

/// Parses a NumPy `.npy` file (format versions 1 to 3, float32 or float64, C order) with
/// [`dataset::parse_npy`]; other element types are refused.
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor> {
    let array = dataset::parse_npy(bytes, "the .npy data")?;
    let NpyData::Float(data) = array.data else {
        bail!("the element type is not supported (float32 '<f4' or float64 '<f8' are)");
    };
    Ok(Tensor::new(array.shape, data)?)
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
