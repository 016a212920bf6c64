//! The reports kind's own tables (front half; centrifugation adds its own later).
//!
//! - `reports_file`: every report accepted by ingest or the collector, by textname, with
//!   its sha1 (the duplicate test of §2.5) and where it is now (inbox or can).
//! - `reports_can`: raw cans (§4) with their slice index, so indexes continue across rounds.
//! - `reports_clean_can`: clean cans (§5) with the AUTOCLAVE_VER and bridge-db digest
//!   that made them, so `--reclean` knows what is outdated.
//! - `reports_datum_locator` and `reports_badblob` (§5.7).
//! - `reports_redaction`: the audit log of `reports redact`, with the old can's checksums.

use vantage_warehouse::Migration;

/// Migrations of the owner `reports`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "reports front half",
        sql: "
CREATE TABLE reports_file (
    textname TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    name TEXT NOT NULL,
    original TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    size BIGINT NOT NULL,
    arrival_id BIGINT,
    state TEXT NOT NULL,
    can TEXT,
    text_crc32 BIGINT
);
CREATE UNIQUE INDEX reports_file_sha1 ON reports_file (sha1);
CREATE INDEX reports_file_state ON reports_file (state, bucket);
CREATE TABLE reports_can (
    filename TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    test_name TEXT,
    slice_index BIGINT,
    file_size BIGINT NOT NULL,
    file_crc32 BIGINT NOT NULL,
    file_sha1 TEXT NOT NULL,
    text_size BIGINT NOT NULL
);
CREATE TABLE reports_clean_can (
    filename TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    file_crc32 BIGINT NOT NULL,
    file_sha1 TEXT NOT NULL,
    text_size BIGINT NOT NULL,
    datums BIGINT NOT NULL,
    badblobs BIGINT NOT NULL,
    autoclave_ver BIGINT NOT NULL,
    bridge_digest TEXT NOT NULL
);
CREATE TABLE reports_datum_locator (
    uid TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    can TEXT NOT NULL,
    textname TEXT NOT NULL,
    src_off BIGINT NOT NULL,
    frame_off BIGINT NOT NULL,
    frame_size BIGINT NOT NULL,
    intra_off BIGINT NOT NULL,
    intra_size BIGINT NOT NULL
);
CREATE INDEX reports_datum_locator_id ON reports_datum_locator (id);
CREATE INDEX reports_datum_locator_can ON reports_datum_locator (can);
CREATE TABLE reports_badblob (
    filename TEXT NOT NULL,
    textname TEXT NOT NULL,
    src_off BIGINT NOT NULL,
    src_size BIGINT NOT NULL,
    bucket_date TEXT NOT NULL,
    src_sha1 TEXT NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (filename, textname, src_off)
);
",
    },
    Migration {
        version: 2,
        name: "reports redaction audit log",
        sql: "
CREATE TABLE reports_redaction (
    textname TEXT NOT NULL,
    can TEXT NOT NULL,
    old_file_size BIGINT NOT NULL,
    old_file_crc32 BIGINT NOT NULL,
    old_file_sha1 TEXT NOT NULL,
    old_path TEXT NOT NULL,
    reason TEXT NOT NULL,
    purged BIGINT NOT NULL,
    created_ns BIGINT NOT NULL
);
",
    },
];
