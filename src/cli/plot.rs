//! The SVG plot of a bit-scale sweep: encrypted and plaintext accuracy, and the server time,
//! against the scale.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// One scale of a sweep; `None` fields when the scale gave no parameter set (`error`).
pub struct SweepPoint {
    /// log2 of the scale.
    pub scale_bits: u32,
    /// log2 of the ring degree chosen.
    pub log_n: Option<u32>,
    /// log2 of the key-switching modulus.
    pub log_qp: Option<f64>,
    /// Size of the evaluation keys.
    pub eval_key_bytes: Option<usize>,
    /// Encrypted accuracy on the labelled images.
    pub encrypted_accuracy: Option<f64>,
    /// Accuracy of the original network on the same images.
    pub plaintext_accuracy: Option<f64>,
    /// Share of images whose encrypted class equals the plaintext one.
    pub agreement: Option<f64>,
    /// Largest |encrypted − plaintext| score.
    pub max_logit_error: Option<f64>,
    /// Median server time per image.
    pub run_ms: Option<f64>,
    /// Why the scale failed.
    pub error: Option<String>,
}

/// Draws accuracy (left) and server time (right) against the scale into an SVG file.
pub fn plot_sweep(path: &Path, model: &str, points: &[SweepPoint]) -> Result<()> {
    let svg = |e: &dyn std::fmt::Display| anyhow!("drawing the plot: {e}");
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| svg(&e))?;
    let (left, right) = root.split_horizontally(500);
    let ok: Vec<&SweepPoint> = points.iter().filter(|p| p.error.is_none()).collect();
    let lo = points.iter().map(|p| p.scale_bits).min().unwrap_or(20) as f64;
    let hi = points.iter().map(|p| p.scale_bits).max().unwrap_or(50) as f64;
    let x_range = (lo - 1.0)..(hi + 1.0);

    let mut chart = ChartBuilder::on(&left)
        .caption(format!("{model}: accuracy vs scale"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x_range.clone(), 0f64..100f64)
        .map_err(|e| svg(&e))?;
    chart
        .configure_mesh()
        .x_desc("scale (bits)")
        .y_desc("accuracy (%)")
        .draw()
        .map_err(|e| svg(&e))?;
    for (label, color, get) in [
        (
            "plaintext",
            BLACK,
            (|p: &SweepPoint| p.plaintext_accuracy) as fn(&SweepPoint) -> Option<f64>,
        ),
        ("encrypted", BLUE, |p: &SweepPoint| p.encrypted_accuracy),
    ] {
        let series: Vec<(f64, f64)> = ok
            .iter()
            .filter_map(|p| get(p).map(|a| (p.scale_bits as f64, 100.0 * a)))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| svg(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|(x, y)| Circle::new((x, y), 3, color.filled())),
            )
            .map_err(|e| svg(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| svg(&e))?;

    let top = ok.iter().filter_map(|p| p.run_ms).fold(1.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&right)
        .caption(format!("{model}: server time vs scale"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, 0f64..top)
        .map_err(|e| svg(&e))?;
    chart
        .configure_mesh()
        .x_desc("scale (bits)")
        .y_desc("server time per image (ms)")
        .draw()
        .map_err(|e| svg(&e))?;
    let series: Vec<(f64, f64)> = ok
        .iter()
        .filter_map(|p| p.run_ms.map(|t| (p.scale_bits as f64, t)))
        .collect();
    chart
        .draw_series(LineSeries::new(series.clone(), RED.stroke_width(2)))
        .map_err(|e| svg(&e))?;
    chart
        .draw_series(
            series
                .into_iter()
                .map(|(x, y)| Circle::new((x, y), 3, RED.filled())),
        )
        .map_err(|e| svg(&e))?;
    root.present().map_err(|e| svg(&e))?;
    Ok(())
}
