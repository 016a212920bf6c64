//! The two error types of the server: [`ApiError`], what one request answers with
//! (`{"error": {"code", "message"}}`, DESIGN.md Conventions: HTTP errors), and
//! [`ServeError`], why the daemon could not start or stopped (with its exit code).

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vantage_core::{Exit, HasExit};

/// A request's failure: status, snake_case code, one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, snake_case (`bad_parameter`, `not_found`, ...).
    pub code: String,
    /// One sentence for people.
    pub message: String,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into() }
    }

    /// 400 `bad_parameter`: a query parameter or body that cannot be used.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `unauthorized`: a write without the server's token.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs the server token: send Authorization: Bearer <token>",
        )
    }

    /// 503 `storage_unavailable`: the warehouse or the data directory failed.
    pub fn storage(message: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", message.to_string())
    }

    /// 409 `busy`: the kind's lock is held by another run.
    pub fn busy(message: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::CONFLICT, "busy", message.to_string())
    }

    /// Maps a library error by its exit code: usage → 400, busy → 409, rejected → 422,
    /// storage → 503. The library's message is kept: it already names file and place.
    pub fn from_exit<E: HasExit + std::fmt::Display>(e: &E) -> Self {
        match e.exit() {
            Exit::Usage => ApiError::bad_parameter(e.to_string()),
            Exit::Busy => ApiError::busy(e),
            Exit::Rejected => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", e.to_string())
            }
            _ => ApiError::storage(e),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl From<vantage_warehouse::WarehouseError> for ApiError {
    fn from(e: vantage_warehouse::WarehouseError) -> Self {
        ApiError::storage(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Why `vantage serve` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A section of `vantage.toml` is wrong.
    #[error(transparent)]
    Config(#[from] vantage_core::ConfigError),
    /// A kind's configuration failed its own checks.
    #[error("[{section}]: {message}")]
    KindConfig {
        /// The section.
        section: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The bind address is not an address.
    #[error("[server] bind = {0:?}: not an address; use host:port, e.g. 127.0.0.1:8080")]
    BadBind(String),
    /// A non-loopback bind without a token would open writes to the network.
    #[error(
        "[server] bind = {0}: a non-loopback address needs a token; set [server] token or \
         VANTAGE_SERVER_TOKEN, or bind 127.0.0.1"
    )]
    NoToken(SocketAddr),
    /// The listener could not be opened.
    #[error("{addr}: cannot listen: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] vantage_core::DataDirError),
    /// The warehouse failed at start-up.
    #[error(transparent)]
    Warehouse(#[from] vantage_warehouse::WarehouseError),
    /// The packet recorder of `[packets] interface` could not start, or failed.
    #[error("packet recorder: {0}")]
    Packets(vantage_packets::StoreError),
    /// Something else failed at start-up (collector reload, runtime).
    #[error("{0}")]
    Start(String),
}

impl HasExit for ServeError {
    fn exit(&self) -> Exit {
        match self {
            ServeError::Config(_)
            | ServeError::KindConfig { .. }
            | ServeError::BadBind(_)
            | ServeError::NoToken(_) => Exit::Usage,
            ServeError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                Exit::Busy
            }
            ServeError::DataDir(e) => e.exit(),
            ServeError::Warehouse(e) => e.exit(),
            ServeError::Packets(e) => e.exit(),
            _ => Exit::Storage,
        }
    }
}
