//! `blindfold sweep model.onnx --scale-bits 20..50`: the bit-scale study. For each scale, the
//! model is compiled, keys are made and a test set is classified encrypted; the table (printed
//! and written as Markdown) and the plot (SVG) show accuracy, logit error, parameters and
//! server time against the scale.

use super::files::mb;
use super::measure::{argmax, median_p90, ms, Session};
use super::plot::{plot_sweep, SweepPoint};
use super::CacheArgs;
use anyhow::{bail, Context, Result};
use blindfold::compiler::CompileOptions;
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Options of `blindfold sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The ONNX model.
    model: PathBuf,
    /// The scales to try, `FROM..TO` (inclusive) in bits.
    #[arg(long, default_value = "20..50", value_parser = parse_range)]
    scale_bits: (u32, u32),
    /// Bits between two tried scales.
    #[arg(long, default_value_t = 2)]
    step: u32,
    /// The test set (default: the model's bundled samples).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Images per scale.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Output prefix: writes PREFIX.md (table) and PREFIX.svg (plot). Default:
    /// docs/sweep-<model>.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not a range FROM..TO, e.g. 20..50"))?;
    let parse = |v: &str| {
        v.trim()
            .trim_start_matches('=')
            .parse::<u32>()
            .map_err(|_| format!("'{v}' is not a number of bits"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a > b {
        return Err(format!(
            "the range {a}..{b} is empty; write the smaller scale first"
        ));
    }
    Ok((a, b))
}

/// Runs `sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    if args.step == 0 {
        bail!("--step must be at least 1");
    }
    let name = args
        .model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model")
        .to_string();
    let dataset = match &args.dataset {
        Some(d) => d.clone(),
        None => blindfold::compile::default_calibration_dir(&args.model).with_context(|| {
            format!(
                "{} has no bundled samples; pass --dataset",
                args.model.display()
            )
        })?,
    };
    let images = blindfold::dataset::load(&dataset, Some(args.limit))
        .with_context(|| format!("reading {}", dataset.display()))?;
    let prefix = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("docs/sweep-{name}")));
    let mut degree = None;
    let mut points = Vec::new();
    let (from, to) = args.scale_bits;
    for bits in (from..=to).step_by(args.step as usize) {
        let options = CompileOptions {
            scale_bits: Some(bits),
            relu_degree: degree,
            ..CompileOptions::default()
        };
        eprintln!("scale 2^{bits}: compiling");
        let compiled = match blindfold::compile_file(&args.model, None, Some(200), options) {
            Ok((_, c)) => c,
            Err(e) => {
                eprintln!("scale 2^{bits}: {e}");
                points.push(SweepPoint::failed(bits, e.to_string()));
                continue;
            }
        };
        if let Some(warning) = compiled.degree_warning() {
            eprintln!("scale 2^{bits}: {warning}");
        }
        degree = degree.or(compiled.degree);
        let circuit = compiled.circuit;
        let session = Session::new(circuit, Some(&args.model), CacheArgs::default())?;
        let mut right = 0;
        let mut plain_right = 0;
        let mut agree = 0;
        let mut max_err = 0.0f64;
        let mut runs = Vec::new();
        for image in &images {
            let r = session.classify(image)?;
            let plain = r.plain.as_deref().unwrap_or(&r.simulated);
            right += usize::from(r.label.is_some() && argmax(&r.encrypted) == r.label);
            plain_right += usize::from(r.label.is_some() && argmax(plain) == r.label);
            agree += usize::from(argmax(&r.encrypted) == argmax(plain));
            max_err = max_err.max(r.max_logit_error());
            runs.push(ms(r.run));
        }
        let n = images.len().max(1) as f64;
        let p = &session.server.circuit().params;
        let point = SweepPoint {
            scale_bits: bits,
            log_n: Some(p.log_n),
            log_qp: Some(session.server.params().log_qp()),
            eval_key_bytes: Some(session.eval_key_bytes),
            encrypted_accuracy: Some(right as f64 / n),
            plaintext_accuracy: Some(plain_right as f64 / n),
            agreement: Some(agree as f64 / n),
            max_logit_error: Some(max_err),
            run_ms: Some(median_p90(&runs).0),
            error: None,
        };
        eprintln!("scale 2^{bits}: {}", point.row());
        points.push(point);
    }
    let table = table(&name, &dataset, images.len(), &points);
    print!("{table}");
    let md = prefix.with_extension("md");
    let svg = prefix.with_extension("svg");
    std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    plot_sweep(&svg, &name, &points).with_context(|| format!("writing {}", svg.display()))?;
    println!("\nwrote {} and {}", md.display(), svg.display());
    Ok(())
}

fn table(name: &str, dataset: &std::path::Path, images: usize, points: &[SweepPoint]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Bit-scale sweep of `{name}` on {images} images of `{}` (`blindfold sweep`).\n",
        dataset.display()
    );
    let _ = writeln!(
        t,
        "| scale bits | N | log2 QP | eval keys | plaintext acc. | encrypted acc. | agreement | max logit error | server ms (median) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|");
    for p in points {
        let _ = writeln!(t, "| {} |", p.row());
    }
    t
}

impl SweepPoint {
    fn failed(scale_bits: u32, error: String) -> Self {
        Self {
            scale_bits,
            log_n: None,
            log_qp: None,
            eval_key_bytes: None,
            encrypted_accuracy: None,
            plaintext_accuracy: None,
            agreement: None,
            max_logit_error: None,
            run_ms: None,
            error: Some(error),
        }
    }

    fn row(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{} | no parameters: {e} | | | | | | | ", self.scale_bits);
        }
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v));
        format!(
            "{} | 2^{} | {:.0} | {} | {} | {} | {} | {:.2e} | {:.1}",
            self.scale_bits,
            self.log_n.unwrap_or(0),
            self.log_qp.unwrap_or(0.0),
            self.eval_key_bytes.map_or("-".into(), mb),
            pct(self.plaintext_accuracy),
            pct(self.encrypted_accuracy),
            pct(self.agreement),
            self.max_logit_error.unwrap_or(f64::NAN),
            self.run_ms.unwrap_or(f64::NAN)
        )
    }
}
