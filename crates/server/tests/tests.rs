//! Integration tests of `vantage serve`'s library: a real server on 127.0.0.1, port 0,
//! over real data directories on SQLite and (tests named `postgres`) PostgreSQL.

#[path = "cases/end_to_end.rs"]
mod end_to_end;
#[path = "cases/fixture.rs"]
mod fixture;
#[path = "cases/http.rs"]
mod http;
#[path = "cases/lifecycle.rs"]
mod lifecycle;
#[path = "cases/reports_api.rs"]
mod reports_api;
#[path = "cases/security.rs"]
mod security;
