//! Integration and conformance tests of vantage-passive; one binary, one module per area.

mod conformance_anonymization;
mod conformance_parser;
