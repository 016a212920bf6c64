//! A file's lines as merge items (spec §3.2: canonical order and what each line does),
//! built on the thread that parsed the file, ahead of its turn. At its turn only the
//! stored ids are added ([`Itemized::offset`]), so the warehouse waits for the merge
//! alone, not also for a pass over the lines that needs no warehouse.

use std::sync::Arc;

use crate::cell::Cell;
use crate::merge::{Action, Item, OrderKey};
use crate::parse::{Line, LineType};

/// The file lines come from, as the canonical order ranks it.
#[derive(Debug, Clone)]
pub(crate) struct FileOrder {
    /// File name.
    pub name: Arc<str>,
    /// The file's FIRST.
    pub first: i64,
    /// The file's SERIAL.
    pub serial: u64,
}

/// One file's merge items. Ids count from 0 in the file until [`Itemized::offset`]:
/// row k is its k-th O line, event j its j-th C or `*` line.
#[derive(Debug)]
pub(crate) struct Itemized {
    /// One per line, in file order.
    pub items: Vec<Item>,
    /// The line of row k.
    pub opens: Vec<usize>,
    /// The line of event j.
    pub events: Vec<usize>,
    /// C lines.
    pub closes: i64,
    /// `*` lines.
    pub close_alls: i64,
}

/// The items of `lines` (of `file`), with the key and copy-on-close cells of a table whose
/// key columns are `keys` and copy-on-close columns `copies`.
pub(crate) fn itemize(
    lines: &[Line],
    file: &FileOrder,
    keys: &[usize],
    copies: &[usize],
) -> Itemized {
    let mut out = Itemized {
        items: Vec::with_capacity(lines.len()),
        opens: Vec::new(),
        events: Vec::new(),
        closes: 0,
        close_alls: 0,
    };
    for (at, l) in lines.iter().enumerate() {
        let order = OrderKey {
            created: l.created,
            first: file.first,
            serial: file.serial,
            file: file.name.clone(),
            ikey: l.ikey,
            line: l.line,
        };
        let pick = |idx: &[usize]| {
            idx.iter().map(|&i| l.cells.get(i).cloned().unwrap_or(Cell::Null)).collect()
        };
        let action = match l.ty {
            LineType::Open => {
                out.opens.push(at);
                Action::Open { id: out.opens.len() as i64 - 1, keys: pick(keys) }
            }
            ty => {
                out.events.push(at);
                let event = out.events.len() as i64 - 1;
                if ty == LineType::Close {
                    out.closes += 1;
                    Action::Close { event, keys: pick(keys), copies: pick(copies) }
                } else {
                    out.close_alls += 1;
                    Action::CloseAll { event }
                }
            }
        };
        out.items.push(Item { order, action });
    }
    out
}

impl Itemized {
    /// Moves the ids to the stored ones: rows from `row_base`, events from `event_base`.
    pub fn offset(&mut self, row_base: i64, event_base: i64) {
        for it in &mut self.items {
            match &mut it.action {
                Action::Open { id, .. } => *id += row_base,
                Action::Close { event, .. } | Action::CloseAll { event } => *event += event_base,
            }
        }
    }
}
