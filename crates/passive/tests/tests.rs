//! Integration and conformance tests of vantage-passive; one binary, one module per area.

mod common;
mod conformance_anonymization;
mod conformance_end_to_end;
mod conformance_parser;
mod conformance_processors;
mod conformance_sessions;
mod incremental;
mod ingest;
