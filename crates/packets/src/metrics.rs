//! The recorder's figures in one place (spec §9): a [`Snapshot`] taken under the
//! recorder's lock feeds `show stats`, the three logs and Prometheus text
//! (`vantage_packets_<name>`, labels `class`), so the three never disagree.

use serde::Serialize;

use crate::counters::Counters;

/// Kernel capture counters (`PACKET_STATISTICS`), summed over the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KernelStats {
    /// Packets the kernel delivered to the ring.
    pub recv: u64,
    /// Packets the kernel dropped (ring full).
    pub drop: u64,
    /// Packets dropped by the interface (TPACKET_V3 freeze count here; 0 when unknown).
    pub ifdrop: u64,
}

/// One class's live figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClassSnapshot {
    /// Class name.
    pub name: String,
    /// Packets stored.
    pub stored_pkts: u64,
    /// Captured bytes stored.
    pub stored_bytes: u64,
    /// Packets cut.
    pub cut_pkts: u64,
    /// Captured bytes cut.
    pub cut_bytes: u64,
    /// Packets in the memory ring.
    pub mem_pkts: u64,
    /// Bytes in the memory ring.
    pub mem_bytes: u64,
    /// Time span held in memory, seconds.
    pub mem_dt_s: f64,
    /// The class's `dyn_timeout`, seconds.
    pub dyn_timeout_s: i64,
}

/// Everything the recorder counts, at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Totals (of the directory, across runs).
    pub counters: Counters,
    /// Connections in the table.
    pub conns: u64,
    /// Dynamic class assignments alive.
    pub dyn_class: u64,
    /// Subscriptions alive.
    pub subscriptions: u64,
    /// Kernel counters (live capture only).
    pub kernel: KernelStats,
    /// Packets returned by queries.
    pub query_pkts: u64,
    /// Bytes returned by queries.
    pub query_bytes: u64,
    /// The table's clock, ns (largest packet time).
    pub clock_ns: Option<i64>,
    /// Per class.
    pub classes: Vec<ClassSnapshot>,
}

impl Snapshot {
    /// `name value` pairs in stats.log's order (`show stats`).
    pub fn lines(&self) -> Vec<(String, String)> {
        let c = &self.counters;
        let k = &self.kernel;
        let ratio =
            if k.recv + k.drop == 0 { 0.0 } else { k.drop as f64 / (k.recv + k.drop) as f64 };
        let (sp, sb) =
            self.classes.iter().fold((0, 0), |t, x| (t.0 + x.stored_pkts, t.1 + x.stored_bytes));
        let mut v: Vec<(String, String)> = [
            ("conns", self.conns),
            ("dyn_class", self.dyn_class),
            ("pcap_recv", k.recv),
            ("pcap_drop", k.drop),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        v.push(("drop_ratio".into(), format!("{ratio:.6}")));
        for (n, x) in [
            ("totPkts", c.tot_pkts),
            ("totBytes", c.tot_bytes),
            ("uncutPkts", sp),
            ("uncutBytes", sb),
            ("queryPkts", self.query_pkts),
            ("queryBytes", self.query_bytes),
            ("p_ifdrop", k.ifdrop),
            ("ring_drops", c.ring_drops),
            ("queue_drops", c.queue_drops),
            ("nonip", c.nonip),
            ("undecodable", c.undecodable),
            ("unclassified", c.unclassified),
            ("filtered", c.filtered),
            ("frag_unattributed", c.frag_unattributed),
            ("conn_evictions", c.conn_evictions),
            ("flows_out", c.flows_out),
            ("caplen_gt_len", c.caplen_gt_len),
            ("caplen_capped", c.caplen_capped),
            ("subscriptions", self.subscriptions),
        ] {
            v.push((n.to_string(), x.to_string()));
        }
        v
    }

    /// Prometheus text exposition: `vantage_packets_<name>` counters and gauges, per
    /// class series labelled `class`. The server's `/metrics` appends this as is.
    pub fn prometheus(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let mut one = |name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(s, "# HELP vantage_packets_{name} {help}");
            let _ = writeln!(s, "# TYPE vantage_packets_{name} {kind}");
            let _ = writeln!(s, "vantage_packets_{name} {v}");
        };
        let c = &self.counters;
        one("conns", "gauge", "Connections in the table.", self.conns.to_string());
        one("dyn_class", "gauge", "Dynamic class assignments alive.", self.dyn_class.to_string());
        one("subscriptions", "gauge", "Subscriptions alive.", self.subscriptions.to_string());
        one(
            "pcap_recv_total",
            "counter",
            "Packets the kernel delivered.",
            self.kernel.recv.to_string(),
        );
        one(
            "pcap_drop_total",
            "counter",
            "Packets the kernel dropped.",
            self.kernel.drop.to_string(),
        );
        for (n, h, x) in [
            ("tot_pkts_total", "Packets seen.", c.tot_pkts),
            ("tot_bytes_total", "Wire bytes seen.", c.tot_bytes),
            ("query_pkts_total", "Packets returned by queries.", self.query_pkts),
            ("query_bytes_total", "Bytes returned by queries.", self.query_bytes),
            ("ring_drops_total", "Packets lost to a ring full of unwritten packets.", c.ring_drops),
            ("queue_drops_total", "Packets lost between capture and storage.", c.queue_drops),
            ("nonip_total", "Non-IP packets.", c.nonip),
            ("undecodable_total", "IP packets that could not be decoded.", c.undecodable),
            ("unclassified_total", "Packets of no class.", c.unclassified),
            (
                "frag_unattributed_total",
                "Non-first fragments without their first.",
                c.frag_unattributed,
            ),
            ("conn_evictions_total", "Connections evicted at max_conns.", c.conn_evictions),
            ("flows_out_total", "Flow rows emitted.", c.flows_out),
            ("caplen_gt_len_total", "Packets with caplen above wire length.", c.caplen_gt_len),
            ("caplen_capped_total", "Packets stored truncated to snaplen.", c.caplen_capped),
        ] {
            one(n, "counter", h, x.to_string());
        }
        type Field = fn(&ClassSnapshot) -> String;
        let per: [(&str, &str, &str, Field); 6] = [
            ("stored_pkts_total", "counter", "Packets stored per class.", |x| {
                x.stored_pkts.to_string()
            }),
            ("stored_bytes_total", "counter", "Captured bytes stored per class.", |x| {
                x.stored_bytes.to_string()
            }),
            ("cut_pkts_total", "counter", "Packets cut per class.", |x| x.cut_pkts.to_string()),
            ("cut_bytes_total", "counter", "Captured bytes cut per class.", |x| {
                x.cut_bytes.to_string()
            }),
            ("mem_bytes", "gauge", "Bytes in the memory ring per class.", |x| {
                x.mem_bytes.to_string()
            }),
            ("mem_dt_seconds", "gauge", "Time span in the memory ring per class.", |x| {
                format!("{:.3}", x.mem_dt_s)
            }),
        ];
        for (n, kind, h, f) in per {
            let _ = writeln!(s, "# HELP vantage_packets_{n} {h}");
            let _ = writeln!(s, "# TYPE vantage_packets_{n} {kind}");
            for c in &self.classes {
                let name = c.name.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(s, "vantage_packets_{n}{{class=\"{name}\"}} {}", f(c));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_every_series_once() {
        let mut snap = Snapshot { conns: 3, ..Default::default() };
        snap.counters.tot_pkts = 7;
        snap.classes.push(ClassSnapshot {
            name: "web".into(),
            stored_pkts: 5,
            ..Default::default()
        });
        let t = snap.prometheus();
        assert!(t.contains("vantage_packets_conns 3\n"));
        assert!(t.contains("vantage_packets_tot_pkts_total 7\n"));
        assert!(t.contains("vantage_packets_stored_pkts_total{class=\"web\"} 5\n"));
        for l in t.lines().filter(|l| l.starts_with("# TYPE")) {
            assert_eq!(t.matches(l).count(), 1, "{l}");
        }
        let lines = snap.lines();
        assert!(lines.iter().any(|(k, v)| k == "totPkts" && v == "7"));
    }
}
