//! The bench's peer input: converts flat files into PostgreSQL COPY text files, one per
//! table, plus `schema.sql` (unindexed tables) and `load.sql` (`\copy` of each), so that a
//! plain `psql -1 -f load.sql` loads the same rows as `vantage netstate import`.
//!
//! `cargo run --release -p vantage-netstate --example copy_convert -- OUT_DIR FILE...`

use std::collections::BTreeMap;
use std::io::Write;

use vantage_netstate::{builtin_tables, parse_file, Cell, ColType, FileName};

fn escape_text(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            other => out.push(other),
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out_dir) = args.next() else {
        eprintln!("usage: copy_convert OUT_DIR FILE...");
        std::process::exit(1);
    };
    let out_dir = std::path::PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir).expect("create OUT_DIR");
    let defs = builtin_tables();
    let mut outs: BTreeMap<String, std::io::BufWriter<std::fs::File>> = BTreeMap::new();
    let mut rows = 0u64;
    for path in args {
        let name = std::path::Path::new(&path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let Some(f) = FileName::parse(&name) else { continue };
        let Some(def) = defs.iter().find(|d| d.name == f.table) else { continue };
        let data = std::fs::read(&path).expect("read file");
        let lines =
            parse_file(&data, def).unwrap_or_else(|e| panic!("{path}:{}: {}", e.line, e.reason));
        let w = outs.entry(def.name.clone()).or_insert_with(|| {
            let p = out_dir.join(format!("{}.copy", def.name.to_lowercase()));
            std::io::BufWriter::new(std::fs::File::create(p).expect("create copy file"))
        });
        let mut buf = Vec::new();
        for l in &lines {
            buf.clear();
            write!(buf, "{}\t{}\t{}", l.ikey as i64, l.ty.as_str(), l.created).ok();
            for (c, v) in def.columns.iter().zip(&l.cells) {
                buf.push(b'\t');
                match v {
                    Cell::Null => buf.extend_from_slice(b"\\N"),
                    Cell::Int(i) => write!(buf, "{i}").unwrap_or(()),
                    Cell::Text(s) => escape_text(s.as_bytes(), &mut buf),
                    Cell::Bytes(b) => {
                        buf.extend_from_slice(b"\\\\x");
                        buf.extend_from_slice(hex::encode(b).as_bytes());
                    }
                }
                let _ = c;
            }
            buf.push(b'\n');
            w.write_all(&buf).expect("write");
        }
        rows += lines.len() as u64;
    }
    let mut schema = String::new();
    let mut load = String::new();
    for def in &defs {
        if !outs.contains_key(&def.name) {
            continue;
        }
        let t = format!("bench_{}", def.name.to_lowercase());
        let cols: Vec<String> = def
            .columns
            .iter()
            .map(|c| {
                let ty = match c.ty {
                    ColType::Text(_) => "TEXT",
                    ColType::Bytes(_) => "BYTEA",
                    _ => "BIGINT",
                };
                format!("{} {ty}", c.name.to_lowercase())
            })
            .collect();
        schema.push_str(&format!(
            "DROP TABLE IF EXISTS {t};\nCREATE TABLE {t} (id BIGINT, type TEXT, created_dt BIGINT, {});\n",
            cols.join(", ")
        ));
        load.push_str(&format!(
            "\\copy {t} FROM '{}'\n",
            out_dir.join(format!("{}.copy", def.name.to_lowercase())).display()
        ));
    }
    for w in outs.values_mut() {
        w.flush().expect("flush");
    }
    std::fs::write(out_dir.join("schema.sql"), schema).expect("schema.sql");
    std::fs::write(out_dir.join("load.sql"), load).expect("load.sql");
    println!("{rows}");
}
