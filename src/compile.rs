//! Compiling a model file with calibration data read from disk: the glue between
//! [`crate::dataset`] and [`crate::compiler::compile()`], shared by `blindfold compile`,
//! `blindfold predict` and the library API.

use crate::compiler::import::{load_onnx, ImportOptions, Model};
use crate::compiler::ir::Tensor;
use crate::compiler::{Calibration, CompileOptions, Compiled};
use crate::dataset;
use crate::error::Error;
use crate::runtime::circuit::Preprocess;
use std::path::{Path, PathBuf};

/// Calibration images used when none are given: the model's bundled sample images, found as
/// `samples/<dataset>/` next to the model file, where `<dataset>` is the file name's prefix
/// before the first `_` (`models/mnist_relu.onnx` → `models/samples/mnist/`).
pub fn default_calibration_dir(model: &Path) -> Option<PathBuf> {
    let stem = model.file_stem()?.to_str()?;
    let dataset = stem.split('_').next()?;
    let dir = model.parent()?.join("samples").join(dataset);
    dir.is_dir().then_some(dir)
}

/// The preprocessing of a model with input `[1, C, H, W]` fed with 8-bit images scaled to
/// `[0, 1]` (the convention of the bundled models).
pub fn default_preprocess(input_shape: &[usize]) -> Preprocess {
    let (c, h, w) = match input_shape {
        [_, c, h, w] => (*c, *h, *w),
        [c, h, w] => (*c, *h, *w),
        _ => (1, 1, input_shape.iter().product()),
    };
    Preprocess {
        channels: c,
        height: h,
        width: w,
        pixel_scale: 1.0 / 255.0,
        mean: vec![],
        std: vec![],
    }
}

/// Reads up to `limit` images of `path` as model inputs of `shape`.
pub fn load_calibration(
    path: &Path,
    limit: Option<usize>,
    shape: &[usize],
    preprocess: &Preprocess,
) -> Result<Calibration, Error> {
    let images = dataset::load(path, limit)?;
    let mut out = Calibration::default();
    for image in &images {
        let data = dataset::to_tensor(
            image,
            preprocess.channels,
            preprocess.height,
            preprocess.width,
            preprocess.pixel_scale,
            &preprocess.mean,
            &preprocess.std,
        )?;
        out.images.push(Tensor::new(shape.to_vec(), data)?);
        out.labels.push(image.label);
    }
    Ok(out)
}

/// Imports `model`, reads the calibration images (`calibrate`, or the bundled samples when
/// `None`; at most `limit`) and compiles. `options.preprocess` and `options.model_name` are
/// filled from the model when left at their defaults.
pub fn compile_file(
    model: &Path,
    calibrate: Option<&Path>,
    limit: Option<usize>,
    mut options: CompileOptions,
) -> Result<(Model, Compiled), Error> {
    let imported = load_onnx(model, &ImportOptions::default())?;
    if options.model_name.is_empty() {
        options.model_name = model
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string();
    }
    if options.preprocess.height == 1 && options.preprocess.width == 1 {
        let pixel_scale = options.preprocess.pixel_scale;
        options.preprocess = default_preprocess(&imported.input_shape);
        options.preprocess.pixel_scale = pixel_scale;
    }
    let dir = calibrate
        .map(Path::to_path_buf)
        .or_else(|| default_calibration_dir(model));
    let calibration = match dir {
        Some(d) => load_calibration(&d, limit, &imported.input_shape, &options.preprocess)?,
        None => Calibration::default(),
    };
    let compiled = crate::compiler::compile(&imported, &calibration, &options)?;
    Ok((imported, compiled))
}
