//! The service's error answers: an HTTP status and a JSON body
//! `{"code": "...", "message": "..."}` whose `code` is stable (clients branch on it) and whose
//! `message` says what went wrong and what to do.

use super::key_store::KeyStoreError;
use crate::error::Error;
use crate::runtime::RuntimeError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable code (see docs/service.md for the list).
    pub code: &'static str,
    /// What went wrong and how to fix it.
    pub message: String,
    /// Seconds after which to try again (503 only).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503: every inference slot and queue place is taken.
    pub fn overloaded(retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is running and queueing as many requests as it may; retry after \
                 the delay in Retry-After",
            )
        }
    }

    /// 500: a failure that is not the client's.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::SecretKeyRefused(_) => Self::bad_request("secret_key_refused", message),
            Error::WrongFile(_) => Self::bad_request("wrong_kind", message),
            Error::Runtime(r) => match r {
                RuntimeError::ParamsMismatch { .. } => {
                    Self::bad_request("wrong_parameters", message)
                }
                RuntimeError::WrongCircuit { .. } => Self::bad_request("wrong_circuit", message),
                RuntimeError::MissingKeys { .. } => Self::bad_request("keys_incomplete", message),
                RuntimeError::Format(_) => Self::bad_request("malformed_body", message),
                _ => Self::internal(message),
            },
            _ => Self::internal(message),
        }
    }
}

impl From<KeyStoreError> for ApiError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "keys_exceed_store",
                e.to_string(),
            ),
            KeyStoreError::Io { .. } => Self::internal(e.to_string()),
        }
    }
}
