//! Integration tests of the can format: real files, real `tar` and `lz4` where installed,
//! a real crash.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use vantage_can::{
    index, verify, write_dir, Can, CanError, RecordField, WriteOutcome, Writer, WriterOptions,
};
use vantage_core::{Exit, HasExit};

/// Deterministic bytes: JSON-ish text with some noise, so that LZ4 has work to do.
fn data(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let words = [
        &b"{\"probe_cc\":\"IT\","[..],
        b"\"test_keys\":{",
        b"\"blocking\":false}",
        b"\n",
        b"0123456789abcdef",
    ];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 5 == 0 {
            out.extend_from_slice(&x.to_le_bytes());
        } else {
            out.extend_from_slice(words[(x % words.len() as u64) as usize]);
        }
    }
    out.truncate(n);
    out
}

/// Writes files into `dir`: name → contents.
fn make_dir(dir: &Path, files: &[(&str, Vec<u8>)]) {
    for (name, bytes) in files {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
}

fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.json", data(1, 1000)),
        ("empty.json", Vec::new()),
        ("one.json", b"x".to_vec()),
        ("block.json", data(2, 512)),
        ("big/over-target.json", data(3, 700_000)),
        ("big/way-over-target.json", data(4, 3_000_000)),
        ("sub/dir/b.json", data(5, 100_000)),
        ("z.json", data(6, 200_000)),
        (
            "long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
            data(7, 3000),
        ),
    ]
}

/// A can of `sample_files()` in a fresh directory: (tempdir, input dir, can path).
fn sample_can(opts: WriterOptions) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = vantage_testkit::tempdir();
    let input = tmp.path().join("in");
    make_dir(&input, &sample_files());
    let can = tmp.path().join("out.tar.lz4");
    let outcome = write_dir(&input, &can, opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, WriteOutcome::Written(_)));
    (tmp, input, can)
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("notice: `{tool}` is not installed; test skipped");
    }
    ok
}

/// Asserts the error's message is one line, names `path` first and has `where_` (e.g.
/// "offset 0"), and its exit code is `exit`.
fn assert_error(e: &CanError, path: &Path, where_: &str, exit: Exit) {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "multi-line: {msg}");
    assert!(
        msg.starts_with(&format!("{}: ", path.display())),
        "{msg} does not start with {}",
        path.display()
    );
    assert!(msg.contains(where_), "{msg} lacks {where_:?}");
    assert_eq!(e.exit(), exit, "{msg}");
}

mod compat {
    use super::*;

    #[test]
    fn tar_lists_every_member() {
        if !have("tar") || !have("lz4") {
            return;
        }
        let (_tmp, _input, can) = sample_can(WriterOptions::default());
        let out = Command::new("tar").arg("-I").arg("lz4").arg("-tf").arg(&can).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listed: Vec<String> =
            String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
        let mut want: Vec<String> = sample_files().iter().map(|(n, _)| n.to_string()).collect();
        want.sort();
        assert_eq!(listed, want);
    }

    #[test]
    fn tar_extracts_the_input_and_lz4_reads_the_whole_file() {
        if !have("tar") || !have("lz4") {
            return;
        }
        let (tmp, input, can) =
            sample_can(WriterOptions { frame_target: 4096, ..WriterOptions::default() });
        let x = tmp.path().join("x");
        fs::create_dir(&x).unwrap();
        let st = Command::new("tar")
            .arg("-I")
            .arg("lz4")
            .arg("-xf")
            .arg(&can)
            .arg("-C")
            .arg(&x)
            .status()
            .unwrap();
        assert!(st.success());
        for (name, bytes) in sample_files() {
            assert!(fs::read(x.join(name)).unwrap() == bytes, "{name}");
            assert!(fs::read(input.join(name)).unwrap() == bytes);
        }
        let out = Command::new("lz4").arg("-dc").arg(&can).output().unwrap();
        assert!(out.status.success());
        let idx = index::Index::load(&index::index_path(&can)).unwrap();
        assert_eq!(out.stdout.len() as u64, idx.summary().text_size);
    }
    #[test]
    fn tar_reads_a_records_can() {
        if !have("tar") || !have("lz4") {
            return;
        }
        let tmp = vantage_testkit::tempdir();
        let can = tmp.path().join("clean.tar.lz4");
        let mut w =
            Writer::create(&can, WriterOptions { frame_target: 4096, ..WriterOptions::default() })
                .unwrap();
        w.begin_records("2024-01-01/m.jsonl").unwrap();
        let mut want = Vec::new();
        for i in 0..500u64 {
            let line = format!("{{\"n\":{i},\"s\":\"{}\"}}", "z".repeat((i % 300) as usize));
            w.add_record(line.as_bytes()).unwrap();
            want.extend_from_slice(line.as_bytes());
            want.push(b'\n');
        }
        w.end_records().unwrap();
        w.finish().unwrap();
        let out = Command::new("tar")
            .arg("-I")
            .arg("lz4")
            .arg("-xOf")
            .arg(&can)
            .arg("2024-01-01/m.jsonl")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout == want);
    }
}

mod read {
    use super::*;

    #[test]
    fn cat_is_byte_identical() {
        for background in [true, false] {
            let (_tmp, input, can) =
                sample_can(WriterOptions { background, ..WriterOptions::default() });
            let c = Can::open(&can).unwrap();
            assert_eq!(c.members().len(), sample_files().len());
            for (name, bytes) in sample_files() {
                assert!(c.read_member(name).unwrap() == bytes, "{name}");
                let mut out = Vec::new();
                assert_eq!(c.copy_member(name, &mut out).unwrap(), bytes.len() as u64);
                assert!(out == fs::read(input.join(name)).unwrap(), "{name}");
            }
            let e = c.read_member("nope").unwrap_err();
            assert_error(&e, &can, "no member named \"nope\"", Exit::Usage);
        }
    }

    #[test]
    fn a_member_is_one_frame_unless_larger_than_the_target() {
        let (_tmp, _input, can) = sample_can(WriterOptions::default());
        let c = Can::open(&can).unwrap();
        let frames = c.index().frames();
        for m in c.members() {
            let f = frames.iter().find(|f| f.file_off == m.locator.frame_off).unwrap();
            assert_eq!(f.file_size, m.locator.frame_size, "{} spans frames", m.name);
            if m.size + 1024 <= vantage_can::DEFAULT_FRAME_TARGET as u64 {
                assert!(f.text_size <= vantage_can::DEFAULT_FRAME_TARGET as u64);
            } else {
                // Alone in its frame: header(s), data, padding.
                assert!(f.text_size >= m.size && f.text_size < m.size + 2048, "{}", m.name);
            }
        }
    }

    #[test]
    fn same_input_same_bytes() {
        let a = sample_can(WriterOptions::default());
        let b = sample_can(WriterOptions { background: false, ..WriterOptions::default() });
        assert!(fs::read(&a.2).unwrap() == fs::read(&b.2).unwrap());
        assert_eq!(
            fs::read(index::index_path(&a.2)).unwrap(),
            fs::read(index::index_path(&b.2)).unwrap()
        );
    }

    #[test]
    fn published_read_only_with_no_temporaries() {
        let (tmp, _input, can) = sample_can(WriterOptions::default());
        assert!(fs::metadata(&can).unwrap().permissions().readonly());
        assert!(fs::metadata(index::index_path(&can)).unwrap().permissions().readonly());
        let names: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");
    }

    #[test]
    fn empty_can() {
        let tmp = vantage_testkit::tempdir();
        let can = tmp.path().join("e.tar.lz4");
        let s = Writer::create(&can, WriterOptions::default()).unwrap().finish().unwrap();
        assert_eq!((s.members, s.frames, s.text_size), (0, 1, 1024));
        verify(&can).unwrap();
        assert_eq!(Can::open(&can).unwrap().members().len(), 0);
    }
}

mod rerun {
    use super::*;

    #[test]
    fn same_input_verifies_instead_of_rewriting() {
        let (_tmp, input, can) = sample_can(WriterOptions::default());
        let before = fs::metadata(&can).unwrap().modified().unwrap();
        let again = write_dir(&input, &can, WriterOptions::default()).unwrap();
        assert!(matches!(again, WriteOutcome::AlreadyPresent(_)), "{again:?}");
        assert_eq!(fs::metadata(&can).unwrap().modified().unwrap(), before);
    }

    #[test]
    fn changed_input_is_an_error_naming_the_difference() {
        let (_tmp, input, can) = sample_can(WriterOptions::default());
        type Change<'a> = Box<dyn Fn() + 'a>;
        let cases: Vec<(&str, Change)> = vec![
            ("has sha1", Box::new(|| fs::write(input.join("a.json"), data(99, 1000)).unwrap())),
            (
                "1001 in the input",
                Box::new(|| fs::write(input.join("a.json"), data(1, 1001)).unwrap()),
            ),
            ("is not in the can", Box::new(|| fs::write(input.join("zz.json"), b"new").unwrap())),
        ];
        for (want, change) in cases {
            let a = fs::read(input.join("a.json")).unwrap();
            change();
            let e = write_dir(&input, &can, WriterOptions::default()).unwrap_err();
            assert_error(&e, &can, want, Exit::Rejected);
            fs::write(input.join("a.json"), a).unwrap();
            let _ = fs::remove_file(input.join("zz.json"));
        }
        fs::remove_file(input.join("one.json")).unwrap();
        let e = write_dir(&input, &can, WriterOptions::default()).unwrap_err();
        assert_error(&e, &can, "where the input has", Exit::Rejected);
    }

    #[test]
    fn output_inside_input_is_left_out() {
        let tmp = vantage_testkit::tempdir();
        make_dir(tmp.path(), &[("a.json", data(1, 10)), ("b/c.json", data(2, 20))]);
        let can = tmp.path().join("self.tar.lz4");
        write_dir(tmp.path(), &can, WriterOptions::default()).unwrap();
        assert_eq!(
            Can::open(&can).unwrap().members().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["a.json", "b/c.json"]
        );
        assert!(matches!(
            write_dir(tmp.path(), &can, WriterOptions::default()).unwrap(),
            WriteOutcome::AlreadyPresent(_)
        ));
    }

    #[test]
    fn writer_never_overwrites() {
        let (_tmp, _input, can) = sample_can(WriterOptions::default());
        let e = Writer::create(&can, WriterOptions::default()).err().unwrap();
        assert_error(&e, &can, "never overwritten", Exit::Usage);
    }
}

mod records {
    use super::*;

    fn lines() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = (0..400u64)
            .map(|i| {
                format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat((i * 37 % 900) as usize))
                    .into_bytes()
            })
            .collect();
        v.insert(10, Vec::new()); // an empty line is a record too
        v.insert(200, vec![b'y'; 20_000]); // larger than the frame target: a frame of its own
        v
    }

    #[test]
    fn records_read_back_one_by_one() {
        for (background, spool_limit) in [(true, 8 << 20), (false, 4096)] {
            let tmp = vantage_testkit::tempdir();
            let can = tmp.path().join("clean.tar.lz4");
            let opts = WriterOptions {
                frame_target: 8192,
                background,
                spool_limit,
                ..WriterOptions::default()
            };
            let mut w = Writer::create(&can, opts).unwrap();
            w.add_index_line(serde_json::json!({"type": "report", "textname": "r1"})).unwrap();
            w.add_bytes("raw-first.json", b"{}").unwrap();
            w.begin_records("m.jsonl").unwrap();
            for (i, l) in lines().iter().enumerate() {
                let mut line = l.clone();
                if i % 2 == 0 {
                    line.push(b'\n'); // one trailing newline is accepted
                }
                assert_eq!(w.add_record(&line).unwrap(), i as u64);
                let fill = [
                    ("text_off", RecordField::TextOff),
                    ("text_size", RecordField::Size),
                    ("frame_off", RecordField::FrameOff),
                ];
                w.add_record_index_line(serde_json::json!({"type": "datum", "n": i}), &fill)
                    .unwrap();
            }
            let info = w.end_records().unwrap();
            w.begin_records("empty.jsonl").unwrap();
            w.end_records().unwrap();
            w.add_bytes("raw-last.json", b"[1]").unwrap();
            let s = w.finish().unwrap();
            assert_eq!(s.records, lines().len() as u64);
            assert_eq!(info.records, Some(lines().len() as u64));
            verify(&can).unwrap_or_else(|e| panic!("{e}"));

            let c = Can::open(&can).unwrap();
            let recs = c.records("m.jsonl");
            assert_eq!(recs.len(), lines().len());
            for (r, want) in recs.iter().zip(lines()) {
                assert!(c.read_record(r).unwrap() == want, "record at {}", r.member_off);
                if want.len() <= 8000 {
                    let f = c.index().frame_at(r.text_off).unwrap();
                    assert!(r.text_off + r.size < f.text_end(), "record spans frames");
                    assert_eq!(r.locator.frame_size, f.file_size);
                }
            }
            let whole: Vec<u8> =
                lines().iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            assert!(c.read_member("m.jsonl").unwrap() == whole);
            assert_eq!(c.read_member("empty.jsonl").unwrap(), b"");
            assert_eq!(c.read_member("raw-last.json").unwrap(), b"[1]");
            assert!(c.records("raw-last.json").is_empty());

            // The kinds' lines come back, in order, each inside the frame of its record.
            let idx_path = index::index_path(&can);
            let datums = index::lines_of_type(&idx_path, "datum").unwrap();
            assert_eq!(datums.len(), lines().len());
            assert_eq!(index::lines_of_type(&idx_path, "report").unwrap()[0].0, 2);
            let mut open_frame = None;
            let mut last_record_frame = None;
            for item in index::lines(&idx_path).unwrap() {
                let (_, v) = item.unwrap();
                match v["type"].as_str().unwrap() {
                    "frame" => open_frame = v["file_off"].as_u64(),
                    "/frame" => open_frame = None,
                    "record" => last_record_frame = v["frame_off"].as_u64(),
                    "datum" => {
                        assert_eq!(open_frame, last_record_frame, "{v}");
                        assert_eq!(v["frame_off"].as_u64(), last_record_frame);
                        let n = v["n"].as_u64().unwrap() as usize;
                        assert_eq!(v["text_off"].as_u64(), Some(recs[n].text_off));
                        assert_eq!(v["text_size"].as_u64(), Some(recs[n].size));
                    }
                    _ => {}
                }
            }
            if !background {
                assert!(tmp.path().read_dir().unwrap().all(|e| !e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("spool")));
            }
        }
    }

    #[test]
    fn out_of_order_calls_are_refused() {
        let tmp = vantage_testkit::tempdir();
        let can = tmp.path().join("c.tar.lz4");
        let mut w = Writer::create(&can, WriterOptions::default()).unwrap();
        assert!(w.add_record(b"{}").is_err());
        assert!(w.end_records().is_err());
        w.begin_records("m").unwrap();
        assert!(w.add_bytes("x", b"").is_err());
        assert!(w.add_record(b"a\nb").is_err());
        assert!(w.add_index_line(serde_json::json!({"type": "member"})).is_err());
        assert!(w.add_index_line(serde_json::json!(["not an object"])).is_err());
        assert!(w.add_record_index_line(serde_json::json!({"type": "datum"}), &[]).is_err()); // no record yet
        assert!(w.add_bytes("../escape", b"").is_err());
        w.add_record(b"{}").unwrap();
        let e = w.finish().err().unwrap();
        assert_error(&e, &can, "end_records first", Exit::Usage);
        assert!(!can.exists() && !index::index_path(&can).exists());
        assert_eq!(tmp.path().read_dir().unwrap().count(), 0, "temporaries left");
    }
}

mod damage {
    use super::*;

    fn flip(path: &Path, at: u64) {
        let mut bytes = fs::read(path).unwrap();
        bytes[at as usize] ^= 0x5a;
        let mut perms = fs::metadata(path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)] // tests only: the can is read-only
        perms.set_readonly(false);
        fs::set_permissions(path, perms).unwrap();
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn flipping_one_byte_anywhere_fails_verify_at_its_frame() {
        let tmp = vantage_testkit::tempdir();
        let can = tmp.path().join("f.tar.lz4");
        let mut w =
            Writer::create(&can, WriterOptions { frame_target: 2048, ..WriterOptions::default() })
                .unwrap();
        for i in 0..12u64 {
            w.add_bytes(&format!("m{i}.json"), &data(i, (i * 997 % 5000) as usize)).unwrap();
        }
        w.begin_records("r.jsonl").unwrap();
        for i in 0..40u64 {
            w.add_record(
                &data(100 + i, (i * 131 % 700) as usize)
                    .iter()
                    .map(|b| if *b == b'\n' { b' ' } else { *b })
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        }
        w.end_records().unwrap();
        w.finish().unwrap();
        let pristine = fs::read(&can).unwrap();
        let frames = Can::open(&can).unwrap().index().frames().to_vec();
        assert!(frames.len() > 10, "{} frames", frames.len());
        let mut positions: Vec<u64> = (0..64).collect();
        for f in &frames {
            positions.extend(
                (f.file_off..(f.file_off + 16).min(f.file_end()))
                    .chain(f.file_end().saturating_sub(8)..f.file_end()),
            );
        }
        positions.extend((0..pristine.len() as u64).step_by(37));
        positions.sort();
        positions.dedup();
        for at in positions {
            flip(&can, at);
            let frame = frames.iter().find(|f| f.file_off <= at && at < f.file_end()).unwrap();
            let e = verify(&can).err().unwrap_or_else(|| panic!("flip at {at} passed verify"));
            assert_error(&e, &can, &format!(": offset {}: ", frame.file_off), Exit::Rejected);
            flip(&can, at);
        }
        assert!(fs::read(&can).unwrap() == pristine);
        verify(&can).unwrap();
    }

    #[test]
    fn bad_inputs_each_get_a_one_line_error_with_file_and_offset() {
        let (tmp, _input, can) = sample_can(WriterOptions::default());
        let idx = index::index_path(&can);

        // Not a can at all: garbage, and an empty file.
        let junk = tmp.path().join("junk.tar.lz4");
        fs::write(&junk, b"this is not an lz4 file at all").unwrap();
        assert_error(&verify(&junk).unwrap_err(), &junk, "offset 0: not a can", Exit::Rejected);
        assert_error(&Can::open(&junk).unwrap_err(), &junk, "offset 0: not a can", Exit::Rejected);
        fs::write(&junk, b"").unwrap();
        assert_error(&verify(&junk).unwrap_err(), &junk, "offset 0: not a can", Exit::Rejected);

        // LZ4, but not tar inside.
        let notar = tmp.path().join("notar.tar.lz4");
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut enc, &b"plain text, no tar header here\n".repeat(100))
            .unwrap();
        fs::write(&notar, enc.finish().unwrap()).unwrap();
        assert_error(
            &verify(&notar).unwrap_err(),
            &notar,
            "offset 0: not a tar stream",
            Exit::Rejected,
        );

        // Missing file, missing index.
        let gone = tmp.path().join("gone.tar.lz4");
        assert_error(&verify(&gone).unwrap_err(), &gone, "No such file", Exit::Usage);
        assert_error(&Can::open(&gone).unwrap_err(), &gone, "No such file", Exit::Usage);
        let lone = tmp.path().join("lone.tar.lz4");
        fs::copy(&can, &lone).unwrap();
        let e = verify(&lone).unwrap_err();
        assert!(matches!(e, CanError::IndexMissing { .. }));
        assert_error(&e, &index::index_path(&lone), "index missing", Exit::Rejected);

        // Truncated can: the frame that runs past the end is named.
        let short = tmp.path().join("short.tar.lz4");
        let bytes = fs::read(&can).unwrap();
        fs::write(&short, &bytes[..bytes.len() - 10]).unwrap();
        fs::copy(&idx, index::index_path(&short)).unwrap();
        let last = Can::open(&can).unwrap().index().frames().last().unwrap().file_off;
        assert_error(
            &verify(&short).unwrap_err(),
            &short,
            &format!("offset {last}: corrupt frame"),
            Exit::Rejected,
        );
        assert_error(&Can::open(&short).unwrap_err(), &short, "truncated", Exit::Rejected);

        // Corrupt frame, read by index: the member read fails naming the frame.
        let c = Can::open(&can).unwrap();
        let m = c.member("z.json").unwrap().clone();
        drop(c);
        flip(&can, m.locator.frame_off + m.locator.frame_size / 2);
        let e = Can::open(&can).unwrap().read_member("z.json").unwrap_err();
        assert_error(&e, &can, &format!("offset {}: ", m.locator.frame_off), Exit::Rejected);
        flip(&can, m.locator.frame_off + m.locator.frame_size / 2);

        // Malformed index line: named by line.
        let text = fs::read_to_string(&idx).unwrap();
        let mut perms = fs::metadata(&idx).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)] // tests only: the index is read-only
        perms.set_readonly(false);
        fs::set_permissions(&idx, perms).unwrap();
        let line3: Vec<&str> = text.lines().collect();
        let broken: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| if i == 2 { "{not json\n".to_string() } else { format!("{l}\n") })
            .collect();
        fs::write(&idx, &broken).unwrap();
        assert_error(&verify(&can).unwrap_err(), &idx, "line 3: bad index", Exit::Rejected);

        // Wrong checksum in the index. Left as is, the index's own checksum catches it...
        let bad_sha = text.replacen(&m.sha1, &"0".repeat(40), 1);
        fs::write(&idx, &bad_sha).unwrap();
        let e = verify(&can).unwrap_err();
        assert_error(
            &e,
            &idx,
            &format!("line {}: bad index: index checksum mismatch", line3.len()),
            Exit::Rejected,
        );
        // ...and with the trailer made to match, the data do: can, frame offset, member.
        fs::write(&idx, with_trailer(&bad_sha)).unwrap();
        let e = verify(&can).unwrap_err();
        assert_error(
            &e,
            &can,
            &format!("offset {}: member z.json", m.locator.frame_off),
            Exit::Rejected,
        );
        assert!(e.to_string().contains("sha1 mismatch"), "{e}");
        let e = Can::open(&can).unwrap().read_member("z.json").unwrap_err();
        assert_error(&e, &can, "sha1 mismatch", Exit::Rejected);
        fs::write(&idx, &text).unwrap();
        verify(&can).unwrap();
    }

    /// Recomputes the `/index` trailer of an edited index.
    fn with_trailer(text: &str) -> String {
        let body: String = text
            .lines()
            .filter(|l| !l.contains("\"type\":\"/index\""))
            .map(|l| format!("{l}\n"))
            .collect();
        let n = body.lines().count();
        format!(
            "{body}{{\"crc32\":{},\"lines\":{n},\"type\":\"/index\"}}\n",
            crc32fast::hash(body.as_bytes())
        )
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Unit {
        Raw(usize),
        Records(Vec<usize>),
    }

    fn unit() -> impl Strategy<Value = Unit> {
        prop_oneof![
            4 => prop_oneof![Just(0usize), 1usize..600, 500usize..5000, 5000usize..70_000].prop_map(Unit::Raw),
            1 => prop::collection::vec(prop_oneof![0usize..50, 50usize..3000, Just(20_000usize)], 0..30).prop_map(Unit::Records),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn random_members_read_back_by_index(
            units in prop::collection::vec(unit(), 0..14),
            target in prop_oneof![Just(1024usize), 1024usize..20_000, Just(65_536usize)],
            background in any::<bool>(),
        ) {
            let tmp = vantage_testkit::tempdir();
            let can = tmp.path().join("p.tar.lz4");
            let mut w = Writer::create(&can, WriterOptions { frame_target: target, background, ..WriterOptions::default() }).unwrap();
            let mut want: Vec<(String, Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
            for (i, u) in units.iter().enumerate() {
                let name = if i % 5 == 4 { format!("{}/{i}.json", "d".repeat(120)) } else { format!("m{i}.json") };
                match u {
                    Unit::Raw(n) => {
                        let bytes = data(i as u64, *n);
                        w.add_member(&name, *n as u64, &bytes[..]).unwrap();
                        want.push((name, bytes, Vec::new()));
                    }
                    Unit::Records(lens) => {
                        w.begin_records(&name).unwrap();
                        let recs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(j, n)| vec![b'a' + (j % 26) as u8; *n]).collect();
                        for r in &recs {
                            w.add_record(r).unwrap();
                        }
                        w.end_records().unwrap();
                        let whole = recs.iter().flat_map(|r| r.iter().copied().chain([b'\n'])).collect();
                        want.push((name, whole, recs));
                    }
                }
            }
            w.finish().unwrap();
            verify(&can).unwrap_or_else(|e| panic!("{e}"));
            let c = Can::open(&can).unwrap();
            prop_assert_eq!(c.members().len(), want.len());
            for (name, bytes, recs) in &want {
                let entry = c.member(name).unwrap();
                prop_assert!(&c.read_entry(entry).unwrap() == bytes, "member {}", name);
                let got = c.records(name);
                prop_assert_eq!(got.len(), recs.len());
                for (r, want) in got.iter().zip(recs) {
                    prop_assert!(&c.read_record(r).unwrap() == want);
                }
            }
        }
    }
}

mod crash {
    use super::*;

    const DIR_VAR: &str = "VANTAGE_CAN_CRASH_DIR";

    fn input(dir: &Path) -> PathBuf {
        let input = dir.join("in");
        if !input.exists() {
            let files: Vec<(String, Vec<u8>)> =
                (0..40).map(|i| (format!("f{i:02}.json"), data(i, 300_000))).collect();
            let refs: Vec<(&str, Vec<u8>)> =
                files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
            make_dir(&input, &refs);
        }
        input
    }

    /// Run by `kill_mid_write_leaves_no_can` in a child process: starts canning and aborts
    /// half-way. Does nothing when run as an ordinary test.
    #[test]
    fn child() {
        let Some(dir) = std::env::var_os(DIR_VAR).map(PathBuf::from) else { return };
        let input = input(&dir);
        let mut files = 0;
        let _ = vantage_can::write_dir_with_progress(
            &input,
            &dir.join("out.tar.lz4"),
            WriterOptions::default(),
            &mut |_, _| {
                files += 1;
                if files == 20 {
                    std::process::abort();
                }
            },
        );
        unreachable!("the child should have aborted");
    }

    #[test]
    fn kill_mid_write_leaves_no_can() {
        let tmp = vantage_testkit::tempdir();
        let dir = tmp.path();
        let input = input(dir);
        let out = dir.join("out.tar.lz4");
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["crash::child", "--exact", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir)
            .status()
            .unwrap();
        assert!(!status.success(), "the child did not abort");
        assert!(!out.exists(), "a partial can is visible");
        assert!(!index::index_path(&out).exists(), "an index is visible");
        let leftovers: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(!leftovers.is_empty(), "the child wrote nothing before aborting");
        let partial =
            fs::metadata(dir.join(leftovers.iter().find(|n| n.ends_with("out.tar.lz4")).unwrap()))
                .unwrap()
                .len();
        assert!(partial > 0, "the abort came before any can byte");

        let again = write_dir(&input, &out, WriterOptions::default()).unwrap();
        assert!(matches!(again, WriteOutcome::Written(_)));
        let s = verify(&out).unwrap();
        assert_eq!(s.members, 40);
        let left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(left.is_empty(), "the re-run left the crash's temporaries: {left:?}");
        assert!(Can::open(&out).unwrap().read_member("f39.json").unwrap() == data(39, 300_000));
    }
}
