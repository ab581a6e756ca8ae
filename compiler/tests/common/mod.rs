//! Helpers shared by the integration tests: paths, images, tolerances.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use blindfold_compiler::ir::Tensor;
use std::path::{Path, PathBuf};

/// The repository's `models/` folder.
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// `max_i |a_i - b_i| / max_i |b_i|`: the relative error on logits used throughout.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Loads a PNG as a `[1, C, H, W]` tensor with values in [0, 1] (pixels / 255).
pub fn load_png(path: &Path, channels: usize) -> Tensor {
    let img = image::open(path).unwrap();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data: Vec<f64> = if channels == 1 {
        img.to_luma8()
            .into_raw()
            .iter()
            .map(|&p| f64::from(p) / 255.0)
            .collect()
    } else {
        let rgb = img.to_rgb8().into_raw();
        let mut planar = vec![0.0; 3 * h * w];
        for (i, px) in rgb.chunks(3).enumerate() {
            for c in 0..3 {
                planar[c * h * w + i] = f64::from(px[c]) / 255.0;
            }
        }
        planar
    };
    Tensor::new(vec![1, channels, h, w], data).unwrap()
}

/// `(test index, label, path)` of the sample PNGs of a dataset, by ascending index.
pub fn samples(dir: &Path) -> Vec<(usize, usize, PathBuf)> {
    let mut v: Vec<(usize, usize, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_str()?.to_string();
            let (idx, label) = stem.split_once('_')?;
            Some((idx.parse().ok()?, label.parse().ok()?, p))
        })
        .collect();
    v.sort();
    v
}

/// Softmax over a flat vector.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}
