//! Integration and conformance tests of vantage-passive; one binary, one module per area.

mod common;
mod conformance_anonymization;
mod conformance_parser;
mod conformance_processors;
