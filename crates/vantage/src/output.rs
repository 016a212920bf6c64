//! Printing rows as a table, CSV or JSON (`--format`).

use std::io::{self, Write};

use vantage_warehouse::{Rows, Value};

use crate::context::Format;

/// Prints `rows` to stdout in `format`.
pub fn print_rows(rows: &Rows, format: Format) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    write_rows(&mut out, rows, format)?;
    out.flush()
}

/// Writes `rows` in `format`.
pub fn write_rows(out: &mut dyn Write, rows: &Rows, format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            let objects = rows.to_json_objects();
            serde_json::to_writer_pretty(&mut *out, &objects)?;
            writeln!(out)
        }
        Format::Csv => {
            writeln!(
                out,
                "{}",
                rows.columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",")
            )?;
            for r in &rows.rows {
                let line: Vec<String> = r.iter().map(|v| csv_field(&v.to_text())).collect();
                writeln!(out, "{}", line.join(","))?;
            }
            Ok(())
        }
        Format::Table => write_table(
            out,
            &rows.columns,
            &rows
                .rows
                .iter()
                .map(|r| r.iter().map(Value::to_text).collect())
                .collect::<Vec<Vec<String>>>(),
        ),
    }
}

/// Aligned columns: numbers right-aligned, text left-aligned.
pub fn write_table(out: &mut dyn Write, header: &[String], rows: &[Vec<String>]) -> io::Result<()> {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count().min(80));
            }
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            !rows.is_empty()
                && rows
                    .iter()
                    .all(|r| r.get(i).is_some_and(|c| c.is_empty() || c.parse::<f64>().is_ok()))
        })
        .collect();
    let line = |out: &mut dyn Write, cells: &[String]| -> io::Result<()> {
        let mut parts = Vec::with_capacity(cells.len());
        for (i, c) in cells.iter().enumerate() {
            let w = width.get(i).copied().unwrap_or(0);
            let c: String = if c.chars().count() > 80 {
                c.chars().take(77).chain("...".chars()).collect()
            } else {
                c.clone()
            };
            parts.push(if numeric.get(i).copied().unwrap_or(false) {
                format!("{c:>w$}")
            } else {
                format!("{c:<w$}")
            });
        }
        writeln!(out, "{}", parts.join("  ").trim_end())
    };
    line(out, header)?;
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for r in rows {
        line(out, r)?;
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        let rows = Rows {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec!["x,y".into(), Value::Int(3)], vec![Value::Null, "q\"".into()]],
        };
        let mut out = Vec::new();
        write_rows(&mut out, &rows, Format::Csv).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,b\n\"x,y\",3\n,\"q\"\"\"\n");
    }

    #[test]
    fn table_aligns_numbers_right() {
        let rows = Rows {
            columns: vec!["kind".into(), "n".into()],
            rows: vec![
                vec!["reports".into(), Value::Int(12)],
                vec!["passive".into(), Value::Int(3)],
            ],
        };
        let mut out = Vec::new();
        write_rows(&mut out, &rows, Format::Table).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "kind      n\n-------  --\nreports  12\npassive   3\n"
        );
    }
}
