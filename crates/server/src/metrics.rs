//! `/metrics` in the Prometheus text format (version 0.0.4).
//!
//! Two sources: the catalog, read per scrape (arrivals, bytes, cans, partitions by state,
//! quarantine per kind — the same figures as `vantage status`), and the server's own
//! counters kept here (ticks per kind and outcome, tick durations, requests by status).
//! Packet statistics come from the packets directory (`vantage packets stats`), as
//! `vantage_packets_<name>` with a `class` label (packets spec §9). While the live
//! recorder runs, its Time Machine statistics ([`vantage_packets::Snapshot::prometheus`]:
//! connections, kernel and queue drops, per-class memory) take the place of the saved
//! totals, and the directory still gives the per-class disk figures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use vantage_warehouse::catalog::KindStatus;

/// How a tick ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TickOutcome {
    /// Ran to the end.
    Ok,
    /// The kind's lock was held by another run; skipped.
    Busy,
    /// Failed; the error was logged.
    Error,
}

impl TickOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            TickOutcome::Ok => "ok",
            TickOutcome::Busy => "busy",
            TickOutcome::Error => "error",
        }
    }
}

/// A catalog figure: metric name, help text, and how to read it from a kind's status.
type CatalogMetric = (&'static str, &'static str, fn(&KindStatus) -> u64);

#[derive(Debug, Default)]
struct Inner {
    ticks: BTreeMap<(&'static str, TickOutcome), u64>,
    tick_seconds: BTreeMap<&'static str, (f64, f64)>, // kind → (sum, last)
    requests: BTreeMap<u16, u64>,
}

/// The server's own counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Counts one tick of `kind`.
    pub fn tick(&self, kind: &'static str, outcome: TickOutcome, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.ticks.entry((kind, outcome)).or_default() += 1;
        if outcome != TickOutcome::Busy {
            let e = m.tick_seconds.entry(kind).or_default();
            e.0 += seconds;
            e.1 = seconds;
        }
    }

    /// Counts one answered request.
    pub fn request(&self, status: u16) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests.entry(status).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(
        &self,
        status: &[KindStatus],
        packets: Option<&serde_json::Value>,
        live: Option<&vantage_packets::Snapshot>,
    ) -> String {
        let mut out = String::new();
        let catalog: [CatalogMetric; 5] = [
            ("vantage_arrivals_total", "Arrivals recorded in the catalog.", |s| s.arrivals),
            ("vantage_arrival_bytes_total", "Bytes of the recorded arrivals.", |s| s.arrival_bytes),
            ("vantage_cans", "Cans recorded in the catalog.", |s| s.cans),
            ("vantage_can_bytes", "Bytes of the recorded cans.", |s| s.can_bytes),
            ("vantage_quarantined_total", "Inputs rejected into quarantine.", |s| s.quarantined),
        ];
        for (name, help, get) in catalog {
            header(
                &mut out,
                name,
                help,
                if name.ends_with("_total") { "counter" } else { "gauge" },
            );
            for s in status {
                let _ = writeln!(out, "{name}{{kind=\"{}\"}} {}", esc(&s.kind), get(s));
            }
        }
        header(
            &mut out,
            "vantage_partitions",
            "Partitions by state (queue depth: pending).",
            "gauge",
        );
        for s in status {
            for (state, n) in [
                ("pending", s.pending),
                ("done", s.done),
                ("failed", s.failed),
                ("waiting", s.waiting),
            ] {
                let _ = writeln!(
                    out,
                    "vantage_partitions{{kind=\"{}\",state=\"{state}\"}} {n}",
                    esc(&s.kind)
                );
            }
        }
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        header(&mut out, "vantage_ticks_total", "Pipeline ticks by kind and outcome.", "counter");
        for ((kind, outcome), n) in &m.ticks {
            let _ = writeln!(
                out,
                "vantage_ticks_total{{kind=\"{kind}\",outcome=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
        header(
            &mut out,
            "vantage_tick_seconds_total",
            "Time spent in ticks (stage durations).",
            "counter",
        );
        for (kind, (sum, _)) in &m.tick_seconds {
            let _ = writeln!(out, "vantage_tick_seconds_total{{kind=\"{kind}\"}} {sum}");
        }
        header(&mut out, "vantage_tick_last_seconds", "Duration of the latest tick.", "gauge");
        for (kind, (_, last)) in &m.tick_seconds {
            let _ = writeln!(out, "vantage_tick_last_seconds{{kind=\"{kind}\"}} {last}");
        }
        header(
            &mut out,
            "vantage_http_requests_total",
            "HTTP requests answered, by status.",
            "counter",
        );
        for (code, n) in &m.requests {
            let _ = writeln!(out, "vantage_http_requests_total{{status=\"{code}\"}} {n}");
        }
        drop(m);
        if let Some(snap) = live {
            out.push_str(&snap.prometheus());
        }
        if let Some(p) = packets {
            packet_metrics(&mut out, p, live.is_none());
        }
        out
    }
}

/// `vantage packets stats --format json` as `vantage_packets_<name>`: the recorder's
/// totals unlabelled (`totals`: unless a live snapshot gave them), each class's figures
/// with `class`.
fn packet_metrics(out: &mut String, stats: &serde_json::Value, totals: bool) {
    if let Some(c) = stats.get("counters").and_then(|c| c.as_object()).filter(|_| totals) {
        for (k, v) in c {
            if let Some(n) = v.as_f64() {
                let name = format!("vantage_packets_{}", sanitize(k));
                header(out, &name, "Time Machine recorder total (packets spec §9).", "gauge");
                let _ = writeln!(out, "{name} {n}");
            }
        }
    }
    let classes = stats.get("classes").and_then(|c| c.as_array()).cloned().unwrap_or_default();
    let mut by_name: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for c in &classes {
        let class = c.get("class").and_then(|v| v.as_str()).unwrap_or("").to_string();
        if let Some(o) = c.as_object() {
            for (k, v) in o {
                if let Some(n) = v.as_f64() {
                    by_name.entry(sanitize(k)).or_default().push((class.clone(), n));
                }
            }
        }
    }
    for (k, rows) in by_name {
        let name = format!("vantage_packets_class_{k}");
        header(out, &name, "Time Machine per-class figure (packets spec §9).", "gauge");
        for (class, n) in rows {
            let _ = writeln!(out, "{name}{{class=\"{}\"}} {n}", esc(&class));
        }
    }
    if let Some(p) = stats.get("index_pct_of_stored").and_then(|v| v.as_f64()) {
        header(
            out,
            "vantage_packets_index_pct_of_stored",
            "Index bytes per stored byte, percent.",
            "gauge",
        );
        let _ = writeln!(out, "vantage_packets_index_pct_of_stored {p}");
    }
}

fn header(out: &mut String, name: &str, help: &str, ty: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect()
}

/// Label values escape backslash, quote and newline.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_catalog_counters_and_packets() {
        let m = Metrics::default();
        m.tick("reports", TickOutcome::Ok, 0.5);
        m.tick("reports", TickOutcome::Busy, 0.0);
        m.request(200);
        let status = vec![KindStatus {
            kind: "reports".into(),
            arrivals: 3,
            pending: 1,
            ..Default::default()
        }];
        let packets = serde_json::json!({"counters": {"tot_pkts": 10, "classes": {}},
            "classes": [{"class": "all", "stored_pkts": 7, "oldest_ns": null}], "index_pct_of_stored": 1.5});
        let text = m.render(&status, Some(&packets), None);
        for line in [
            "vantage_arrivals_total{kind=\"reports\"} 3",
            "vantage_partitions{kind=\"reports\",state=\"pending\"} 1",
            "vantage_ticks_total{kind=\"reports\",outcome=\"ok\"} 1",
            "vantage_ticks_total{kind=\"reports\",outcome=\"busy\"} 1",
            "vantage_tick_seconds_total{kind=\"reports\"} 0.5",
            "vantage_http_requests_total{status=\"200\"} 1",
            "vantage_packets_tot_pkts 10",
            "vantage_packets_class_stored_pkts{class=\"all\"} 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn live_snapshot_replaces_saved_totals_without_duplicate_series() {
        let m = Metrics::default();
        let mut snap = vantage_packets::Snapshot { conns: 2, ..Default::default() };
        snap.counters.tot_pkts = 11;
        snap.kernel.drop = 3;
        let packets = serde_json::json!({"counters": {"tot_pkts": 10},
            "classes": [{"class": "all", "disk_dt": 4.5}]});
        let text = m.render(&[], Some(&packets), Some(&snap));
        for line in [
            "vantage_packets_tot_pkts_total 11",
            "vantage_packets_pcap_drop_total 3",
            "vantage_packets_conns 2",
            "vantage_packets_class_disk_dt{class=\"all\"} 4.5",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("vantage_packets_tot_pkts 10"), "stale saved total:\n{text}");
        for l in text.lines().filter(|l| l.starts_with("# TYPE")) {
            assert_eq!(text.matches(&format!("{l}\n")).count(), 1, "{l}");
        }
    }
}
