//! `blindfold client --server URL --image IMG`: classifies an image on a `blindfold serve`
//! service without revealing it. Fetches the circuit, makes keys once (or reuses them: they are
//! kept next to the secret key), uploads the evaluation keys once per server, encrypts, calls
//! the service, decrypts, and prints the class, the scores and the time of each phase.

use super::files::{first_image, read, write, write_secret};
use super::predict::{print_result, Mode};
use anyhow::{bail, Context, Result};
use blindfold::compiler::ir::Tensor;
use blindfold::service::{HttpClient, ServiceError};
use blindfold::Client;
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `blindfold client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the service (http://host:port or https://…).
    #[arg(long)]
    server: String,
    /// The image to classify (PNG/JPEG, .npy, or the first image of a data set).
    #[arg(long)]
    image: PathBuf,
    /// The secret key file (made on first use; the evaluation keys and the key ids the servers
    /// gave are kept beside it). Default: one per circuit under $BLINDFOLD_HOME, else
    /// $XDG_DATA_HOME/blindfold, else ~/.local/share/blindfold.
    #[arg(long)]
    secret_key: Option<PathBuf>,
    /// Refuse a server whose circuit is not this .bfc file.
    #[arg(long)]
    circuit: Option<PathBuf>,
    /// Bearer token of the service (or the BLINDFOLD_TOKEN variable).
    #[arg(long, env = "BLINDFOLD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// server with a private certificate.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Timings of one call, in milliseconds.
#[derive(Debug, Default)]
struct Phases {
    circuit: f64,
    keys: f64,
    upload: f64,
    encrypt: f64,
    infer: f64,
    server: Option<f64>,
    decrypt: f64,
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Runs `client`.
pub fn run(args: &ClientArgs) -> Result<()> {
    let total = Instant::now();
    let mut t = Phases::default();
    let http = HttpClient::new(&args.server, args.token.clone(), args.ca_cert.as_deref())?;

    let start = Instant::now();
    let circuit = http.circuit().context("fetching the circuit")?;
    t.circuit = ms(start);
    let fingerprint = circuit.fingerprint_hex();
    if let Some(path) = &args.circuit {
        let expected = super::keygen::read_circuit(path)?.fingerprint_hex();
        if expected != fingerprint {
            bail!(
                "the server at {} runs another circuit ({fingerprint}) than {} ({expected}); \
                 check the URL, or drop --circuit to use the server's",
                args.server,
                path.display()
            );
        }
    }

    let secret_path = match &args.secret_key {
        Some(p) => p.clone(),
        None => default_key_dir()?.join(&fingerprint).join("secret.key"),
    };
    let eval_path = sibling(&secret_path, "evk");
    let ids_path = sibling(&secret_path, "keyids.json");

    let start = Instant::now();
    let (client, eval_keys, keys_made) = keys(circuit, &secret_path, &eval_path)?;
    t.keys = ms(start);

    let mut ids = read_ids(&ids_path)?;
    let mut uploaded = false;
    let key_id = match ids.get(http.url()) {
        Some(id) => id.clone(),
        None => {
            let start = Instant::now();
            let id = http
                .upload_keys(&eval_keys)
                .context("uploading the evaluation keys")?;
            t.upload = ms(start);
            uploaded = true;
            ids.insert(http.url().to_owned(), id.clone());
            write_ids(&ids_path, &ids)?;
            id
        }
    };

    let image = first_image(&args.image)?;
    let start = Instant::now();
    let input = client.encrypt_image(&image)?.to_bytes(client.params());
    t.encrypt = ms(start);

    let start = Instant::now();
    let mut reupload_ms = 0.0;
    let (reply, key_id) = match http.infer(&key_id, &input) {
        Err(ServiceError::Api { code, .. }) if code == "unknown_key_id" && !uploaded => {
            // The server lost the keys (evicted, or restarted without a key store): upload
            // them again, once.
            let upload = Instant::now();
            let id = http
                .upload_keys(&eval_keys)
                .context("uploading the evaluation keys again")?;
            reupload_ms = ms(upload);
            t.upload = reupload_ms;
            uploaded = true;
            ids.insert(http.url().to_owned(), id.clone());
            write_ids(&ids_path, &ids)?;
            (http.infer(&id, &input)?, id)
        }
        other => (other.context("running the circuit on the server")?, key_id),
    };
    t.infer = ms(start) - reupload_ms;
    t.server = reply.server_ms;

    let start = Instant::now();
    let scores = client
        .decrypt_bytes(&reply.output)
        .context("decrypting the server's answer")?;
    t.decrypt = ms(start);
    let shape = client.circuit().output.shape.clone();
    let class = Tensor::new(shape.clone(), scores.clone())?.argmax();
    let (sent, received) = http.bytes();
    let warning = client.circuit().meta.out_of_range(&scores);

    if args.json {
        let obj = serde_json::json!({
            "output": scores,
            "shape": shape,
            "class": class,
            "warning": warning,
            "mode": "remote",
            "server": http.url(),
            "key_id": key_id,
            "keys_made": keys_made,
            "keys_uploaded": uploaded,
            "latency_ms": {
                "circuit": t.circuit,
                "keys": t.keys,
                "upload": t.upload,
                "encrypt": t.encrypt,
                "infer": t.infer,
                "server": t.server,
                "decrypt": t.decrypt,
                "total": ms(total),
            },
            "bytes": {
                "sent": sent,
                "received": received,
                "eval_keys": eval_keys.len(),
                "input": input.len(),
                "output": reply.output.len(),
            },
        });
        println!("{obj}");
        return Ok(());
    }
    if let Some(w) = &warning {
        eprintln!("warning: {w}");
    }
    print_result(Mode::Encrypted, &shape, &scores, class);
    println!("server   {} (key id {key_id})", http.url());
    println!(
        "keys     {} ({}){}",
        secret_path.display(),
        if keys_made { "made now" } else { "reused" },
        if uploaded {
            format!("; evaluation keys uploaded in {:.0} ms", t.upload)
        } else {
            "; evaluation keys already on the server".into()
        }
    );
    println!(
        "time     circuit {:.0} ms, keys {:.0} ms, encrypt {:.1} ms, infer {:.1} ms (server {}), \
         decrypt {:.1} ms; total {:.0} ms",
        t.circuit,
        t.keys,
        t.encrypt,
        t.infer,
        t.server.map_or("?".into(), |s| format!("{s:.1} ms")),
        t.decrypt,
        ms(total)
    );
    println!(
        "network  sent {} bytes, received {} bytes (input {}, output {})",
        sent,
        received,
        input.len(),
        reply.output.len()
    );
    Ok(())
}

/// Where keys live when no --secret-key is given.
fn default_key_dir() -> Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(home) = var("BLINDFOLD_HOME") {
        return Ok(home.join("keys"));
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Ok(data.join("blindfold").join("keys"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".local/share/blindfold/keys")),
        None => bail!("no HOME, XDG_DATA_HOME or BLINDFOLD_HOME: give --secret-key FILE"),
    }
}

/// `secret.key` → `secret.key.<ext>`.
fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// The client and the serialized evaluation keys: read from disk, or made now and saved (the
/// secret key readable by its owner only). The flag says whether they were made now.
fn keys(
    circuit: blindfold::runtime::circuit::Circuit,
    secret_path: &Path,
    eval_path: &Path,
) -> Result<(Client, Vec<u8>, bool)> {
    if secret_path.exists() {
        let client = Client::with_secret_key(circuit, &read(secret_path, "secret key")?)
            .with_context(|| {
                format!(
                    "the secret key {} does not fit the server's circuit; give another \
                     --secret-key",
                    secret_path.display()
                )
            })?;
        let eval = if eval_path.exists() {
            read(eval_path, "evaluation keys")?
        } else {
            let eval = client.eval_keys()?.to_bytes(client.params());
            write(eval_path, &eval, "evaluation keys")?;
            eval
        };
        return Ok((client, eval, false));
    }
    if let Some(dir) = secret_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the key folder {}", dir.display()))?;
    }
    let client = Client::new(circuit)?;
    let eval = client.eval_keys()?.to_bytes(client.params());
    write_secret(secret_path, &client.secret_key_bytes(), false)?;
    write(eval_path, &eval, "evaluation keys")?;
    Ok((client, eval, true))
}

fn read_ids(path: &Path) -> Result<BTreeMap<String, String>> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let bytes = read(path, "key ids")?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not JSON; delete it to upload the keys again",
            path.display()
        )
    })?;
    Ok(json
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

fn write_ids(path: &Path, ids: &BTreeMap<String, String>) -> Result<()> {
    let json = serde_json::to_vec_pretty(ids)?;
    write(path, &json, "key ids")
}
