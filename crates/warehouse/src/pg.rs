//! The PostgreSQL backend: the same statements, `?` rewritten to `$n`, bulk loads by COPY.

use std::error::Error as StdError;
use std::io::Write;

use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::GenericClient;

use crate::error::short_sql;
use crate::value::format_real;
use crate::{Rows, Value, WarehouseError};

type BoxError = Box<dyn StdError + Sync + Send>;

pub(crate) fn statement_error(sql: &str, e: postgres::Error) -> WarehouseError {
    let storage = e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            // 53: insufficient resources (disk full, out of memory); 08: connection; 58: system
            c.starts_with("53") || c.starts_with("08") || c.starts_with("58")
        });
    let message = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    WarehouseError::Statement { sql: short_sql(sql), message, storage }
}

/// Rewrites `?` placeholders outside quotes and comments to `$1, $2, ...`.
pub(crate) fn rewrite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    out.push(c);
                    for c in chars.by_ref() {
                        out.push(c);
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '?' => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                _ => out.push(c),
            },
        }
    }
    out
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, BoxError> {
        let mismatch = || -> BoxError { format!("cannot store {self:?} in a {ty} column").into() };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(mismatch()),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    format_real(*r).to_sql(&Type::TEXT, out)
                }
                _ => Err(mismatch()),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.trim().parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.trim().parse::<i32>()?.to_sql(ty, out),
                Type::INT2 => s.trim().parse::<i16>()?.to_sql(ty, out),
                Type::FLOAT8 => s.trim().parse::<f64>()?.to_sql(ty, out),
                Type::FLOAT4 => s.trim().parse::<f32>()?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::JSON | Type::JSONB => {
                    if *ty == Type::JSONB {
                        out.extend_from_slice(&[1]);
                    }
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                // As COPY's text format stores a blob in a text column: `\x` + hex.
                Type::TEXT | Type::VARCHAR | Type::BPCHAR => {
                    out.extend_from_slice(b"\\x");
                    out.extend_from_slice(hex::encode(b).as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(mismatch()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column value of any type Vantage's tables use, decoded to a [`Value`].
struct Decoded(Value);

impl<'a> FromSql<'a> for Decoded {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => decode_numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSONB => Value::Text(String::from_utf8_lossy(raw.get(1..).unwrap_or(&[])).into()),
            _ => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        };
        Ok(Decoded(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Decoded(Value::Null))
    }

    fn accepts(ty: &Type) -> bool {
        // Binary formats of the remaining types are text-like only for these.
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::OID
                | Type::BOOL
                | Type::FLOAT8
                | Type::FLOAT4
                | Type::NUMERIC
                | Type::BYTEA
                | Type::JSONB
                | Type::JSON
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
        )
    }
}

/// NUMERIC's binary form (sign, weight, scale, base-10000 digits) to an integer when it
/// has no fraction and fits, else a real: `SUM(bigint)` on PostgreSQL then equals SQLite's.
fn decode_numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(i * 2..i * 2 + 2).ok_or("short NUMERIC")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = word(0)?.max(0) as usize;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = word(3)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let mut int: Option<i128> = Some(0);
    let mut real = 0f64;
    let mut has_fraction = false;
    for i in 0..ndigits {
        let d = i32::from(word(4 + i)?);
        let power = weight - i as i32;
        real += f64::from(d) * 10000f64.powi(power);
        if power < 0 {
            has_fraction |= d != 0;
        } else {
            int = int.and_then(|acc| {
                acc.checked_add(i128::from(d).checked_mul(10000i128.checked_pow(power as u32)?)?)
            });
        }
    }
    if dscale == 0 && !has_fraction {
        if let Some(i) = int.and_then(|i| i64::try_from(if negative { -i } else { i }).ok()) {
            return Ok(Value::Int(i));
        }
    }
    Ok(Value::Real(if negative { -real } else { real }))
}

pub(crate) fn execute(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[Value],
) -> Result<u64, WarehouseError> {
    let pg_sql = rewrite_placeholders(sql);
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    c.execute(pg_sql.as_str(), &refs).map_err(|e| statement_error(sql, e))
}

pub(crate) fn query(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[Value],
) -> Result<Rows, WarehouseError> {
    let pg_sql = rewrite_placeholders(sql);
    let stmt = c.prepare(&pg_sql).map_err(|e| statement_error(sql, e))?;
    let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
    for col in stmt.columns() {
        if !<Decoded as FromSql>::accepts(col.type_()) {
            return Err(WarehouseError::Conversion(format!(
                "column {:?} has type {}, which Vantage does not read; cast it, e.g. CAST({} AS TEXT)",
                col.name(),
                col.type_(),
                col.name()
            )));
        }
    }
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let pg_rows = c.query(&stmt, &refs).map_err(|e| statement_error(sql, e))?;
    let mut rows = Vec::with_capacity(pg_rows.len());
    for r in &pg_rows {
        let mut out = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let d: Decoded = r.try_get(i).map_err(|e| statement_error(sql, e))?;
            out.push(d.0);
        }
        rows.push(out);
    }
    Ok(Rows { columns, rows })
}

pub(crate) fn batch(c: &mut impl GenericClient, sql: &str) -> Result<(), WarehouseError> {
    c.batch_execute(sql).map_err(|e| statement_error(sql, e))
}

/// One value in COPY's text format.
fn copy_field(out: &mut postgres::types::private::BytesMut, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Real(r) => out.extend_from_slice(format_real(*r).as_bytes()),
        Value::Text(s) => {
            for &b in s.as_bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    _ => out.extend_from_slice(&[b]),
                }
            }
        }
        Value::Blob(b) => {
            out.extend_from_slice(b"\\\\x");
            out.extend_from_slice(hex::encode(b).as_bytes());
        }
    }
}

/// Column types for which COPY's binary format stores every [`Value`] exactly as its
/// text format would: integers, reals, text and bytes. Any other column (JSON, dates,
/// booleans...) leaves the table on the text format, where the server parses the values.
fn binary_safe(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::INT8
            | Type::INT4
            | Type::INT2
            | Type::FLOAT8
            | Type::FLOAT4
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::BYTEA
    )
}

/// The types of `columns` of `table`, from a prepared `SELECT ... LIMIT 0` (one round
/// trip, nothing read).
fn column_types(
    c: &mut impl GenericClient,
    table: &str,
    columns: &[&str],
) -> Result<Vec<Type>, WarehouseError> {
    let sql = format!("SELECT {} FROM {table} LIMIT 0", columns.join(","));
    let stmt = c.prepare(&sql).map_err(|e| statement_error(&sql, e))?;
    Ok(stmt.columns().iter().map(|c| c.type_().clone()).collect())
}

/// The header of COPY's binary format: signature, flags, header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// One row in COPY's binary format: field count, then per field its length (-1: NULL)
/// and its bytes as [`ToSql`] encodes them for the column's type.
fn binary_row(
    out: &mut postgres::types::private::BytesMut,
    row: &[Value],
    types: &[Type],
) -> Result<(), BoxError> {
    out.extend_from_slice(&(row.len() as i16).to_be_bytes());
    for (v, ty) in row.iter().zip(types) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        let len = match v.to_sql(ty, out)? {
            IsNull::Yes => -1,
            IsNull::No => i32::try_from(out.len() - at - 4)?,
        };
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// Appends `rows` by `COPY ... FROM STDIN`. The data are streamed in 64 KiB messages as
/// they are encoded, so the server stores the first rows while the last are encoded.
/// When every column's type allows it ([`binary_safe`]), the binary format: the server
/// then copies integers instead of parsing their digits, which was most of its COPY time
/// for netstate's all-integer rows.
pub(crate) fn bulk_insert(
    c: &mut impl GenericClient,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<u64, WarehouseError> {
    if columns.is_empty() || rows.is_empty() {
        return Ok(0);
    }
    if let Some(row) = rows.iter().find(|r| r.len() != columns.len()) {
        return Err(WarehouseError::Conversion(format!(
            "bulk insert into {table}: a row has {} values for {} columns",
            row.len(),
            columns.len()
        )));
    }
    let types = column_types(c, table, columns)?;
    let binary = types.len() == columns.len() && types.iter().all(binary_safe);
    let sql = format!(
        "COPY {table} ({}) FROM STDIN{}",
        columns.join(","),
        if binary { " (FORMAT binary)" } else { "" }
    );
    let mut w = c.copy_in(sql.as_str()).map_err(|e| statement_error(&sql, e))?;
    let io = |e: std::io::Error| WarehouseError::Statement {
        sql: short_sql(&sql),
        message: e.to_string(),
        storage: true,
    };
    let mut buf = postgres::types::private::BytesMut::with_capacity(1 << 17);
    if binary {
        buf.extend_from_slice(BINARY_HEADER);
    }
    for row in rows {
        if binary {
            binary_row(&mut buf, row, &types).map_err(|e| {
                WarehouseError::Conversion(format!("bulk insert into {table}: {e}"))
            })?;
        } else {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    buf.extend_from_slice(b"\t");
                }
                copy_field(&mut buf, v);
            }
            buf.extend_from_slice(b"\n");
        }
        if buf.len() >= 1 << 16 {
            w.write_all(&buf).map_err(io)?;
            buf.clear();
        }
    }
    if binary {
        buf.extend_from_slice(&(-1i16).to_be_bytes());
    }
    w.write_all(&buf).map_err(io)?;
    w.finish().map_err(|e| statement_error(&sql, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_quotes_become_numbered() {
        assert_eq!(
            rewrite_placeholders("SELECT ?, '?', \"a?\", ? -- ?\n, ?"),
            "SELECT $1, '?', \"a?\", $2 -- ?\n, $3"
        );
    }

    #[test]
    fn numeric_decodes_integers_exactly() {
        // 12345678 = [1234, 5678], weight 1
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(decode_numeric(&raw).unwrap(), Value::Int(12_345_678));
        // -1.5 = [1, 5000], weight 0, dscale 1
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(decode_numeric(&raw).unwrap(), Value::Real(-1.5));
    }

    #[test]
    fn copy_text_escapes() {
        let mut out = postgres::types::private::BytesMut::new();
        copy_field(&mut out, &Value::Text("a\tb\\c\nd".into()));
        assert_eq!(&out[..], b"a\\tb\\\\c\\nd");
        out.clear();
        copy_field(&mut out, &Value::Blob(vec![0xde, 0xad]));
        assert_eq!(&out[..], b"\\\\xdead");
    }
}
