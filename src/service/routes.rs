//! The routes of the service, the state they share, and the middleware (bearer token, request
//! counts).

use super::api_error::ApiError;
use super::key_store::{KeyId, KeyStore};
use super::metrics::{Gauges, Metrics};
use super::{ServiceConfig, CIRCUIT_HEADER, KEY_ID_HEADER, MAX_BODY_HEADER, RUN_MS_HEADER};
use crate::runtime::ckks::serial::{peek_kind, to_hex, Kind};
use crate::server::{PreparedCircuit, Server};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What every request handler shares.
pub(crate) struct AppState {
    prepared: PreparedCircuit,
    circuit_bytes: Bytes,
    fingerprint: String,
    store: KeyStore,
    /// Servers bound to recently used keys, most recent last.
    loaded: Mutex<Vec<(KeyId, Arc<Server>)>>,
    loaded_cap: usize,
    /// Slots for CKKS work.
    running: Arc<Semaphore>,
    /// Places for admitted requests (running or waiting).
    admitted: Arc<Semaphore>,
    max_body_bytes: usize,
    token: Option<String>,
    metrics: Metrics,
}

impl AppState {
    pub(crate) fn new(prepared: PreparedCircuit, store: KeyStore, config: &ServiceConfig) -> Self {
        let circuit_bytes = Bytes::from(prepared.circuit().to_bytes());
        let fingerprint = to_hex(&prepared.fingerprint());
        Self {
            prepared,
            circuit_bytes,
            fingerprint,
            store,
            loaded: Mutex::default(),
            loaded_cap: config.loaded_keys,
            running: Arc::new(Semaphore::new(config.max_concurrent)),
            admitted: Arc::new(Semaphore::new(config.max_concurrent + config.max_queue)),
            max_body_bytes: config.max_body_bytes,
            token: config.token.clone(),
            metrics: Metrics::default(),
        }
    }

    /// Admits a request that will do CKKS work, or refuses it with 503 when every running and
    /// waiting place is taken. Taken before the body is read, so the bodies held in memory are
    /// bounded too.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded(1))
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Vec<(KeyId, Arc<Server>)>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `server` bound in memory as the most recently used.
    fn keep_loaded(&self, id: KeyId, server: Arc<Server>) {
        let mut loaded = self.loaded();
        loaded.retain(|(k, _)| *k != id);
        loaded.push((id, server));
        let excess = loaded.len().saturating_sub(self.loaded_cap);
        loaded.drain(..excess);
    }

    /// The server bound to the keys `id`: from memory, or loaded from the key store.
    fn server(&self, id: &KeyId) -> Result<Arc<Server>, ApiError> {
        {
            let mut loaded = self.loaded();
            if let Some(i) = loaded.iter().position(|(k, _)| k == id) {
                let entry = loaded.remove(i);
                let server = entry.1.clone();
                loaded.push(entry);
                return Ok(server);
            }
        }
        let bytes = self.store.get(id)?.ok_or_else(|| unknown_key(id))?;
        let server = match self.prepared.bind_bytes(&bytes) {
            Ok(server) => Arc::new(server),
            Err(e) => {
                // Only keys that bound once are stored: the file was damaged since.
                self.store.remove(id);
                return Err(ApiError::internal(format!(
                    "the stored keys {id} no longer read as keys of this circuit ({e}); they \
                     were removed: upload the evaluation keys again"
                )));
            }
        };
        self.keep_loaded(id.clone(), server.clone());
        Ok(server)
    }

    fn gauges(&self) -> Gauges {
        let (stored_keys, stored_key_bytes) = self.store.stats();
        Gauges {
            stored_keys,
            stored_key_bytes,
            loaded_keys: self.loaded().len(),
        }
    }
}

fn unknown_key(id: &KeyId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_key_id",
        format!(
            "no evaluation keys with id {id} on this server (never uploaded, or evicted); \
             upload them again with POST /v1/keys"
        ),
    )
}

/// The service's routes with their middleware.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let v1 = Router::new()
        .route("/v1/circuit", get(circuit))
        .route("/v1/keys", post(upload_keys))
        .route("/v1/infer", post(infer))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state
        .metrics
        .count_request(&route, response.status().as_u16());
    response
}

async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token; send `Authorization: Bearer TOKEN` with the \
                 server's --token (blindfold client --token)",
            ));
        }
    }
    Ok(next.run(req).await)
}

/// Compares without an early exit on the first differing byte (the length is not secret).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; the service answers GET /v1/circuit, POST /v1/keys, POST /v1/infer, \
         GET /healthz and GET /metrics",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "wrong method for this route: GET /v1/circuit, POST /v1/keys, POST /v1/infer",
    )
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "model": state.prepared.circuit().meta.model,
        "circuit": state.fingerprint,
    }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(state.gauges()),
    )
        .into_response()
}

async fn circuit(State(state): State<Arc<AppState>>) -> Response {
    let mut response = octets(state.circuit_bytes.clone());
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&state.fingerprint) {
        headers.insert(CIRCUIT_HEADER, v);
    }
    headers.insert(MAX_BODY_HEADER, HeaderValue::from(state.max_body_bytes));
    response
}

fn octets(body: impl Into<Body>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body.into(),
    )
        .into_response()
}

/// Reads the whole body, refusing more than `limit` bytes (413) and a body that ends before
/// its announced length (400).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = |n: String| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body ({n} bytes) is larger than this server accepts ({limit} \
                 bytes); start the server with a larger --max-body-bytes"
            ),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced {
        if n > limit as u64 {
            return Err(too_large(n.to_string()));
        }
    }
    let mut buf = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(
                "truncated_body",
                format!(
                    "the request body ended early or could not be read ({e}); send the whole file"
                ),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large(format!("more than {limit}")));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Refuses bodies that are not `expected` before any parsing: a secret key (never kept), another
/// kind of blindfold file, or something else.
fn check_kind(bytes: &[u8], expected: Kind, what: &str, made_by: &str) -> Result<(), ApiError> {
    match peek_kind(bytes) {
        Some(kind) if kind == expected => Ok(()),
        Some(Kind::SecretKey) => Err(ApiError::bad_request(
            "secret_key_refused",
            format!(
                "this is a secret key: the server must never receive it, and it was not kept; \
                 send {what} ({made_by})"
            ),
        )),
        Some(kind) => Err(ApiError::bad_request(
            "wrong_kind",
            format!(
                "this is a {} file, not {what}; send the file written by {made_by}",
                kind.name()
            ),
        )),
        None => Err(ApiError::bad_request(
            "malformed_body",
            format!("the body is not a blindfold file; send {what} ({made_by})"),
        )),
    }
}

/// Runs CKKS work on the blocking pool once a running slot is free.
async fn run_blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let slot = state
        .running
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("the service is shutting down"))?;
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work(&state)
    })
    .await
    .map_err(|e| ApiError::internal(format!("a CKKS job failed: {e}")))?
}

async fn upload_keys(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _admitted = state.admit()?;
    let bytes = read_body(&headers, body, state.max_body_bytes).await?;
    check_kind(
        &bytes,
        Kind::EvalKeys,
        "evaluation keys",
        "`blindfold keygen --eval-keys`",
    )?;
    let size = bytes.len();
    let (id, evicted) = run_blocking(&state, move |state| {
        let server = Arc::new(state.prepared.bind_bytes(&bytes)?);
        let (id, evicted) = state.store.put(&bytes)?;
        state.loaded().retain(|(k, _)| !evicted.contains(k));
        state.keep_loaded(id.clone(), server);
        Ok((id, evicted.len()))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "key_id": id.as_str(),
            "bytes": size,
            "evicted": evicted,
        })),
    )
        .into_response())
}

async fn infer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _admitted = state.admit()?;
    let _in_flight = state.metrics.in_flight();
    // The body is read before the other checks, so that a client still sending it gets the
    // answer rather than a broken connection.
    let bytes = read_body(&headers, body, state.max_body_bytes).await?;
    let id = match headers.get(KEY_ID_HEADER).map(HeaderValue::to_str) {
        None => {
            return Err(ApiError::bad_request(
                "missing_key_id",
                format!("no {KEY_ID_HEADER} header; send the key id POST /v1/keys returned"),
            ))
        }
        Some(v) => v.ok().and_then(KeyId::parse).ok_or_else(|| {
            ApiError::bad_request(
                "bad_key_id",
                format!("the {KEY_ID_HEADER} header is not a key id (32 hex digits)"),
            )
        })?,
    };
    check_kind(
        &bytes,
        Kind::EncryptedTensor,
        "an encrypted input",
        "`blindfold encrypt`",
    )?;
    let (output, elapsed) = run_blocking(&state, move |state| {
        let start = Instant::now();
        let server = state.server(&id)?;
        let output = server.run_bytes(&bytes)?;
        Ok((output, start.elapsed()))
    })
    .await?;
    state.metrics.observe_inference(elapsed);
    let mut response = octets(output);
    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", elapsed.as_secs_f64() * 1e3)) {
        response.headers_mut().insert(RUN_MS_HEADER, v);
    }
    Ok(response)
}
