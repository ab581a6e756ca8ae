//! The client end of the service: fetch the circuit, upload evaluation keys, send encrypted
//! inputs. It moves bytes only; keys, encryption and decryption stay with [`crate::Client`].

use super::{ServiceError, CIRCUIT_HEADER, KEY_ID_HEADER, MAX_BODY_HEADER, RUN_MS_HEADER};
use crate::runtime::circuit::Circuit;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// How many times an overloaded server (503) is asked again before giving up.
const OVERLOAD_RETRIES: u32 = 30;
/// The longest wait between two tries, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// One blocking HTTP(S) connection pool to one blindfold service. Counts the bytes it sends and
/// receives (bodies only).
#[derive(Debug)]
pub struct HttpClient {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
    sent: AtomicU64,
    received: AtomicU64,
    /// The server's body limit, once [`HttpClient::circuit`] has read it (0: unknown).
    max_body: AtomicU64,
}

/// The answer of `POST /v1/infer`.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The encrypted output, serialized.
    pub output: Vec<u8>,
    /// The server's own time for it (ms), from its `x-blindfold-run-ms` header.
    pub server_ms: Option<f64>,
    /// 503 answers waited out before this one.
    pub retries: u32,
}

impl HttpClient {
    /// A client of the service at `url` (`http://host:port` or `https://…`), sending `token` as
    /// a bearer token when given. `ca_cert` (PEM) is trusted in addition to the system roots,
    /// for a server with a private or self-signed certificate.
    pub fn new(
        url: &str,
        token: Option<String>,
        ca_cert: Option<&Path>,
    ) -> Result<Self, ServiceError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ServiceError::Config(format!(
                "'{url}' is not an http:// or https:// URL"
            )));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .max_response_header_size(64 * 1024);
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                ServiceError::Config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect::<Vec<_>>();
            if certs.is_empty() {
                return Err(ServiceError::Config(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        }
        Ok(Self {
            base,
            agent: config.build().into(),
            token,
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            max_body: AtomicU64::new(0),
        })
    }

    /// The service's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Bytes of request and response bodies so far: (sent, received).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }

    fn transport(&self, e: impl std::fmt::Display) -> ServiceError {
        ServiceError::Transport {
            url: self.base.clone(),
            detail: e.to_string(),
        }
    }

    /// Sends a POST with `body`, or a GET without; a 2xx answer is returned with its body, any
    /// other is turned into [`ServiceError::Api`] with the server's code and message.
    fn call(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<(Response<Body>, Vec<u8>), ServiceError> {
        let url = format!("{}{path}", self.base);
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let response = match body {
            Some(body) => {
                let mut req = self.agent.post(&url);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                if let Some(b) = &bearer {
                    req = req.header("authorization", b);
                }
                self.sent.fetch_add(body.len() as u64, Ordering::Relaxed);
                req.content_type("application/octet-stream").send(body)
            }
            None => {
                let mut req = self.agent.get(&url);
                if let Some(b) = &bearer {
                    req = req.header("authorization", b);
                }
                req.call()
            }
        }
        .map_err(|e| self.transport(e))?;
        let mut response = response;
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| self.transport(e))?;
        self.received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
            let field = |k: &str| {
                json.as_ref()
                    .and_then(|j| j.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            return Err(ServiceError::Api {
                status,
                retry_after,
                code: field("code").unwrap_or_else(|| "unknown".into()),
                message: field("message")
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
            });
        }
        Ok((response, bytes))
    }

    /// Sends a POST, waiting out 503 answers as `Retry-After` says.
    fn post_retrying(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(Response<Body>, Vec<u8>, u32), ServiceError> {
        let mut retries = 0;
        loop {
            match self.call(path, headers, Some(body)) {
                Err(ServiceError::Api {
                    status: 503,
                    retry_after,
                    ..
                }) if retries < OVERLOAD_RETRIES => {
                    retries += 1;
                    let wait = Duration::from_secs(retry_after.unwrap_or(1).max(1));
                    std::thread::sleep(wait.min(MAX_RETRY_WAIT));
                }
                Err(e) => return Err(e),
                Ok((response, bytes)) => return Ok((response, bytes, retries)),
            }
        }
    }

    /// The circuit the server runs (checked: it validates and its fingerprint is the one the
    /// server announces).
    pub fn circuit(&self) -> Result<Circuit, ServiceError> {
        let (response, bytes) = self.call("/v1/circuit", &[], None)?;
        let circuit = Circuit::from_bytes(&bytes).map_err(crate::Error::from)?;
        let announced = response
            .headers()
            .get(CIRCUIT_HEADER)
            .and_then(|v| v.to_str().ok());
        if let Some(limit) = response
            .headers()
            .get(MAX_BODY_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            self.max_body.store(limit, Ordering::Relaxed);
        }
        if announced.is_some_and(|a| a != circuit.fingerprint_hex()) {
            return Err(ServiceError::Protocol(
                "the circuit's fingerprint differs from the one the server announces".into(),
            ));
        }
        Ok(circuit)
    }

    /// Refuses to send a body the server announced it would refuse (it would close the
    /// connection before reading it).
    fn check_size(&self, what: &'static str, body: &[u8]) -> Result<(), ServiceError> {
        let limit = self.max_body.load(Ordering::Relaxed);
        let bytes = body.len() as u64;
        if limit > 0 && bytes > limit {
            return Err(ServiceError::TooLarge { what, bytes, limit });
        }
        Ok(())
    }

    /// Uploads serialized evaluation keys; returns the key id to infer with.
    pub fn upload_keys(&self, eval_keys: &[u8]) -> Result<String, ServiceError> {
        self.check_size("evaluation keys", eval_keys)?;
        let (_, bytes, _) = self.post_retrying("/v1/keys", &[], eval_keys)?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ServiceError::Protocol(format!("POST /v1/keys: {e}")))?;
        json.get("key_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| ServiceError::Protocol("POST /v1/keys returned no key_id".into()))
    }

    /// Runs the circuit on a serialized encrypted input with the keys `key_id`.
    pub fn infer(&self, key_id: &str, input: &[u8]) -> Result<Inference, ServiceError> {
        self.check_size("encrypted input", input)?;
        let (response, output, retries) =
            self.post_retrying("/v1/infer", &[(KEY_ID_HEADER, key_id)], input)?;
        let server_ms = response
            .headers()
            .get(RUN_MS_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(Inference {
            output,
            server_ms,
            retries,
        })
    }
}
