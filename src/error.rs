//! One API error type: HTTP status, stable code, source; rendered as a JSON:API error document.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

/// The JSON:API media type, of error documents as of every other.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";

/// Stable error codes of the contract (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthorized,
    InvalidToken,
    RecordNotFound,
    ParamNotAllowed,
    InvalidFilterValue,
    FilterNotAllowed,
    InvalidSortCriteria,
    InvalidInclude,
    InvalidField,
    InvalidPageValue,
    KeyNotIncludedInUrl,
    InvalidDataFormat,
    MethodNotAllowed,
    NotAcceptable,
    TypeMismatch,
    IdempotencyKeyReused,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
    InsufficientFunds,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
    RequestTimeout,
    InvalidSignature,
}

impl Code {
    /// The code as clients see it, its HTTP status and its fixed title.
    pub fn parts(self) -> (&'static str, StatusCode, &'static str) {
        use Code::*;
        match self {
            Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED, "Unauthorized"),
            InvalidToken => ("INVALID_TOKEN", StatusCode::UNAUTHORIZED, "Invalid token"),
            RecordNotFound => (
                "RECORD_NOT_FOUND",
                StatusCode::NOT_FOUND,
                "Record not found",
            ),
            ParamNotAllowed => (
                "PARAM_NOT_ALLOWED",
                StatusCode::BAD_REQUEST,
                "Param not allowed",
            ),
            InvalidFilterValue => (
                "INVALID_FILTER_VALUE",
                StatusCode::BAD_REQUEST,
                "Invalid filter value",
            ),
            FilterNotAllowed => (
                "FILTER_NOT_ALLOWED",
                StatusCode::BAD_REQUEST,
                "Filter not allowed",
            ),
            InvalidSortCriteria => (
                "INVALID_SORT_CRITERIA",
                StatusCode::BAD_REQUEST,
                "Invalid sort criteria",
            ),
            InvalidInclude => (
                "INVALID_INCLUDE",
                StatusCode::BAD_REQUEST,
                "Invalid include",
            ),
            InvalidField => ("INVALID_FIELD", StatusCode::BAD_REQUEST, "Invalid field"),
            InvalidPageValue => (
                "INVALID_PAGE_VALUE",
                StatusCode::BAD_REQUEST,
                "Invalid page value",
            ),
            KeyNotIncludedInUrl => (
                "KEY_NOT_INCLUDED_IN_URL",
                StatusCode::BAD_REQUEST,
                "Key not included in URL",
            ),
            InvalidSignature => (
                "INVALID_SIGNATURE",
                StatusCode::BAD_REQUEST,
                "Invalid signature",
            ),
            InvalidDataFormat => (
                "INVALID_DATA_FORMAT",
                StatusCode::BAD_REQUEST,
                "Invalid data format",
            ),
            MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            NotAcceptable => (
                "NOT_ACCEPTABLE",
                StatusCode::NOT_ACCEPTABLE,
                "Not acceptable",
            ),
            TypeMismatch => ("TYPE_MISMATCH", StatusCode::CONFLICT, "Type mismatch"),
            IdempotencyKeyReused => (
                "IDEMPOTENCY_KEY_REUSED",
                StatusCode::CONFLICT,
                "Idempotency key reused",
            ),
            PayloadTooLarge => (
                "PAYLOAD_TOO_LARGE",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
            ),
            UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            ),
            ValidationError => (
                "VALIDATION_ERROR",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation error",
            ),
            InsufficientFunds => (
                "INSUFFICIENT_FUNDS",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Insufficient funds",
            ),
            TooManyRequests => (
                "TOO_MANY_REQUESTS",
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
            ),
            InternalServerError => (
                "INTERNAL_SERVER_ERROR",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
            ),
            ServiceUnavailable => (
                "SERVICE_UNAVAILABLE",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
            ),
            RequestTimeout => (
                "REQUEST_TIMEOUT",
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout",
            ),
        }
    }
}

/// Where an error comes from in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Parameter(String),
    Pointer(String),
}

/// An error answered to the client as a JSON:API error object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    /// `source` of the error object (named so thiserror does not take it for a cause).
    pub location: Option<Source>,
    pub meta: Option<Map<String, Value>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            location: None,
            meta: None,
        }
    }

    /// An error caused by one query parameter.
    pub fn param(code: Code, parameter: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(code, detail).with_source(Source::Parameter(parameter.into()))
    }

    /// An error caused by one member of the request document.
    pub fn pointer(code: Code, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(code, detail).with_source(Source::Pointer(pointer.into()))
    }

    pub fn with_source(mut self, source: Source) -> Self {
        self.location = Some(source);
        self
    }

    pub fn not_found(type_name: &str) -> Self {
        Self::new(
            Code::RecordNotFound,
            format!("The requested resource ({type_name}) was not found"),
        )
    }

    /// A failure whose details stay in the log, never in the response.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            Code::InternalServerError,
            "The server could not complete the request",
        )
    }

    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, "database unavailable");
        Self::new(
            Code::ServiceUnavailable,
            "The database is unreachable; retry later",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.code.parts().1
    }

    /// The error object of the document.
    pub fn to_json(&self) -> Value {
        let (code, status, title) = self.code.parts();
        let mut obj = json!({
            "title": title,
            "detail": self.detail,
            "code": code,
            "status": status.as_str(),
        });
        match &self.location {
            Some(Source::Parameter(p)) => obj["source"] = json!({ "parameter": p }),
            Some(Source::Pointer(p)) => obj["source"] = json!({ "pointer": p }),
            None => {}
        }
        if let Some(meta) = &self.meta {
            obj["meta"] = Value::Object(meta.clone());
        }
        obj
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status());
        // A body that did not arrive in time is not drained either: that is what the
        // client never finishes.
        if self.code == Code::RequestTimeout {
            res.force_close();
        }
        res.content_type(MEDIA_TYPE)
            .json(json!({ "errors": [self.to_json()] }))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => {
                Self::new(Code::RecordNotFound, "The requested resource was not found")
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::unavailable(info.message()),
            Error::BrokenTransactionManager => Self::unavailable("broken transaction manager"),
            // A statement over PostgreSQL's statement_timeout, or SQLite's busy timeout:
            // the database is there but busy, which a client should be told apart.
            Error::DatabaseError(_, info)
                if info.message().contains("statement timeout")
                    || info.message().contains("database is locked") =>
            {
                tracing::warn!(error = %info.message(), "database statement timed out");
                Self::new(
                    Code::ServiceUnavailable,
                    "The database did not answer within the request timeout; retry later",
                )
            }
            other => Self::internal("database error", other),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(err: r2d2::Error) -> Self {
        Self::unavailable(err)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::internal("blocking task failed", err)
    }
}
