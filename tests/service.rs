//! `blindfold serve` as a client sees it: a service started on 127.0.0.1 with an ephemeral
//! port, reached over HTTP(S). Classes equal the plaintext network's; eight concurrent clients
//! with their own keys each get their own answer; every malformed request gets its status and
//! stable code; a restarted server keeps the uploaded keys; the `client` command works end to
//! end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use blindfold::compiler::import::{load_onnx, ImportOptions};
use blindfold::compiler::ir::Tensor;
use blindfold::compiler::{reference, CompileOptions};
use blindfold::dataset::{self, Image};
use blindfold::runtime::circuit::Circuit;
use blindfold::service::{self, HttpClient, RunningService, ServiceConfig, ServiceError, TlsFiles};
use blindfold::{compile_file, Client, PreparedCircuit};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// mnist_seed compiled once for the whole file.
fn circuit() -> &'static Circuit {
    static CIRCUIT: OnceLock<Circuit> = OnceLock::new();
    CIRCUIT.get_or_init(|| {
        let (_, compiled) = compile_file(
            &repo("models/mnist_seed.onnx"),
            None,
            Some(50),
            CompileOptions::default(),
        )
        .unwrap();
        compiled.circuit
    })
}

/// mnist_seed at another scale: another parameter set and circuit.
fn other_circuit() -> &'static Circuit {
    static CIRCUIT: OnceLock<Circuit> = OnceLock::new();
    CIRCUIT.get_or_init(|| {
        let options = CompileOptions {
            scale_bits: Some(30),
            ..CompileOptions::default()
        };
        let (_, compiled) =
            compile_file(&repo("models/mnist_seed.onnx"), None, Some(20), options).unwrap();
        compiled.circuit
    })
}

/// mnist_seed with one baby-step count for the whole circuit: the same parameters, another
/// circuit.
fn small_keys_circuit() -> &'static Circuit {
    static CIRCUIT: OnceLock<Circuit> = OnceLock::new();
    CIRCUIT.get_or_init(|| {
        let options = CompileOptions {
            small_keys: true,
            ..CompileOptions::default()
        };
        let (_, compiled) =
            compile_file(&repo("models/mnist_seed.onnx"), None, Some(50), options).unwrap();
        compiled.circuit
    })
}

fn images(n: usize) -> Vec<Image> {
    dataset::load(&repo("models/samples/mnist"), Some(n)).unwrap()
}

/// The plaintext network's scores on the model input `x`.
fn plaintext(x: &[f64]) -> Vec<f64> {
    static MODEL: OnceLock<blindfold::compiler::import::Model> = OnceLock::new();
    let model = MODEL.get_or_init(|| {
        load_onnx(&repo("models/mnist_seed.onnx"), &ImportOptions::default()).unwrap()
    });
    reference::run(
        &model.graph,
        &Tensor::new(model.input_shape.clone(), x.to_vec()).unwrap(),
    )
    .unwrap()
    .data()
    .to_vec()
}

fn argmax(v: &[f64]) -> usize {
    Tensor::new(vec![v.len()], v.to_vec())
        .unwrap()
        .argmax()
        .unwrap()
}

/// Checks the class and that the scores are within 1% of the logit range of the plaintext.
fn assert_matches_plaintext(scores: &[f64], x: &[f64], what: &str) {
    let expected = plaintext(x);
    assert_eq!(argmax(scores), argmax(&expected), "{what}: class");
    let range = expected.iter().copied().fold(f64::MIN, f64::max)
        - expected.iter().copied().fold(f64::MAX, f64::min);
    let err = scores
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 0.01 * range, "{what}: error {err} of range {range}");
}

fn start(config: ServiceConfig) -> RunningService {
    service::start(
        PreparedCircuit::new(circuit().clone()).unwrap(),
        ServiceConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..config
        },
    )
    .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blindfold-service-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A plain HTTP exchange for the error cases: status, headers and body as text.
struct Answer {
    status: u16,
    code: String,
    retry_after: Option<String>,
    body: String,
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = match (method, body) {
        ("GET", None) => {
            let mut req = agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call().unwrap()
        }
        ("POST", Some(body)) => {
            let mut req = agent.post(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(body).unwrap()
        }
        _ => panic!("unsupported request"),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.body_mut().read_to_string().unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|j| j.get("code").and_then(|c| c.as_str()).map(str::to_owned))
        .unwrap_or_default();
    Answer {
        status,
        code,
        retry_after,
        body,
    }
}

/// Sends a hand-made request head and body, closes the sending side, and returns what the
/// server answered.
fn raw_exchange(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

/// The value of a gauge or counter line in the Prometheus text.
fn metric(url: &str, name: &str) -> f64 {
    let text = request("GET", &format!("{url}/metrics"), &[], None).body;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn eight_concurrent_clients_each_get_the_plaintext_class_under_their_own_keys() {
    let running = start(ServiceConfig {
        max_concurrent: 2,
        max_queue: 16,
        ..ServiceConfig::default()
    });
    let url = running.url();
    let images = images(8);
    std::thread::scope(|scope| {
        let handles: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let url = url.clone();
                scope.spawn(move || {
                    let http = HttpClient::new(&url, None, None).unwrap();
                    let client = Client::new(http.circuit().unwrap()).unwrap();
                    let keys = client.eval_keys().unwrap().to_bytes(client.params());
                    let id = http.upload_keys(&keys).unwrap();
                    let x = client.preprocess(image).unwrap();
                    let input = client.encrypt(&x).unwrap().to_bytes(client.params());
                    let reply = http.infer(&id, &input).unwrap();
                    let scores = client.decrypt_bytes(&reply.output).unwrap();
                    assert_matches_plaintext(&scores, &x, &format!("client {i}"));
                    (id, reply.output)
                })
            })
            .collect();
        let answers: Vec<(String, Vec<u8>)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        // Eight key sets, eight distinct ids, eight distinct answers: none lost or shared.
        let mut ids: Vec<&String> = answers.iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
        assert_eq!(metric(&url, "blindfold_stored_keys"), 8.0);
        assert_eq!(
            metric(
                &url,
                "blindfold_http_requests_total{route=\"/v1/infer\",status=\"200\"}"
            ),
            8.0
        );
        assert_eq!(metric(&url, "blindfold_inference_seconds_count"), 8.0);
    });
}

#[test]
fn every_malformed_request_gets_its_status_and_code() {
    let token = "a-long-random-token";
    let running = start(ServiceConfig {
        token: Some(token.into()),
        max_body_bytes: 64 << 20,
        ..ServiceConfig::default()
    });
    let url = running.url();
    let auth = format!("Bearer {token}");
    let auth = [("authorization", auth.as_str())];
    let expect = |answer: Answer, status: u16, code: &str| {
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (status, code),
            "{}",
            answer.body
        );
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert!(json["message"].as_str().is_some_and(|m| m.len() > 20));
    };

    // The token: missing or wrong → 401; health and metrics stay open.
    expect(
        request("GET", &format!("{url}/v1/circuit"), &[], None),
        401,
        "unauthorized",
    );
    expect(
        request(
            "GET",
            &format!("{url}/v1/circuit"),
            &[("authorization", "Bearer wrong")],
            None,
        ),
        401,
        "unauthorized",
    );
    assert_eq!(
        request("GET", &format!("{url}/healthz"), &[], None).status,
        200
    );

    let http = HttpClient::new(&url, Some(token.into()), None).unwrap();
    let client = Client::new(http.circuit().unwrap()).unwrap();
    let infer = format!("{url}/v1/infer");
    let keys_url = format!("{url}/v1/keys");

    // A secret key is refused and not stored.
    expect(
        request("POST", &keys_url, &auth, Some(&client.secret_key_bytes())),
        400,
        "secret_key_refused",
    );
    assert_eq!(metric(&url, "blindfold_stored_keys"), 0.0);
    // Keys of another parameter set.
    let other = Client::new(other_circuit().clone()).unwrap();
    let other_keys = other.eval_keys().unwrap().to_bytes(other.params());
    expect(
        request("POST", &keys_url, &auth, Some(&other_keys)),
        400,
        "wrong_parameters",
    );
    // Not a blindfold file, and a truncated one.
    expect(
        request("POST", &keys_url, &auth, Some(b"hello, world")),
        400,
        "malformed_body",
    );
    let keys = client.eval_keys().unwrap().to_bytes(client.params());
    expect(
        request("POST", &keys_url, &auth, Some(&keys[..keys.len() / 2])),
        400,
        "malformed_body",
    );
    assert_eq!(metric(&url, "blindfold_stored_keys"), 0.0);
    let id = http.upload_keys(&keys).unwrap();

    // Key ids: missing, malformed, unknown.
    let x = client.preprocess(&images(1)[0]).unwrap();
    let input = client.encrypt(&x).unwrap().to_bytes(client.params());
    expect(
        request("POST", &infer, &auth, Some(&input)),
        400,
        "missing_key_id",
    );
    fn with_id<'a>(auth: &[(&'a str, &'a str); 1], id: &'a str) -> [(&'a str, &'a str); 2] {
        [auth[0], ("x-key-id", id)]
    }
    expect(
        request("POST", &infer, &with_id(&auth, "../../keys"), Some(&input)),
        400,
        "bad_key_id",
    );
    expect(
        request(
            "POST",
            &infer,
            &with_id(&auth, &"0".repeat(32)),
            Some(&input),
        ),
        404,
        "unknown_key_id",
    );
    // Inputs: of another parameter set, of another circuit on the same parameters, an output
    // sent back as input, another kind of file, a secret key, truncated.
    let foreign = other.encrypt(&x).unwrap().to_bytes(other.params());
    expect(
        request("POST", &infer, &with_id(&auth, &id), Some(&foreign)),
        400,
        "wrong_parameters",
    );
    let sibling = Client::new(small_keys_circuit().clone()).unwrap();
    assert_eq!(
        sibling.params().fingerprint(),
        client.params().fingerprint()
    );
    let sibling_input = sibling.encrypt(&x).unwrap().to_bytes(sibling.params());
    expect(
        request("POST", &infer, &with_id(&auth, &id), Some(&sibling_input)),
        400,
        "wrong_circuit",
    );
    let output = http.infer(&id, &input).unwrap().output;
    expect(
        request("POST", &infer, &with_id(&auth, &id), Some(&output)),
        400,
        "wrong_circuit",
    );
    expect(
        request("POST", &infer, &with_id(&auth, &id), Some(&keys)),
        400,
        "wrong_kind",
    );
    expect(
        request(
            "POST",
            &infer,
            &with_id(&auth, &id),
            Some(&client.secret_key_bytes()),
        ),
        400,
        "secret_key_refused",
    );
    expect(
        request(
            "POST",
            &infer,
            &with_id(&auth, &id),
            Some(&input[..input.len() - 100]),
        ),
        400,
        "malformed_body",
    );
    // Routes and methods.
    expect(
        request("GET", &format!("{url}/v2/infer"), &auth, None),
        404,
        "not_found",
    );
    expect(
        request("GET", &infer, &auth, None),
        405,
        "method_not_allowed",
    );

    // A body over --max-body-bytes: 413, by its announced length, before it is read.
    let raw = raw_exchange(
        running.addr(),
        &format!(
            "POST /v1/keys HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-length: {}\r\n\r\n",
            (64 << 20) + 1
        ),
        &[],
    );
    assert!(
        raw.starts_with("HTTP/1.1 413") && raw.contains("\"body_too_large\""),
        "{raw}"
    );
    // The client knows the limit from GET /v1/circuit and does not send such a body.
    let small = start(ServiceConfig {
        max_body_bytes: 1 << 20,
        ..ServiceConfig::default()
    });
    let small_http = HttpClient::new(&small.url(), None, None).unwrap();
    small_http.circuit().unwrap();
    let err = small_http.upload_keys(&keys).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "the evaluation keys ({} bytes) are larger than the server accepts (1048576 bytes)",
            keys.len()
        )),
        "{err}"
    );
    assert_eq!(small_http.bytes().0, 0, "nothing was sent");
    // A body that ends before its announced length.
    let raw = raw_exchange(
        running.addr(),
        &format!(
            "POST /v1/infer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             x-key-id: {id}\r\ncontent-length: 100000\r\n\r\n"
        ),
        &input[..1000],
    );
    assert!(
        raw.starts_with("HTTP/1.1 400") && raw.contains("\"truncated_body\""),
        "{raw}"
    );

    // The valid request still works after all that.
    let reply = http.infer(&id, &input).unwrap();
    assert_matches_plaintext(&client.decrypt_bytes(&reply.output).unwrap(), &x, "valid");
    assert_eq!(metric(&url, "blindfold_stored_keys"), 1.0);
}

#[test]
fn an_overloaded_server_answers_503_with_retry_after() {
    let running = start(ServiceConfig {
        max_concurrent: 1,
        max_queue: 0,
        ..ServiceConfig::default()
    });
    let url = running.url();
    // A slow upload holds the only place: its body never completes.
    let mut slow = TcpStream::connect(running.addr()).unwrap();
    write!(
        slow,
        "POST /v1/infer HTTP/1.1\r\nhost: x\r\nx-key-id: {}\r\ncontent-length: 1000\r\n\r\n",
        "0".repeat(32)
    )
    .unwrap();
    slow.write_all(&[0u8; 10]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&url, "blindfold_inferences_in_flight") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the slow request was never admitted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let answer = request(
        "POST",
        &format!("{url}/v1/infer"),
        &[("x-key-id", &"0".repeat(32))],
        Some(b"anything"),
    );
    assert_eq!((answer.status, answer.code.as_str()), (503, "overloaded"));
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    drop(slow);
}

#[test]
fn a_restarted_server_keeps_the_uploaded_keys() {
    let store = temp_dir("restart");
    let config = ServiceConfig {
        key_store: Some(store.clone()),
        ..ServiceConfig::default()
    };
    let image = &images(2)[1];
    let running = start(config.clone());
    let http = HttpClient::new(&running.url(), None, None).unwrap();
    let client = Client::new(http.circuit().unwrap()).unwrap();
    let id = http
        .upload_keys(&client.eval_keys().unwrap().to_bytes(client.params()))
        .unwrap();
    running.shutdown().unwrap();

    let running = start(config);
    let url = running.url();
    assert_eq!(metric(&url, "blindfold_stored_keys"), 1.0);
    assert_eq!(metric(&url, "blindfold_loaded_keys"), 0.0);
    let http = HttpClient::new(&url, None, None).unwrap();
    let x = client.preprocess(image).unwrap();
    let reply = http
        .infer(&id, &client.encrypt(&x).unwrap().to_bytes(client.params()))
        .unwrap();
    assert_matches_plaintext(&client.decrypt_bytes(&reply.output).unwrap(), &x, "restart");
    drop(running);
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn tls_serves_clients_that_trust_the_certificate_only() {
    let tls = TlsFiles {
        cert: repo("tests/fixtures/tls/cert.pem"),
        key: repo("tests/fixtures/tls/key.pem"),
    };
    let running = start(ServiceConfig {
        tls: Some(tls.clone()),
        ..ServiceConfig::default()
    });
    let url = running.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let trusted = HttpClient::new(&url, None, Some(&tls.cert)).unwrap();
    assert_eq!(
        trusted.circuit().unwrap().fingerprint(),
        circuit().fingerprint()
    );
    // Without the certificate the system roots do not vouch for it.
    let untrusted = HttpClient::new(&url, None, None).unwrap();
    assert!(matches!(
        untrusted.circuit(),
        Err(ServiceError::Transport { .. })
    ));
}

fn blindfold(args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_blindfold"));
    cmd.args(args).env_remove("BLINDFOLD_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_client_command_classifies_an_image_and_reuses_its_keys() {
    let running = start(ServiceConfig {
        token: Some("tok".into()),
        ..ServiceConfig::default()
    });
    let url = running.url();
    let home = temp_dir("client-home");
    let image = repo("models/samples/mnist/0_7.png");
    let image_arg = image.to_str().unwrap();
    let args = ["client", "--server", &url, "--image", image_arg, "--json"];
    let run = |extra: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        let out = blindfold(&all, &[("BLINDFOLD_HOME", &home)]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    };

    // Without the token: the server's code and message, and a failure exit.
    let (ok, _, stderr) = run(&[]);
    assert!(!ok);
    assert!(stderr.contains("401 unauthorized"), "{stderr}");

    let x = blindfold::client::preprocess(circuit(), &dataset::load(&image, Some(1)).unwrap()[0])
        .unwrap();
    let expected = argmax(&plaintext(&x));
    for (round, (made, uploaded)) in [(true, true), (false, false)].into_iter().enumerate() {
        let (ok, stdout, stderr) = run(&["--token", "tok"]);
        assert!(ok, "round {round}: {stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["class"], expected, "{stdout}");
        assert_eq!(json["mode"], "remote");
        assert_eq!(json["keys_made"], made, "round {round}");
        assert_eq!(json["keys_uploaded"], uploaded, "round {round}");
        assert!(
            json["bytes"]["sent"].as_u64().unwrap() > json["bytes"]["input"].as_u64().unwrap() - 1
        );
        assert!(json["latency_ms"]["server"].as_f64().unwrap() > 0.0);
    }
    // The secret key stays with the client, readable by its owner only.
    let dir = home.join("keys").join(circuit().fingerprint_hex());
    let secret = dir.join("secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(dir.join("secret.key.evk").exists());
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn the_serve_command_listens_and_stops() {
    let dir = temp_dir("serve-cmd");
    let bfc = dir.join("seed.bfc");
    std::fs::write(&bfc, circuit().to_bytes()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blindfold"))
        .args(["serve", bfc.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .env_remove("BLINDFOLD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    let line = String::from_utf8(first).unwrap();
    let url = line.strip_prefix("listening on ").expect(&line).to_owned();
    let health = request("GET", &format!("{url}/healthz"), &[], None);
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("\"model\":\"mnist_seed\""),
        "{}",
        health.body
    );
    // SIGTERM stops it gracefully.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.trim_end().ends_with("stopped"), "{rest}");

    // A SIGTERM sent the moment the address is printed stops it gracefully too (the handlers
    // are installed before it listens; they once were not, and such a signal killed it).
    for _ in 0..5 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blindfold"))
            .args(["serve", bfc.to_str().unwrap(), "--addr", "127.0.0.1:0"])
            .env_remove("BLINDFOLD_TOKEN")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {}
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert!(child.wait().unwrap().success(), "{rest}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
