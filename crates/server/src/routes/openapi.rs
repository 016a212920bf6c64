//! `/api/v1/openapi.json`: the hand-written OpenAPI 3 document of this API.

use axum::routing::get;
use axum::Router;

use super::Shared;

const DOCUMENT: &str = include_str!("../../ui/openapi.json");

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> axum::response::Response {
    let v: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    super::json(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_is_openapi_3_and_lists_every_route() {
        let v: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert!(v["openapi"].as_str().unwrap().starts_with("3."));
        let paths = v["paths"].as_object().unwrap();
        for p in [
            "/api/v1/status",
            "/api/v1/reports/measurements",
            "/api/v1/passive/upload",
            "/api/v1/netstate/at",
            "/api/v1/packets/query",
            "/report",
            "/metrics",
            "/healthz",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
    }
}
