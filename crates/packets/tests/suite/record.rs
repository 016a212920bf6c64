//! Recording, querying, retention, restart and crash recovery, on conformance files and
//! on synthetic traffic generated here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vantage_packets::synth::{generate, write_pcap, SynthOptions};
use vantage_packets::{
    query, read_all, ClassConfig, Cutoff, DiskBudget, EndReason, Frame, PacketsConfig, Query,
    Recorder,
};
use vantage_testkit as testkit;

pub(crate) fn conformance_config(dir: &Path, cutoff: Cutoff) -> PacketsConfig {
    let text = std::fs::read_to_string(dir.join("conformance.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut cfg: PacketsConfig = table["packets"].clone().try_into().unwrap();
    for c in &mut cfg.class {
        c.cutoff = cutoff;
    }
    cfg
}

/// Maps each returned packet back to its index in the file (first unused equal packet).
fn indices(frames: &[Frame], hits: &[query::Hit]) -> Vec<u64> {
    let mut used = vec![false; frames.len()];
    hits.iter()
        .map(|h| {
            let i = frames
                .iter()
                .enumerate()
                .position(|(i, f)| {
                    !used[i] && f.ts_ns == h.ts_ns && f.wirelen == h.wirelen && f.data == h.data
                })
                .unwrap_or_else(|| panic!("returned packet at {} not in the file", h.ts_ns));
            used[i] = true;
            i as u64
        })
        .collect()
}

pub(crate) fn captures(dir: &Path) -> Vec<(String, PathBuf, serde_json::Value)> {
    testkit::files(&dir.join("expected"), "json")
        .into_iter()
        .map(|e| {
            let name =
                e.file_name().unwrap().to_string_lossy().trim_end_matches(".json").to_string();
            (name.clone(), dir.join(&name), testkit::read_json(&e))
        })
        .collect()
}

#[test]
fn conn4_queries_return_the_reference_flows() {
    let Some(dir) = testkit::conformance("packets") else { return };
    let mut flows_checked = 0;
    for (name, capture, want) in captures(&dir) {
        let tmp = testkit::tempdir();
        let cfg = conformance_config(&dir, Cutoff::Off);
        let mut rec = Recorder::open(tmp.path(), &cfg).unwrap();
        let out = rec.read_file(&capture).unwrap();
        assert!(out.error.is_none(), "{name}: {:?}", out.error);
        rec.finish(EndReason::EndOfInput).unwrap();
        let frames = read_all(&capture).unwrap();
        for flow in want["vantage"]["flows"].as_array().unwrap() {
            let key = flow["key"].as_str().unwrap();
            let q = Query::index("conn4", key).unwrap();
            let r = query::run(tmp.path(), &["all".into()], &q).unwrap();
            let got = indices(&frames, &r.hits);
            let mut expect: Vec<u64> =
                flow["packets"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            expect.sort_by_key(|i| (frames[*i as usize].ts_ns, *i));
            assert_eq!(got, expect, "{name}: {key}");
            flows_checked += 1;
        }
    }
    assert!(flows_checked > 30, "{flows_checked}");
}

#[test]
fn flows_and_cutoff_equal_the_reference_model() {
    let Some(dir) = testkit::conformance("packets") else { return };
    for (name, capture, want) in captures(&dir) {
        let tmp = testkit::tempdir();
        let cfg = conformance_config(&dir, Cutoff::Bytes(10_000));
        let mut rec = Recorder::open(tmp.path(), &cfg).unwrap();
        rec.read_file(&capture).unwrap();
        let mut flows = rec.take_flows();
        flows.extend(rec.finish(EndReason::EndOfInput).unwrap());
        flows.sort_by_key(|f| f.conn.first_ns);
        let expected = want["vantage"]["flows"].as_array().unwrap();
        assert_eq!(flows.len(), expected.len(), "{name}");
        let mut by_orig: HashMap<String, &serde_json::Value> = HashMap::new();
        for e in expected {
            let k = format!(
                "{} {} {} {} {}",
                e["proto"],
                e["orig"].as_str().unwrap(),
                e["orig_port"],
                e["resp"].as_str().unwrap(),
                e["resp_port"]
            );
            by_orig.insert(k, e);
        }
        for f in &flows {
            let c = &f.conn;
            let k = format!(
                "{} {} {} {} {}",
                c.key.proto,
                vantage_packets::flows_addr(&c.orig.0),
                c.orig.1,
                vantage_packets::flows_addr(&c.resp.0),
                c.resp.1
            );
            let e = by_orig.get(&k).unwrap_or_else(|| panic!("{name}: unexpected flow {k}"));
            let got = [
                c.pkts[0],
                c.bytes[0],
                c.pkts[1],
                c.bytes[1],
                c.stored_pkts,
                c.stored_bytes,
                c.cut_pkts,
                c.cut_bytes,
            ];
            let exp: Vec<u64> = [
                "pkts_orig",
                "bytes_orig",
                "pkts_resp",
                "bytes_resp",
                "stored_pkts",
                "stored_bytes",
                "cut_pkts",
                "cut_bytes",
            ]
            .iter()
            .map(|f| e[*f].as_u64().unwrap())
            .collect();
            assert_eq!(got.to_vec(), exp, "{name}: {k}");
        }
        // Stored = packets - cut: every stored packet is queryable with a filter "".
        let r = query::run(tmp.path(), &["all".into()], &Query::filter("").unwrap()).unwrap();
        let cut: usize = expected.iter().map(|e| e["cut_packets"].as_array().unwrap().len()).sum();
        assert_eq!(r.hits.len(), want["packet_count"].as_u64().unwrap() as usize - cut, "{name}");
    }
}

fn synth_config(cutoff: Cutoff, filesize: u64, disk: DiskBudget) -> PacketsConfig {
    let mut c = ClassConfig::new("all", "");
    c.cutoff = cutoff;
    c.filesize = vantage_packets::ByteSize(filesize);
    c.disk = disk;
    PacketsConfig { class: vec![c], ..Default::default() }
}

#[test]
fn cutoff_matches_an_independent_count() {
    let tmp = testkit::tempdir();
    let trace = tmp.path().join("t.pcap");
    let opts = SynthOptions {
        short_conns: 60,
        bulk_conns: 3,
        bulk_bytes: 200_000,
        dns: 30,
        ..Default::default()
    };
    write_pcap(&trace, &opts).unwrap();
    let limit = 15 * 1024;
    // Independent count: per connection (5-tuple, either direction), in arrival order.
    type Tuple = (u8, Vec<u8>, u16, Vec<u8>, u16);
    let mut seen: HashMap<Tuple, u64> = HashMap::new();
    let (mut want_pkts, mut want_bytes) = (0u64, 0u64);
    generate(&opts, |f| {
        let v6 = f.data[12..14] == [0x86, 0xdd];
        let (l4, proto, src, dst) = if v6 {
            (54, f.data[20], f.data[22..38].to_vec(), f.data[38..54].to_vec())
        } else {
            (34, f.data[23], f.data[26..30].to_vec(), f.data[30..34].to_vec())
        };
        let sp = u16::from_be_bytes([f.data[l4], f.data[l4 + 1]]);
        let dp = u16::from_be_bytes([f.data[l4 + 2], f.data[l4 + 3]]);
        let key = if (src.clone(), sp) <= (dst.clone(), dp) {
            (proto, src, sp, dst, dp)
        } else {
            (proto, dst, dp, src, sp)
        };
        let b = seen.entry(key).or_default();
        *b += f.data.len() as u64;
        let ctl = proto == 6 && f.data[l4 + 13] & 0x07 != 0;
        if ctl || *b <= limit {
            want_pkts += 1;
            want_bytes += f.data.len() as u64;
        }
        true
    });
    let store = tmp.path().join("store");
    let mut rec =
        Recorder::open(&store, &synth_config(Cutoff::Bytes(limit), 1 << 20, DiskBudget::Unlimited))
            .unwrap();
    rec.read_file(&trace).unwrap();
    rec.finish(EndReason::EndOfInput).unwrap();
    let st = vantage_packets::stats(&store).unwrap();
    let c = &st.classes[0];
    assert_eq!((c.stored_pkts, c.stored_bytes), (want_pkts, want_bytes));
    assert!(c.cut_pkts > 0, "the bulk transfers cross the cutoff");
    assert_eq!(c.disk_pkts, want_pkts);
    assert!(st.index_pct_of_stored > 0.0);
}

#[test]
fn retention_keeps_the_newest_within_disk_and_restart_keeps_them_queryable() {
    let tmp = testkit::tempdir();
    let trace = tmp.path().join("t.pcap");
    let opts = SynthOptions {
        short_conns: 400,
        bulk_conns: 2,
        bulk_bytes: 300_000,
        dns: 100,
        ..Default::default()
    };
    write_pcap(&trace, &opts).unwrap();
    let store = tmp.path().join("store");
    let disk = 3 * 64 * 1024;
    let cfg = synth_config(Cutoff::Off, 64 * 1024, DiskBudget::Bytes(disk));
    let mut rec = Recorder::open(&store, &cfg).unwrap();
    rec.read_file(&trace).unwrap();
    rec.finish(EndReason::EndOfInput).unwrap();
    let st = vantage_packets::stats(&store).unwrap();
    let c = &st.classes[0];
    assert!(c.disk_bytes + c.index_bytes <= disk + 64 * 1024, "{} > budget", c.disk_bytes);
    assert!(st.counters.segments_evicted > 0);
    let frames = read_all(&trace).unwrap();
    let last = frames.last().unwrap().ts_ns;
    let first = frames[0].ts_ns;
    // The newest packet is kept; the oldest time is evicted and the summary says so.
    let q = Query { end: Some(first), ..Query::filter("").unwrap() };
    let r = query::run(&store, &[], &q).unwrap();
    assert!(r.hits.is_empty());
    assert!(r.summary(&q).contains("evicted"), "{}", r.summary(&q));
    let all = query::run(&store, &[], &Query::filter("").unwrap()).unwrap();
    assert_eq!(all.hits.last().unwrap().ts_ns, last);
    // Restart: the old segments stay and stay queryable; segids continue.
    let before = all.hits.len();
    let unlimited = synth_config(Cutoff::Off, 64 * 1024, DiskBudget::Unlimited);
    let mut rec = Recorder::open(&store, &unlimited).unwrap();
    assert_eq!(rec.store().recovery, Default::default());
    let tiny = tmp.path().join("tiny.pcap");
    write_pcap(
        &tiny,
        &SynthOptions {
            short_conns: 1,
            bulk_conns: 0,
            dns: 0,
            start_ns: last + 1_000_000_000,
            ..Default::default()
        },
    )
    .unwrap();
    let added = rec.read_file(&tiny).unwrap().packets as usize;
    rec.finish(EndReason::EndOfInput).unwrap();
    let after = query::run(&store, &[], &Query::filter("").unwrap()).unwrap();
    assert_eq!(after.hits.len(), before + added, "old data kept after restart");
    assert!(after.hits.last().unwrap().ts_ns > last);
}

#[test]
fn crash_mid_stream_recovers_every_packet_on_disk() {
    let tmp = testkit::tempdir();
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions { short_conns: 100, bulk_conns: 1, dns: 20, ..Default::default() },
    )
    .unwrap();
    let frames = read_all(&trace).unwrap();
    let store = tmp.path().join("store");
    let cfg = synth_config(Cutoff::Off, 128 * 1024, DiskBudget::Unlimited);
    let mut rec = Recorder::open(&store, &cfg).unwrap();
    let half = frames.len() / 2;
    for f in &frames[..half] {
        rec.record(f).unwrap();
    }
    rec.flush().unwrap();
    // kill -9: nothing more is written, the open segment stays .open, plus a torn record.
    rec.crash();
    let open: Vec<PathBuf> = testkit::files(&store, "open");
    assert_eq!(open.len(), 1);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&open[0]).unwrap();
        f.write_all(&[1, 2, 3, 4, 5, 6, 7]).unwrap();
    }
    // A damaged index and an orphan index are repaired too.
    let vidx = testkit::files(&store, "vidx");
    std::fs::write(&vidx[0], b"garbage").unwrap();
    std::fs::write(vidx[0].with_file_name("999999999999-20000101T000000Z.vidx"), b"x").unwrap();
    let rec = Recorder::open(&store, &cfg).unwrap();
    let rc = rec.store().recovery;
    assert_eq!((rc.reopened, rc.reindexed, rc.removed), (1, 1, 1));
    rec.finish(EndReason::Shutdown).unwrap();
    for v in testkit::files(&store, "vidx") {
        vantage_packets::Vidx::read(&v).unwrap_or_else(|e| panic!("{e}"));
    }
    let r = query::run(&store, &[], &Query::filter("").unwrap()).unwrap();
    assert_eq!(r.hits.len(), half, "every flushed packet is back");
    assert_eq!(indices(&frames, &r.hits), (0..half as u64).collect::<Vec<_>>());
}

#[test]
fn index_levels_only_speed_up() {
    let tmp = testkit::tempdir();
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions {
            short_conns: 150,
            bulk_conns: 2,
            bulk_bytes: 100_000,
            dns: 40,
            ..Default::default()
        },
    )
    .unwrap();
    let mut results = Vec::new();
    for levels in [0u32, 3] {
        let store = tmp.path().join(format!("s{levels}"));
        let mut cfg = synth_config(Cutoff::Bytes(4000), 32 * 1024, DiskBudget::Unlimited);
        cfg.index_levels = levels;
        cfg.merge_fanout = 2;
        let mut rec = Recorder::open(&store, &cfg).unwrap();
        rec.read_file(&trace).unwrap();
        let flows = rec.finish(EndReason::EndOfInput).unwrap();
        let merged = testkit::files(&store.join("index"), "vidx");
        assert_eq!(merged.is_empty(), levels == 0, "{merged:?}");
        if levels == 3 {
            assert!(merged.iter().any(|m| m
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("L3-")));
        }
        let mut got = Vec::new();
        for f in flows.iter().step_by(7) {
            let c = &f.conn;
            let a = vantage_packets::flows_addr(&c.orig.0);
            let b = vantage_packets::flows_addr(&c.resp.0);
            for (kind, key) in [
                ("conn4", c.key.to_string()),
                ("ip", a.clone()),
                ("conn2", format!("{a} {b}")),
                ("port", c.orig.1.to_string()),
            ] {
                let r = query::run(&store, &[], &Query::index(kind, &key).unwrap()).unwrap();
                assert!(!r.hits.is_empty(), "{kind} {key}");
                got.push((kind, key, r.hits));
            }
        }
        results.push(got);
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn full_disk_closes_what_reached_it_and_stops() {
    let tmp = testkit::tempdir();
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions { short_conns: 60, bulk_conns: 1, dns: 10, ..Default::default() },
    )
    .unwrap();
    let frames = read_all(&trace).unwrap();
    let store = tmp.path().join("store");
    let cfg = synth_config(Cutoff::Off, 1 << 20, DiskBudget::Unlimited);
    let mut rec = Recorder::open(&store, &cfg).unwrap();
    rec.inject_enospc_at(100_000);
    let err = rec.read_file(&trace).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("disk full on ") && msg.contains("recording stopped;"), "{msg}");
    assert!(msg.contains("packets in memory still queryable"), "{msg}");
    assert_eq!(vantage_core::HasExit::exit(&err), vantage_core::Exit::Storage);
    assert!(rec.record(&frames[0]).is_err(), "recording stays stopped");
    drop(rec);
    assert!(testkit::files(&store, "open").is_empty(), "the open segment was closed");
    let r = query::run(&store, &[], &Query::filter("").unwrap()).unwrap();
    assert!(!r.hits.is_empty());
    let got = indices(&frames, &r.hits);
    assert_eq!(
        got,
        (0..got.len() as u64).collect::<Vec<_>>(),
        "a prefix of the input reached the disk"
    );
    let seg = testkit::files(&store, "pcap");
    assert!(std::fs::metadata(&seg[0]).unwrap().len() <= 100_000);
    // A restart finds nothing to repair: the segment was cut back and indexed.
    let rec = Recorder::open(&store, &cfg).unwrap();
    assert_eq!(rec.store().recovery, Default::default());
}

#[test]
fn ip_queries_equal_host_filters() {
    let tmp = testkit::tempdir();
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions {
            short_conns: 300,
            bulk_conns: 2,
            bulk_bytes: 100_000,
            dns: 80,
            ..Default::default()
        },
    )
    .unwrap();
    let store = tmp.path().join("store");
    let mut rec = Recorder::open(
        &store,
        &synth_config(Cutoff::Bytes(5000), 64 * 1024, DiskBudget::Unlimited),
    )
    .unwrap();
    rec.read_file(&trace).unwrap();
    let flows = rec.finish(EndReason::EndOfInput).unwrap();
    let mut checked = 0;
    for f in flows.iter().step_by(23) {
        let a = vantage_packets::flows_addr(&f.conn.orig.0);
        let by_index = query::run(&store, &[], &Query::index("ip", &a).unwrap()).unwrap();
        let by_filter =
            query::run(&store, &[], &Query::filter(&format!("host {a}")).unwrap()).unwrap();
        assert!(!by_index.hits.is_empty(), "{a}");
        assert_eq!(by_index.hits, by_filter.hits, "{a}");
        checked += 1;
    }
    assert!(checked > 5);
}
