//! The one mapping from module errors to HTTP answers:
//! `{"error": {"code", "message", "field"}}`. Every variant is matched
//! explicitly, so a new error forces a decision about its status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::boards::BoardError;
use crate::index::IndexError;
use crate::ingest::validate::{BodyError, ItemError};
use crate::ingest::IngestError;
use crate::store::StoreError;
use crate::web_ui::AssetError;

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Per-item errors of a refused batch.
    pub items: Option<Vec<ItemError>>,
    /// Seconds a client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        field: Option<&str>,
    ) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                field: field.map(str::to_string),
            },
            items: None,
            retry_after: None,
        }
    }

    pub fn bad_parameter(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            message,
            Some(field),
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message, None)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.body.code, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = serde_json::json!({ "error": &self.body });
        if let Some(items) = &self.items {
            body["items"] = serde_json::json!(items);
        }
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"xinsheng\""));
        }
        response.json(body)
    }
}

/// What a client is told to wait when the database was locked by another
/// process for longer than the busy timeout.
const BUSY_RETRY_AFTER_SECONDS: u64 = 2;
/// What a client is told to wait when the data volume is full: freeing disk
/// space takes a person, not milliseconds.
const STORAGE_FULL_RETRY_AFTER_SECONDS: u64 = 30;

pub fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "internal error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; see the service log",
        None,
    )
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Busy => {
                let mut api_error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the database is locked by another process; nothing was stored, retry shortly",
                    None,
                );
                api_error.retry_after = Some(BUSY_RETRY_AFTER_SECONDS);
                api_error
            }
            StoreError::Full => {
                tracing::error!("data volume full: requests that write are refused");
                let mut api_error = ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the data volume is full; nothing was stored, retry once disk space is freed",
                    None,
                );
                api_error.retry_after = Some(STORAGE_FULL_RETRY_AFTER_SECONDS);
                api_error
            }
            StoreError::Sqlite(_) | StoreError::Corrupt { .. } | StoreError::DataDir { .. } => {
                internal(error)
            }
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(error: crate::auth::AuthError) -> ApiError {
        use crate::auth::AuthError;
        match error {
            AuthError::MissingKey | AuthError::InvalidKey => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                error.to_string(),
                None,
            ),
            AuthError::MissingScope(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", error.to_string(), None)
            }
            AuthError::RateLimited {
                retry_after_seconds,
            } => {
                let mut answer = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    error.to_string(),
                    None,
                );
                answer.retry_after = Some(retry_after_seconds);
                answer
            }
            AuthError::InvalidRequest(message) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_key_request",
                message,
                None,
            ),
            AuthError::Store(error) => error.into(),
        }
    }
}

impl From<crate::tenants::TenantError> for ApiError {
    fn from(error: crate::tenants::TenantError) -> ApiError {
        use crate::tenants::TenantError;
        match error {
            TenantError::Unknown(_) => ApiError::not_found(error.to_string()),
            TenantError::Store(error) => error.into(),
            TenantError::Start { .. } => {
                let mut answer = internal(&error);
                answer.status = StatusCode::SERVICE_UNAVAILABLE;
                answer.retry_after = Some(30);
                answer
            }
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(error: IndexError) -> ApiError {
        match error {
            IndexError::InvalidQuery { field, message } => ApiError::bad_parameter(field, message),
            IndexError::Tantivy(_)
            | IndexError::Locked
            | IndexError::Directory { .. }
            | IndexError::ReadOnly => internal(error),
        }
    }
}

impl From<BoardError> for ApiError {
    fn from(error: BoardError) -> ApiError {
        match error {
            BoardError::Index(error) => error.into(),
            BoardError::InvalidPeriod { field, message } => ApiError::bad_parameter(field, message),
            BoardError::UnknownBoard(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_board",
                error.to_string(),
                None,
            ),
            BoardError::Followups(_) | BoardError::Alerts(_) => internal(error),
        }
    }
}

impl From<AssetError> for ApiError {
    fn from(error: AssetError) -> ApiError {
        match error {
            AssetError::NotFound(_) => ApiError::not_found(error.to_string()),
            AssetError::Io { .. } => internal(error),
        }
    }
}

impl From<crate::followups::FollowupError> for ApiError {
    fn from(error: crate::followups::FollowupError) -> ApiError {
        use crate::followups::FollowupError;
        match error {
            FollowupError::Store(store_error) => store_error.into(),
            FollowupError::NotFound(_) => ApiError::not_found(error.to_string()),
            FollowupError::MalformedBody(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                error.to_string(),
                Some("body"),
            ),
            FollowupError::Invalid { field, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                error.to_string(),
                Some(field),
            ),
            FollowupError::Transition { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_transition",
                error.to_string(),
                Some("status"),
            ),
            FollowupError::Conflict => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string(), None)
            }
            FollowupError::Corrupt { .. } => internal(error),
        }
    }
}

impl From<crate::ingest::chat::ChatError> for ApiError {
    fn from(error: crate::ingest::chat::ChatError) -> Self {
        use crate::ingest::chat::ChatError;
        match error {
            ChatError::UnknownPlatform(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_webhook",
                error.to_string(),
                None,
            ),
            ChatError::Webhook(webhook_error) => ApiError::new(
                StatusCode::from_u16(webhook_error.status()).unwrap_or(StatusCode::BAD_REQUEST),
                webhook_error.code(),
                webhook_error.to_string(),
                None,
            ),
            ChatError::Store(store_error) => store_error.into(),
        }
    }
}

impl From<crate::consumers::ConsumerError> for ApiError {
    fn from(error: crate::consumers::ConsumerError) -> ApiError {
        use crate::consumers::ConsumerError;
        match error {
            ConsumerError::Store(store_error) => store_error.into(),
            ConsumerError::UnknownTag(_) => ApiError::bad_parameter("tag", error.to_string()),
            ConsumerError::NotFound(_) => ApiError::not_found(error.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> ApiError {
        match error {
            IngestError::Body(body_error) => {
                let code = match &body_error {
                    BodyError::Empty => "empty_body",
                    BodyError::Malformed { .. } => "malformed_json",
                    BodyError::TooManyItems { .. } => "too_many_items",
                    BodyError::NotUtf8 => "invalid_encoding",
                    BodyError::TooComplex { .. } => "too_complex",
                };
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code,
                    body_error.to_string(),
                    Some("body"),
                )
            }
            IngestError::InvalidItems { errors, total } => {
                let first = errors.first();
                let field = first.map(|error| {
                    if total > 1 {
                        format!("items[{}].{}", error.index, error.field)
                    } else {
                        error.field.clone()
                    }
                });
                let message = match first {
                    Some(first) if errors.len() == 1 => {
                        format!("{}; nothing was stored", first.message)
                    }
                    _ => format!(
                        "{} of {total} items are invalid; nothing was stored",
                        errors.len()
                    ),
                };
                let code = if errors.len() == 1 {
                    first.map_or("invalid_item", |error| error.code)
                } else {
                    "invalid_items"
                };
                let mut api_error = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    message,
                    field.as_deref(),
                );
                api_error.items = Some(errors);
                api_error
            }
            IngestError::Store(error) => error.into(),
            IngestError::Overloaded { .. } => {
                let mut api_error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "queue_full",
                    error.to_string(),
                    None,
                );
                api_error.retry_after = Some(crate::ingest::OVERLOAD_RETRY_AFTER_SECONDS);
                api_error
            }
        }
    }
}
