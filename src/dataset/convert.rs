//! Turning an [`Image`] into a model input.

use super::{DatasetError, Image};

/// ITU-R BT.601 luma weights of R, G and B (as PIL's `convert("L")`).
const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

/// The model input for `image`: `channels * height * width` values in CHW order.
///
/// 1. Each 8-bit pixel `p` becomes `p * pixel_scale` (float images, [`Image::values`], keep
///    their values: they are model input already, and steps 1 and 4 do not apply to them).
/// 2. Channels: equal counts are kept; a grey image is replicated into every channel; an RGB
///    image becomes grey by ITU-R BT.601 luma, `0.299 R + 0.587 G + 0.114 B` (computed in
///    floating point, not rounded to 8 bits). Other conversions are refused.
/// 3. Size: when it differs, bilinear resampling with half-pixel centres (as PyTorch's
///    `interpolate(mode="bilinear", align_corners=False)` and OpenCV's `INTER_LINEAR`; no
///    antialiasing).
/// 4. Normalisation: `x = (v - mean[c]) / std[c]` per channel; `mean` and `std` hold one value
///    per output channel, or one value for all, or none (0 and 1).
pub fn to_tensor(
    image: &Image,
    channels: usize,
    height: usize,
    width: usize,
    pixel_scale: f64,
    mean: &[f64],
    std: &[f64],
) -> Result<Vec<f64>, DatasetError> {
    let fail = |message: String| DatasetError::Conversion {
        image: image.source.clone(),
        message,
    };
    if channels == 0 || height == 0 || width == 0 {
        return Err(fail(format!(
            "the requested input {channels}x{height}x{width} has a zero dimension; give the \
             model's channels, height and width"
        )));
    }
    if image.is_empty() {
        return Err(fail(format!(
            "the image is {}x{}x{}, it has no pixels",
            image.channels, image.height, image.width
        )));
    }
    if !pixel_scale.is_finite() {
        return Err(fail(format!(
            "the pixel scale {pixel_scale} is not a finite number"
        )));
    }
    for (what, v) in [("mean", mean), ("std", std)] {
        if !matches!(v.len(), 0 | 1) && v.len() != channels {
            return Err(fail(format!(
                "{what} has {} values for {channels} channels; give one value per channel, one \
                 value for all, or none",
                v.len()
            )));
        }
    }
    if let Some(bad) = std.iter().find(|s| **s == 0.0 || !s.is_finite()) {
        return Err(fail(format!(
            "std holds {bad}; standard deviations must be finite and non-zero"
        )));
    }

    let (c_in, h_in, w_in) = (image.channels, image.height, image.width);
    let plane_in = h_in * w_in;
    let source: Vec<f64> = match &image.values {
        Some(values) => values.clone(),
        None => image
            .pixels
            .iter()
            .map(|&p| f64::from(p) * pixel_scale)
            .collect(),
    };
    if source.len() != c_in * plane_in {
        return Err(fail(format!(
            "the image says {c_in}x{h_in}x{w_in} but holds {} values; it was built wrongly",
            source.len()
        )));
    }

    // Channels.
    let converted: Vec<f64> = if c_in == channels {
        source
    } else if c_in == 1 {
        source.repeat(channels)
    } else if c_in == 3 && channels == 1 {
        (0..plane_in)
            .map(|i| {
                LUMA[0] * source[i]
                    + LUMA[1] * source[plane_in + i]
                    + LUMA[2] * source[2 * plane_in + i]
            })
            .collect()
    } else {
        return Err(fail(format!(
            "the image has {c_in} channels and the model expects {channels}; only grey to RGB \
             (replication) and RGB to grey (luma) conversions are done: give images with \
             {channels} channels"
        )));
    };

    // Size.
    let resized = if (h_in, w_in) == (height, width) {
        converted
    } else {
        let mut out = Vec::with_capacity(channels * height * width);
        for plane in converted.chunks_exact(plane_in) {
            resize_plane(plane, h_in, w_in, height, width, &mut out);
        }
        out
    };

    // Normalisation (not for float images).
    if image.values.is_some() || (mean.is_empty() && std.is_empty()) {
        return Ok(resized);
    }
    let plane_out = height * width;
    Ok(resized
        .chunks_exact(plane_out)
        .enumerate()
        .flat_map(|(c, plane)| {
            let m = mean.get(c).or(mean.first()).copied().unwrap_or(0.0);
            let s = std.get(c).or(std.first()).copied().unwrap_or(1.0);
            plane.iter().map(move |&v| (v - m) / s)
        })
        .collect())
}

/// Source index pairs and weights of bilinear resampling along one axis (half-pixel centres).
fn axis(n_in: usize, n_out: usize) -> Vec<(usize, usize, f64)> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let x = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (x.floor() as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, x - i0 as f64)
        })
        .collect()
}

fn resize_plane(plane: &[f64], h_in: usize, w_in: usize, h: usize, w: usize, out: &mut Vec<f64>) {
    let ys = axis(h_in, h);
    let xs = axis(w_in, w);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let at = |y: usize, x: usize| plane[y * w_in + x];
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
}
