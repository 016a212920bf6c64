//! The reports kind's own tables (front half; centrifugation adds its own later).
//!
//! - `reports_file`: every report accepted by ingest or the collector, by textname, with
//!   its sha1 (the duplicate test of §2.5) and where it is now (inbox or can).
//! - `reports_can`: raw cans (§4) with their slice index, so indexes continue across rounds.
//! - `reports_clean_can`: clean cans (§5) with the AUTOCLAVE_VER and bridge-db digest
//!   that made them, so `--reclean` knows what is outdated.
//! - `reports_datum_locator` and `reports_badblob` (§5.7).
//! - `reports_redaction`: the audit log of `reports redact`, with the old can's checksums.
//! - Centrifugation (version 3, spec §6.2, §8): the tables of §6.2, the fingerprints, the
//!   four view tables and `reports_counter`, whose rows number everything inside the
//!   bucket's transaction (a sequence would leak values on rollback and renumber re-runs).
//!   Types: ts and json are TEXT and bool is BIGINT 0/1 on both backends, so one query
//!   gives one result everywhere (json text is canonical: sorted keys, compact).

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
    Migration {
        version: 3,
        name: "reports centrifugation",
        sql: "
CREATE TABLE reports_counter (name TEXT PRIMARY KEY, next BIGINT NOT NULL);
CREATE TABLE reports_autoclaved (
    autoclaved_no BIGINT PRIMARY KEY, filename TEXT NOT NULL UNIQUE, bucket_date TEXT NOT NULL,
    code_ver BIGINT NOT NULL, fp_digest TEXT NOT NULL, file_size BIGINT NOT NULL,
    file_crc32 BIGINT NOT NULL, file_sha1 TEXT NOT NULL
);
CREATE TABLE reports_software (
    software_no BIGINT PRIMARY KEY, test_name TEXT NOT NULL, test_version TEXT NOT NULL,
    software_name TEXT NOT NULL, software_version TEXT NOT NULL,
    UNIQUE (test_name, test_version, software_name, software_version)
);
CREATE TABLE reports_report (
    report_no BIGINT PRIMARY KEY, autoclaved_no BIGINT NOT NULL, textname TEXT NOT NULL UNIQUE,
    src_sha1 TEXT NOT NULL, report_id TEXT NOT NULL, test_start_time TEXT, probe_cc TEXT NOT NULL,
    probe_asn BIGINT NOT NULL, probe_ip TEXT, test_name TEXT NOT NULL, software_no BIGINT NOT NULL,
    badtail BIGINT
);
CREATE INDEX reports_report_autoclaved ON reports_report (autoclaved_no);
CREATE INDEX reports_report_report_id ON reports_report (report_id);
CREATE TABLE reports_domain (domain_no BIGINT PRIMARY KEY, domain TEXT NOT NULL UNIQUE);
CREATE TABLE reports_input (
    input_no BIGINT PRIMARY KEY, input TEXT NOT NULL, input_sha256 TEXT NOT NULL UNIQUE, domain_no BIGINT
);
CREATE TABLE reports_residual (
    residual_no BIGINT PRIMARY KEY, residual TEXT NOT NULL, residual_sha256 TEXT NOT NULL UNIQUE
);
CREATE TABLE reports_measurement (
    msm_no BIGINT PRIMARY KEY, report_no BIGINT NOT NULL, measurement_uid TEXT NOT NULL UNIQUE,
    id TEXT NOT NULL, frame_off BIGINT NOT NULL, frame_size BIGINT NOT NULL, intra_off BIGINT NOT NULL,
    intra_size BIGINT NOT NULL, src_sha1 TEXT NOT NULL, measurement_start_time TEXT,
    test_runtime {real}, input_no BIGINT, residual_no BIGINT, exc TEXT, anomaly BIGINT,
    confirmed BIGINT, msm_failure BIGINT, blocking_type TEXT, scores TEXT
);
CREATE INDEX reports_measurement_report ON reports_measurement (report_no);
CREATE TABLE reports_tcp (
    msm_no BIGINT NOT NULL, ip TEXT, port BIGINT, control_failure TEXT, test_failure TEXT,
    control_api_failure TEXT
);
CREATE INDEX reports_tcp_msm ON reports_tcp (msm_no);
CREATE TABLE reports_dns_a (
    msm_no BIGINT NOT NULL, domain_no BIGINT, control_ip TEXT, test_ip TEXT, control_cname TEXT,
    test_cname TEXT, ttl BIGINT, resolver_hostname TEXT, client_resolver TEXT,
    control_failure TEXT, test_failure TEXT
);
CREATE INDEX reports_dns_a_msm ON reports_dns_a (msm_no);
CREATE TABLE reports_vanilla_tor (
    msm_no BIGINT NOT NULL, timeout BIGINT, error TEXT, tor_progress BIGINT, success BIGINT,
    tor_progress_tag TEXT, tor_progress_summary TEXT, tor_version TEXT, tor_log TEXT
);
CREATE INDEX reports_vanilla_tor_msm ON reports_vanilla_tor (msm_no);
CREATE TABLE reports_http_control (
    msm_no BIGINT NOT NULL, is_tor BIGINT, failure TEXT, status_code BIGINT, body_length BIGINT,
    title TEXT, headers TEXT, body_sha256 TEXT, body_simhash BIGINT, body_text_simhash BIGINT
);
CREATE INDEX reports_http_control_msm ON reports_http_control (msm_no);
CREATE TABLE reports_http_request (
    msm_no BIGINT NOT NULL, url TEXT, is_tor BIGINT, failure TEXT, status_code BIGINT,
    body_length BIGINT, title TEXT, headers TEXT, body_sha256 TEXT, body_simhash BIGINT,
    body_text_simhash BIGINT
);
CREATE INDEX reports_http_request_msm ON reports_http_request (msm_no);
CREATE TABLE reports_http_request_fp (msm_no BIGINT NOT NULL, fingerprint_no BIGINT NOT NULL);
CREATE INDEX reports_http_request_fp_msm ON reports_http_request_fp (msm_no);
CREATE TABLE reports_http_verdict (
    msm_no BIGINT NOT NULL, accessible BIGINT, control_failure TEXT, http_experiment_failure TEXT,
    title_match BIGINT, dns_consistency TEXT, dns_experiment_failure TEXT, body_proportion {real},
    blocking TEXT, blocking_source TEXT, body_length_match BIGINT, headers_match BIGINT,
    status_code_match BIGINT
);
CREATE INDEX reports_http_verdict_msm ON reports_http_verdict (msm_no);
CREATE TABLE reports_vendor (msm_no BIGINT NOT NULL, vendor TEXT NOT NULL);
CREATE INDEX reports_vendor_msm ON reports_vendor (msm_no);
CREATE TABLE reports_fingerprint (
    fingerprint_no BIGINT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, scope TEXT NOT NULL,
    other_names TEXT NOT NULL, location_found TEXT NOT NULL, pattern_type TEXT NOT NULL,
    pattern TEXT NOT NULL, confidence_no_fp BIGINT NOT NULL, expected_countries TEXT NOT NULL,
    source TEXT NOT NULL, exp_url TEXT NOT NULL, notes TEXT NOT NULL, enabled BIGINT NOT NULL,
    file_order BIGINT NOT NULL, loaded BIGINT NOT NULL,
    UNIQUE (kind, name)
);
CREATE TABLE reports_badmeta (autoclaved_no BIGINT NOT NULL, report_no BIGINT, reason TEXT NOT NULL);
CREATE TABLE reports_badrow (tbl TEXT NOT NULL, code_ver BIGINT NOT NULL, datum {blob}, reason TEXT NOT NULL);
CREATE TABLE reports_blockpage_count (
    report_id TEXT NOT NULL, test_start_time TEXT, probe_cc TEXT NOT NULL, probe_asn BIGINT NOT NULL,
    block_count BIGINT NOT NULL, total_count BIGINT NOT NULL
);
CREATE INDEX reports_blockpage_count_report ON reports_blockpage_count (report_id);
CREATE TABLE reports_blockpage_urls (
    input TEXT, report_id TEXT NOT NULL, test_start_time TEXT, probe_cc TEXT NOT NULL,
    probe_asn BIGINT NOT NULL, msm_no BIGINT PRIMARY KEY
);
CREATE INDEX reports_blockpage_urls_report ON reports_blockpage_urls (report_id);
CREATE TABLE reports_country_counts (probe_cc TEXT PRIMARY KEY, count BIGINT NOT NULL);
CREATE TABLE reports_identified_vendors (
    test_start_time TEXT, probe_cc TEXT NOT NULL, probe_asn BIGINT NOT NULL, report_id TEXT NOT NULL,
    vendor TEXT NOT NULL
);
CREATE INDEX reports_identified_vendors_report ON reports_identified_vendors (report_id);
",
    },
];
