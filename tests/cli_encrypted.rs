//! The encrypted workflow of the CLI: `keygen` → `encrypt` → `run` → `decrypt` on a compiled
//! bundled model gives the plaintext class; `run` refuses a secret key and a ciphertext made
//! for another circuit; `eval` on the committed samples reports full agreement, encrypted and
//! simulated, and goes on from its `--records` after a stop; `predict --mode encrypted` and
//! `demo` work.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn blindfold(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_blindfold"))
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (ok, out, err) = blindfold(args);
    assert!(ok, "blindfold {args:?} failed:\n{err}");
    out
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blindfold-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn keygen_encrypt_run_decrypt_gives_the_plaintext_class() {
    let dir = temp_dir("roundtrip");
    let bfc = dir.join("seed.bfc");
    let other = dir.join("other.bfc");
    let (sk, evk) = (dir.join("sk.bin"), dir.join("evk.bin"));
    let (input, output) = (dir.join("in.ct"), dir.join("out.ct"));
    ok(&[
        "compile",
        "models/mnist_seed.onnx",
        "-o",
        s(&bfc),
        "--calibration-limit",
        "50",
    ]);
    ok(&[
        "keygen",
        s(&bfc),
        "--secret-key",
        s(&sk),
        "--eval-keys",
        s(&evk),
    ]);
    // The second run keeps no encoded plaintext: every operand is encoded at its use.
    for (image, cache_mib) in [
        ("models/samples/mnist/0_7.png", "320"),
        ("models/samples/mnist/1_2.png", "0"),
    ] {
        ok(&[
            "encrypt",
            s(&bfc),
            "--secret-key",
            s(&sk),
            "--input",
            image,
            "-o",
            s(&input),
        ]);
        ok(&[
            "run",
            s(&bfc),
            "--eval-keys",
            s(&evk),
            "--input",
            s(&input),
            "-o",
            s(&output),
            "--plaintext-cache-mib",
            cache_mib,
        ]);
        let decrypted = json(&ok(&[
            "decrypt",
            s(&bfc),
            "--secret-key",
            s(&sk),
            "--input",
            s(&output),
            "--json",
        ]));
        let plain = json(&ok(&[
            "predict",
            "models/mnist_seed.onnx",
            "--input",
            image,
            "--json",
        ]));
        assert_eq!(decrypted["class"], plain["class"], "{image}");
        assert_eq!(decrypted["mode"], "encrypted");
        let label: u64 = image[image.len() - 5..image.len() - 4].parse().unwrap();
        assert_eq!(decrypted["class"], label, "{image}");
    }

    // The server refuses a secret key in place of the evaluation keys.
    let (good, _, err) = blindfold(&[
        "run",
        s(&bfc),
        "--eval-keys",
        s(&sk),
        "--input",
        s(&input),
        "-o",
        s(&output),
    ]);
    assert!(!good);
    assert!(
        err.contains("this is a secret key: the server must never receive it"),
        "{err}"
    );
    // An output is not an input.
    let (good, _, err) = blindfold(&[
        "run",
        s(&bfc),
        "--eval-keys",
        s(&evk),
        "--input",
        s(&output),
        "-o",
        s(&input),
    ]);
    assert!(
        !good && err.contains("expected an encrypted input"),
        "{err}"
    );
    // keygen does not overwrite a secret key.
    let (good, _, err) = blindfold(&[
        "keygen",
        s(&bfc),
        "--secret-key",
        s(&sk),
        "--eval-keys",
        s(&evk),
    ]);
    assert!(
        !good && err.contains("refusing to overwrite a secret key"),
        "{err}"
    );

    // A ciphertext made for another circuit is refused by name.
    ok(&[
        "compile",
        "models/mnist_seed.onnx",
        "-o",
        s(&other),
        "--calibration-limit",
        "50",
        "--scale-bits",
        "30",
    ]);
    let (sk2, evk2) = (dir.join("sk2.bin"), dir.join("evk2.bin"));
    ok(&[
        "keygen",
        s(&other),
        "--secret-key",
        s(&sk2),
        "--eval-keys",
        s(&evk2),
    ]);
    ok(&[
        "encrypt",
        s(&other),
        "--secret-key",
        s(&sk2),
        "--input",
        "models/samples/mnist/0_7.png",
        "-o",
        s(&input),
    ]);
    let (good, _, err) = blindfold(&[
        "run",
        s(&bfc),
        "--eval-keys",
        s(&evk),
        "--input",
        s(&input),
        "-o",
        s(&output),
    ]);
    assert!(!good);
    assert!(
        err.contains("belongs to another parameter set") || err.contains("made for circuit"),
        "{err}"
    );
    // Keys of another circuit are refused too.
    let (good, _, err) = blindfold(&[
        "run",
        s(&bfc),
        "--eval-keys",
        s(&evk2),
        "--input",
        s(&input),
        "-o",
        s(&output),
    ]);
    assert!(!good && err.contains("another parameter set"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_on_the_committed_samples_agrees_with_the_simulation() {
    let dir = temp_dir("eval");
    let bfc = dir.join("seed.bfc");
    ok(&[
        "compile",
        "models/mnist_seed.onnx",
        "-o",
        s(&bfc),
        "--calibration-limit",
        "50",
    ]);
    let out = json(&ok(&[
        "eval",
        s(&bfc),
        "--dataset",
        "models/samples/mnist",
        "--limit",
        "12",
        "--onnx",
        "models/mnist_seed.onnx",
        "--json",
    ]));
    assert_eq!(out["images"], 12);
    assert_eq!(out["agreement"], 1.0);
    assert_eq!(out["agreement_plaintext"], 1.0);
    assert_eq!(out["encrypted_accuracy"], out["plaintext_accuracy"]);
    assert!(out["plaintext_accuracy"].as_f64().unwrap() >= 0.9);
    assert!(out["max_logit_error"].as_f64().unwrap() < 0.05, "{out}");
    // The project's precision target: on every image, the encryption's error is below 1% of
    // the image's logit range.
    assert_eq!(out["ckks_error"]["within_1pct_of_range"], 1.0, "{out}");
    assert_eq!(out["logit_error"]["within_1pct_of_range"], 1.0, "{out}");
    for phase in ["encrypt", "run", "decrypt"] {
        assert!(out["latency_ms"][phase]["median"].as_f64().unwrap() > 0.0);
        assert!(out["latency_ms"][phase]["p90"].as_f64().unwrap() > 0.0);
    }
    assert!(out["peak_memory_bytes"].as_u64().unwrap() > 0);

    // The simulation alone: no keys, the circuit's arithmetic against the original network
    // (mnist_seed squares exactly, so they agree to rounding).
    let sim = json(&ok(&[
        "eval",
        s(&bfc),
        "--dataset",
        "models/samples/mnist",
        "--onnx",
        "models/mnist_seed.onnx",
        "--mode",
        "simulate",
        "--json",
    ]));
    assert_eq!(sim["mode"], "simulate");
    assert!(sim["images"].as_u64().unwrap() > 12, "{sim}");
    assert_eq!(sim["agreement_plaintext"], 1.0);
    assert_eq!(sim["simulated_accuracy"], sim["plaintext_accuracy"]);
    assert!(sim["max_logit_error"].as_f64().unwrap() < 1e-9, "{sim}");
    assert!(sim.get("encrypted_accuracy").is_none(), "{sim}");
    assert!(sim.get("eval_key_bytes").is_none(), "{sim}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_with_records_goes_on_where_a_stopped_run_ended() {
    let dir = temp_dir("records");
    let (bfc, other) = (dir.join("seed.bfc"), dir.join("other.bfc"));
    for (path, limit) in [(&bfc, "50"), (&other, "20")] {
        ok(&[
            "compile",
            "models/mnist_seed.onnx",
            "-o",
            s(path),
            "--calibration-limit",
            limit,
        ]);
    }
    let records = dir.join("records.jsonl");
    let eval = |circuit: &Path, limit: &str| {
        blindfold(&[
            "eval",
            s(circuit),
            "--dataset",
            "models/samples/mnist",
            "--limit",
            limit,
            "--onnx",
            "models/mnist_seed.onnx",
            "--records",
            s(&records),
            "--json",
        ])
    };
    let (good, first, err) = eval(&bfc, "3");
    assert!(good, "{err}");
    assert_eq!(json(&first)["images"], 3);
    let text = std::fs::read_to_string(&records).unwrap();
    assert_eq!(text.lines().count(), 3);

    // The process stopped while writing the third record: that image is evaluated again.
    std::fs::write(&records, &text[..text.len() - 20]).unwrap();
    let (good, resumed, err) = eval(&bfc, "5");
    assert!(good, "{err}");
    let resumed = json(&resumed);
    assert_eq!(resumed["images"], 5);
    assert_eq!(resumed["agreement"], 1.0);
    let note = "2 of the 5 images were read from";
    assert!(resumed["notes"].to_string().contains(note), "{resumed}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 5);
    let kept: Vec<serde_json::Value> = text.lines().take(2).map(json).collect();
    assert_eq!(
        lines[..2],
        kept[..],
        "the first two records are kept as they were"
    );
    let sources: Vec<&str> = lines
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    let mut unique = sources.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 5, "each image is recorded once: {sources:?}");

    // Records of one circuit are not mixed with another's, nor with a shorter run.
    let (good, _, err) = eval(&other, "5");
    assert!(!good);
    assert!(
        err.contains("line 1: pass another --records file or delete this one"),
        "{err}"
    );
    assert!(
        err.contains("it was made by another circuit (fingerprint"),
        "{err}"
    );
    let (good, _, err) = eval(&bfc, "4");
    assert!(!good);
    assert!(
        err.contains("pass the same --limit as the run that wrote it"),
        "{err}"
    );

    // Nor interleaved with the records of a run still writing the file.
    let writer = std::fs::File::open(&records).unwrap();
    writer.lock().unwrap();
    let (good, _, err) = eval(&bfc, "5");
    assert!(!good);
    assert!(
        err.contains("is being written by another `blindfold eval`: wait for it to end"),
        "{err}"
    );
    drop(writer);
    let (good, again, err) = eval(&bfc, "5");
    assert!(good, "{err}");
    assert!(json(&again)["notes"]
        .to_string()
        .contains("5 of the 5 images"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn predict_encrypted_prints_the_class_and_timings() {
    let out = json(&ok(&[
        "predict",
        "models/mnist_seed.onnx",
        "--input",
        "models/samples/mnist/2_1.png",
        "--mode",
        "encrypted",
        "--json",
    ]));
    assert_eq!(out["class"], 1);
    assert_eq!(out["mode"], "encrypted");
    assert!(out["latency_ms"]["run"].as_f64().unwrap() > 0.0);
    assert!(out["bytes"]["eval_keys"].as_u64().unwrap() > 0);
}

#[test]
fn encrypt_and_run_refuse_an_onnx_model_in_place_of_a_circuit() {
    let dir = temp_dir("refuse");
    let (good, _, err) = blindfold(&[
        "keygen",
        "models/mnist_seed.onnx",
        "--secret-key",
        s(&dir.join("sk")),
        "--eval-keys",
        s(&dir.join("evk")),
    ]);
    assert!(!good);
    assert!(
        err.contains("is not a compiled circuit; compile the model first: blindfold compile"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
