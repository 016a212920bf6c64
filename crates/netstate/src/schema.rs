//! Table definitions (spec §2 "The five tables", §6 FLOW6): columns, their types and their
//! key / required / copy-on-close flags. The importer, the merge and the queries read a
//! table only through its [`TableDef`], so a new controller table needs no code.

use serde::Serialize;

/// The value type of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum ColType {
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit.
    U32,
    /// Signed 32-bit.
    I32,
    /// Unsigned 64-bit, stored bit-cast in a signed 64-bit column.
    U64,
    /// Signed 64-bit.
    I64,
    /// UTF-8 text of at most N characters.
    Text(usize),
    /// Bytes, at most N.
    Bytes(usize),
}

impl ColType {
    /// The inclusive range of an integer type, `None` for text and bytes.
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            ColType::U16 => (0, i128::from(u16::MAX)),
            ColType::I16 => (i128::from(i16::MIN), i128::from(i16::MAX)),
            ColType::U32 => (0, i128::from(u32::MAX)),
            ColType::I32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
            ColType::U64 => (0, i128::from(u64::MAX)),
            ColType::I64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
            ColType::Text(_) | ColType::Bytes(_) => return None,
        })
    }

    /// True for the unsigned integer types (a leading `-` is out of range).
    pub fn unsigned(self) -> bool {
        matches!(self, ColType::U16 | ColType::U32 | ColType::U64)
    }

    /// A type as definitions write it: `u16` … `i64`, `text(N)`, `bytes(N)` with N > 0.
    pub fn parse(t: &str) -> Option<ColType> {
        let sized = |prefix: &str| -> Option<usize> {
            t.strip_prefix(prefix)?.strip_suffix(')')?.parse().ok().filter(|&n| n > 0)
        };
        Some(match t {
            "u16" => ColType::U16,
            "i16" => ColType::I16,
            "u32" => ColType::U32,
            "i32" => ColType::I32,
            "u64" => ColType::U64,
            "i64" => ColType::I64,
            _ => match (sized("text("), sized("bytes(")) {
                (Some(n), _) => ColType::Text(n),
                (_, Some(n)) => ColType::Bytes(n),
                _ => return None,
            },
        })
    }

    /// The SQL column type (portable stand-ins of the warehouse's migrations).
    pub fn sql(self) -> &'static str {
        match self {
            ColType::Text(_) => "TEXT",
            ColType::Bytes(_) => "{blob}",
            _ => "BIGINT",
        }
    }
}

/// How a column's value is shown in the table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Display {
    /// As is.
    Plain,
    /// 48-bit MAC, `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// IPv4 dotted quad.
    Ipv4,
    /// IPv6 (16 bytes).
    Ipv6,
    /// Datapath id in hex.
    Dpid,
    /// Lowercase hex.
    Hex,
}

impl Display {
    /// A display as definitions write it (empty or `plain`: as is).
    pub fn parse(d: &str) -> Option<Display> {
        Some(match d {
            "" | "plain" => Display::Plain,
            "mac" => Display::Mac,
            "ipv4" => Display::Ipv4,
            "ipv6" => Display::Ipv6,
            "dpid" => Display::Dpid,
            "hex" => Display::Hex,
            _ => return None,
        })
    }
}

/// One column of a controller table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Column {
    /// Name as in the flat files' headers (upper case).
    pub name: String,
    /// Value type.
    pub ty: ColType,
    /// Compared by C rows.
    pub key: bool,
    /// Must be non-NULL in O rows.
    pub required: bool,
    /// A non-NULL value in a C row replaces the closed row's value.
    pub copy_on_close: bool,
    /// Table-format rendering.
    pub display: Display,
}

impl Column {
    /// The SQL column name: lower case, so NOX-era SQL works unquoted on both backends.
    pub fn sql_name(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// Whether rows are intervals or instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum TableKind {
    /// O opens, C and `*` close: intervals.
    State,
    /// O makes a zero-length row; C and `*` do nothing.
    Event,
}

/// A controller table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TableDef {
    /// NOX name, e.g. `FLOW`.
    pub name: String,
    /// State or event.
    pub kind: TableKind,
    /// Columns in definition order.
    pub columns: Vec<Column>,
}

impl TableDef {
    /// The column named `name` (upper case), with its index.
    pub fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.columns.iter().enumerate().find(|(_, c)| c.name == name)
    }

    /// Indexes of the key columns.
    pub fn keys(&self) -> Vec<usize> {
        (0..self.columns.len()).filter(|&i| self.columns[i].key).collect()
    }

    /// Indexes of the copy-on-close columns.
    pub fn copies(&self) -> Vec<usize> {
        (0..self.columns.len()).filter(|&i| self.columns[i].copy_on_close).collect()
    }

    /// The lower-case stem of its storage tables and view: `netstate_<stem>`.
    pub fn stem(&self) -> String {
        format!("netstate_{}", self.name.to_ascii_lowercase())
    }
}

/// Parses the compact column list used for the shipped tables:
/// `NAME:type:flags` with flags from `k`, `r`, `c` and display after `/`.
fn cols(spec: &str) -> Vec<Column> {
    spec.split_whitespace()
        .filter_map(|item| {
            let mut parts = item.split(':');
            let name = parts.next()?.to_string();
            let ty = ColType::parse(parts.next()?)?;
            let flags = parts.next().unwrap_or("");
            let display = Display::parse(parts.next().unwrap_or("")).unwrap_or(Display::Plain);
            Some(Column {
                name,
                ty,
                key: flags.contains('k'),
                required: flags.contains('r'),
                copy_on_close: flags.contains('c'),
                display,
            })
        })
        .collect()
}

fn def(name: &str, kind: TableKind, spec: &str) -> TableDef {
    TableDef { name: name.into(), kind, columns: cols(spec) }
}

/// The shipped tables: the five of spec §2 and FLOW6 of §6.
pub fn builtin_tables() -> Vec<TableDef> {
    vec![
        def(
            "FLOW",
            TableKind::State,
            "DP_ID:u64:kr:dpid PORT_ID:u16:k ETH_VLAN:u16: ETH_TYPE:u16: SOURCE_MAC:u64:k:mac \
             DESTINATION_MAC:u64:k:mac SOURCE_IP:u32:k:ipv4 SOURCE_IP_MASK:u32::ipv4 \
             DESTINATION_IP:u32:k:ipv4 DESTINATION_IP_MASK:u32::ipv4 PROTOCOL_ID:u16:k \
             SOURCE_PORT:u16:k DESTINATION_PORT:u16:k DURATION:u32:c PACKET_COUNT:u64:c \
             BYTE_COUNT:u64:c",
        ),
        def(
            "FLOW6",
            TableKind::State,
            "DP_ID:u64:kr:dpid PORT_ID:u16:k ETH_VLAN:u16: ETH_TYPE:u16: SOURCE_MAC:u64:k:mac \
             DESTINATION_MAC:u64:k:mac SOURCE_IP:bytes(16):k:ipv6 DESTINATION_IP:bytes(16):k:ipv6 \
             PROTOCOL_ID:u16:k SOURCE_PORT:u16:k DESTINATION_PORT:u16:k DURATION:u32:c \
             PACKET_COUNT:u64:c BYTE_COUNT:u64:c",
        ),
        def(
            "FLOW_SETUP",
            TableKind::Event,
            "DP_ID:u64:r:dpid PORT_ID:u16:r REASON:u16:r BUFFER:bytes(9000):r:hex TOTAL_LEN:u32:",
        ),
        def(
            "LLDP_LINKS",
            TableKind::State,
            "DP1:u64:kr:dpid PORT1:u16:kr DP2:u64:kr:dpid PORT2:u16:kr",
        ),
        def("LEARNING", TableKind::State, "SWITCH_ID:u64:kr:dpid MAC:u64:kr:mac PORT_ID:u16:kr"),
        def(
            "PF",
            TableKind::State,
            "MAC:u64:kr:mac IP:u32:kr:ipv4 P0F_OS:text(1024): P0F_DESCR:text(1024): \
             P0F_WSS_MISS:u16: P0F_DF_MISS:u16: P0F_ACC:u16: PF_OS:text(1024):",
        ),
    ]
}

/// The shipped table named `name`.
pub fn builtin(name: &str) -> Option<TableDef> {
    builtin_tables().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_tables_have_the_spec_flags() {
        let flow = builtin("FLOW").unwrap();
        assert_eq!(flow.columns.len(), 16);
        let keys: Vec<&str> = flow.keys().iter().map(|&i| flow.columns[i].name.as_str()).collect();
        assert_eq!(
            keys,
            [
                "DP_ID",
                "PORT_ID",
                "SOURCE_MAC",
                "DESTINATION_MAC",
                "SOURCE_IP",
                "DESTINATION_IP",
                "PROTOCOL_ID",
                "SOURCE_PORT",
                "DESTINATION_PORT"
            ]
        );
        assert_eq!(flow.copies().len(), 3);
        let setup = builtin("FLOW_SETUP").unwrap();
        assert_eq!(setup.kind, TableKind::Event);
        assert_eq!(setup.columns[3].ty, ColType::Bytes(9000));
        assert_eq!(builtin("PF").unwrap().columns[2].ty, ColType::Text(1024));
        assert_eq!(builtin("FLOW6").unwrap().columns[6].ty, ColType::Bytes(16));
        assert_eq!(builtin_tables().len(), 6);
    }
}
