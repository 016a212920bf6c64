//! Generic tables (spec §2): a TOML definition declares a new controller table, and
//! `vantage netstate table add FILE` stores it in the warehouse, so every importer of
//! that warehouse agrees on it and a new controller table needs no code. Re-adding a
//! definition with extra nullable columns extends the table; other changes are refused.

use serde::Deserialize;
use vantage_warehouse::{Sql, WarehouseError};

use crate::schema::{builtin, ColType, Column, Display, TableDef, TableKind};
use crate::store;

/// The TOML form of a definition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableToml {
    name: String,
    kind: String,
    #[serde(default)]
    column: Vec<ColumnToml>,
}

/// One `[[column]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnToml {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    key: bool,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    copy_on_close: bool,
    #[serde(default)]
    display: Option<String>,
}

/// Why a definition was refused; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum DefineError {
    /// Not TOML of the expected shape.
    #[error("not a table definition: {0}")]
    Syntax(String),
    /// A rule of spec §2 is broken.
    #[error("{0}")]
    Invalid(String),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// What [`add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defined {
    /// A new table, with its (empty) storage and view.
    Created(TableDef),
    /// An existing table gained these columns.
    Extended(TableDef, Vec<String>),
    /// The same definition was already stored.
    Unchanged(TableDef),
}

fn invalid(msg: impl Into<String>) -> DefineError {
    DefineError::Invalid(msg.into())
}

fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Parses and checks a TOML definition (spec §2's rules), without touching a warehouse.
pub fn parse(text: &str) -> Result<TableDef, DefineError> {
    let t: TableToml = toml::from_str(text).map_err(|e| DefineError::Syntax(e.to_string()))?;
    let name = t.name;
    if !valid_ident(&name) || name.len() > 48 || name.starts_with("NS_") {
        return Err(invalid(format!(
            "table name {name:?}: [A-Z][A-Z0-9_]*, at most 48 characters, not starting NS_"
        )));
    }
    let reserved = ["SNAPSHOT", "LOAD_LOG", "SOURCE", "TABLE", "FILE", "REJECT"];
    if reserved.contains(&name.as_str())
        || ["_ROW", "_CLOSE", "_CLOSE_EVENT"].iter().any(|s| name.ends_with(s))
    {
        return Err(invalid(format!(
            "table name {name}: its view would take the name of a storage table; choose another"
        )));
    }
    if builtin(&name).is_some() {
        return Err(invalid(format!("{name} is a shipped table; its definition cannot change")));
    }
    let kind = match t.kind.as_str() {
        "state" => TableKind::State,
        "event" => TableKind::Event,
        other => return Err(invalid(format!("kind {other:?}: \"state\" or \"event\""))),
    };
    if t.column.is_empty() {
        return Err(invalid(format!("{name}: no [[column]]")));
    }
    let mut columns: Vec<Column> = Vec::with_capacity(t.column.len());
    for c in t.column {
        let cname = c.name;
        if !valid_ident(&cname)
            || cname.starts_with("NS_")
            || ["ID", "TYPE", "CREATED_DT", "DELETED_DT"].contains(&cname.as_str())
        {
            return Err(invalid(format!(
                "{name}.{cname}: column names are [A-Z][A-Z0-9_]*; ID, TYPE, CREATED_DT, DELETED_DT and NS_* are reserved"
            )));
        }
        if columns.iter().any(|k| k.name == cname) {
            return Err(invalid(format!("{name}.{cname}: declared twice")));
        }
        let ty = ColType::parse(&c.ty).ok_or_else(|| {
            invalid(format!(
                "{name}.{cname}: type {:?}: u16 i16 u32 i32 u64 i64 text(N) bytes(N)",
                c.ty
            ))
        })?;
        let display = Display::parse(c.display.as_deref().unwrap_or("")).ok_or_else(|| {
            invalid(format!("{name}.{cname}: display: mac, ipv4, ipv6, dpid or hex"))
        })?;
        if kind == TableKind::Event && (c.key || c.copy_on_close) {
            return Err(invalid(format!(
                "{name}.{cname}: an event table has no closes, so no key or copy_on_close columns"
            )));
        }
        if c.key && c.copy_on_close {
            return Err(invalid(format!("{name}.{cname}: a key is never copied on close")));
        }
        columns.push(Column {
            name: cname,
            ty,
            key: c.key,
            required: c.required,
            copy_on_close: c.copy_on_close,
            display,
        });
    }
    if kind == TableKind::State && !columns.iter().any(|c| c.key) {
        return Err(invalid(format!("{name}: a state table needs a key column (key = true)")));
    }
    Ok(TableDef { name, kind, columns })
}

/// Stores `def` (from [`parse`]) in the caller's transaction: creates its storage, or
/// extends a stored table of the same name by the columns `def` adds at its end.
pub fn add(db: &mut dyn Sql, def: &TableDef) -> Result<Defined, DefineError> {
    let Some(old) = crate::tables::lookup(db, &def.name)? else {
        store::ensure_table(db, def)?;
        return Ok(Defined::Created(def.clone()));
    };
    if &old == def {
        return Ok(Defined::Unchanged(old));
    }
    let same_start = old.kind == def.kind
        && old.columns.len() <= def.columns.len()
        && old.columns.iter().zip(&def.columns).all(|(a, b)| a == b);
    let extra = &def.columns[old.columns.len().min(def.columns.len())..];
    if !same_start || extra.iter().any(|c| c.key || c.required || c.copy_on_close) {
        return Err(invalid(format!(
            "{}: a stored table only takes extra nullable columns at the end \
             (not key, not required, not copy_on_close); everything else must stay as stored",
            def.name
        )));
    }
    let added: Vec<String> = extra.iter().map(|c| c.name.clone()).collect();
    store::add_columns(db, def, extra)?;
    Ok(Defined::Extended(def.clone(), added))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW7: &str = r#"
name = "FLOW7"
kind = "state"
[[column]]
name = "DP_ID"
type = "u64"
key = true
required = true
display = "dpid"
[[column]]
name = "NOTE"
type = "text(64)"
[[column]]
name = "BYTES"
type = "u64"
copy_on_close = true
"#;

    #[test]
    fn definitions_parse_and_the_rules_hold() {
        let def = parse(FLOW7).unwrap();
        assert_eq!(def.kind, TableKind::State);
        assert_eq!(def.columns[1].ty, ColType::Text(64));
        assert_eq!(def.keys(), [0]);
        assert_eq!(def.copies(), [2]);
        for (from, to, why) in [
            ("\"FLOW7\"", "\"flow7\"", "table name"),
            ("\"FLOW7\"", "\"NS_X\"", "table name"),
            ("\"FLOW7\"", "\"LINKS_ROW\"", "storage table"),
            ("\"FLOW7\"", "\"FLOW\"", "shipped"),
            ("\"state\"", "\"interval\"", "kind"),
            ("\"NOTE\"", "\"DELETED_DT\"", "reserved"),
            ("\"text(64)\"", "\"text(0)\"", "type"),
            ("\"dpid\"", "\"octal\"", "display"),
            ("key = true\n", "", "needs a key"),
        ] {
            let err = parse(&FLOW7.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(err.contains(why), "{from} -> {to}: {err}");
        }
        assert!(matches!(parse("name = 1"), Err(DefineError::Syntax(_))));
        assert!(matches!(parse(&format!("{FLOW7}\nsurprise = 1")), Err(DefineError::Syntax(_))));
    }
}
