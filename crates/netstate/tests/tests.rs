//! Integration tests of vantage-netstate: one binary, modules per concern; each suite runs
//! on SQLite and, when `VANTAGE_TEST_PG` is set, on PostgreSQL.

mod common;
mod conformance;
mod importer;
