//! The temporal merge of one (table, source) (spec §3.2): lines apply in canonical order;
//! O opens, C closes every open row whose keys match (NULL is a wildcard), `*` closes all.
//!
//! The open set lives in memory: a fully keyed C is one hash lookup, a wildcard C a scan
//! of the source's open rows (NOX did a full-table UPDATE per CLOSE). The merge is pure:
//! it returns the closes to store, and the caller owns ids and storage.

use std::collections::HashMap;

use crate::cell::Cell;

/// A line's place in the canonical order: CREATED_DT, then file (FIRST, SERIAL, name),
/// then ID (or line), then line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// CREATED_DT, µs.
    pub created: i64,
    /// The file's FIRST.
    pub first: i64,
    /// The file's SERIAL.
    pub serial: u64,
    /// The file's name (shared by all lines of a file; `Arc`: lines are staged for storing
    /// on a thread of their own).
    pub file: std::sync::Arc<str>,
    /// ID, or the line when the file has no ID column.
    pub ikey: u64,
    /// Physical line.
    pub line: u64,
}

/// What one line does.
#[derive(Debug, Clone)]
pub enum Action {
    /// O: the row `id` opens with these key cells (in key order).
    Open {
        /// Row id.
        id: i64,
        /// Key cells.
        keys: Vec<Cell>,
    },
    /// C: closes matching rows, copying non-NULL `copies` (in copy-column order).
    Close {
        /// Close event id.
        event: i64,
        /// Key cells, NULL = any.
        keys: Vec<Cell>,
        /// Copy-on-close cells.
        copies: Vec<Cell>,
    },
    /// `*`: closes every open row.
    CloseAll {
        /// Close event id.
        event: i64,
    },
}

/// A line in the merge.
#[derive(Debug, Clone)]
pub struct Item {
    /// Canonical position.
    pub order: OrderKey,
    /// Effect.
    pub action: Action,
}

/// A row closed by the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The row.
    pub row: i64,
    /// The event that closed it.
    pub event: i64,
    /// DELETED_DT = the event's CREATED_DT.
    pub deleted: i64,
    /// The copy-on-close cells the event carried (NULL: keep the row's value).
    pub copies: Vec<Cell>,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The open rows sharing one key hash: nearly always one, kept inline so that an open
/// row costs no allocation of its own.
#[derive(Debug, Clone)]
enum Ids {
    One(i64),
    Many(Vec<i64>),
}

impl Ids {
    fn as_slice(&self) -> &[i64] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(ids) => ids,
        }
    }
}

/// The open rows of one (table, source).
///
/// Rows are kept once, with their key cells; `by_key` maps the keys' hash to row ids
/// (collisions are resolved against the stored keys), so an open row costs one key
/// vector, not two.
#[derive(Debug, Default, Clone)]
pub struct OpenSet {
    rows: FastMap<i64, Vec<Cell>>,
    by_key: FastMap<u64, Ids>,
}

fn key_hash(keys: &[Cell]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6e73).hash_one(keys)
}

impl OpenSet {
    /// Adds an open row.
    pub fn insert(&mut self, id: i64, keys: Vec<Cell>) {
        use std::collections::hash_map::Entry;
        match self.by_key.entry(key_hash(&keys)) {
            Entry::Vacant(v) => {
                v.insert(Ids::One(id));
            }
            Entry::Occupied(mut o) => {
                let ids = o.get_mut();
                match ids {
                    Ids::One(first) => *ids = Ids::Many(vec![*first, id]),
                    Ids::Many(v) => v.push(id),
                }
            }
        }
        self.rows.insert(id, keys);
    }

    /// The open rows and their key cells, in id order (a stable form to store).
    pub fn rows_by_id(&self) -> Vec<(i64, &[Cell])> {
        let mut rows: Vec<(i64, &[Cell])> =
            self.rows.iter().map(|(id, keys)| (*id, keys.as_slice())).collect();
        rows.sort_unstable_by_key(|r| r.0);
        rows
    }

    /// Number of open rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no row is open.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn unlink(&mut self, id: i64, keys: &[Cell]) {
        let h = key_hash(keys);
        let empty = match self.by_key.get_mut(&h) {
            Some(Ids::One(x)) => *x == id,
            Some(Ids::Many(ids)) => {
                ids.retain(|x| *x != id);
                if let [only] = ids[..] {
                    self.by_key.insert(h, Ids::One(only));
                    false
                } else {
                    ids.is_empty()
                }
            }
            None => false,
        };
        if empty {
            self.by_key.remove(&h);
        }
    }

    /// The rows a C with `keys` closes, removed from the set, appended to `hit` in id
    /// order.
    pub fn take_matching_into(&mut self, keys: &[Cell], hit: &mut Vec<i64>) {
        let from = hit.len();
        if keys.iter().all(|k| !k.is_null()) {
            let rows = &self.rows;
            if let Some(ids) = self.by_key.get(&key_hash(keys)) {
                hit.extend(
                    ids.as_slice()
                        .iter()
                        .copied()
                        .filter(|id| rows.get(id).is_some_and(|r| r == keys)),
                );
            }
        } else {
            hit.extend(
                self.rows
                    .iter()
                    .filter(|(_, row)| row.iter().zip(keys).all(|(r, k)| k.is_null() || r == k))
                    .map(|(id, _)| *id),
            );
        }
        hit[from..].sort_unstable();
        for &id in &hit[from..] {
            if let Some(row_keys) = self.rows.remove(&id) {
                self.unlink(id, &row_keys);
            }
        }
    }

    /// The rows a C with `keys` closes, removed from the set, in id order.
    pub fn take_matching(&mut self, keys: &[Cell]) -> Vec<i64> {
        let mut hit = Vec::new();
        self.take_matching_into(keys, &mut hit);
        hit
    }

    /// Every open row, removed, in id order.
    pub fn take_all(&mut self) -> Vec<i64> {
        let mut all: Vec<i64> = self.rows.keys().copied().collect();
        all.sort_unstable();
        self.rows.clear();
        self.by_key.clear();
        all
    }
}

/// Applies `items` in canonical order to `open`; returns the closes.
pub fn apply(open: &mut OpenSet, mut items: Vec<Item>) -> Vec<Closed> {
    items.sort_by(|a, b| a.order.cmp(&b.order));
    let mut out = Vec::new();
    let mut hit = Vec::new();
    for item in items {
        let deleted = item.order.created;
        match item.action {
            Action::Open { id, keys } => open.insert(id, keys),
            Action::Close { event, keys, copies } => {
                hit.clear();
                open.take_matching_into(&keys, &mut hit);
                if let Some((&last, rest)) = hit.split_last() {
                    for &row in rest {
                        out.push(Closed { row, event, deleted, copies: copies.clone() });
                    }
                    out.push(Closed { row: last, event, deleted, copies });
                }
            }
            Action::CloseAll { event } => {
                for row in open.take_all() {
                    out.push(Closed { row, event, deleted, copies: Vec::new() });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(created: i64, ikey: u64) -> OrderKey {
        OrderKey { created, first: 0, serial: 0, file: "F".into(), ikey, line: ikey }
    }

    fn i(v: i64) -> Cell {
        Cell::Int(v)
    }

    #[test]
    fn wildcards_exact_keys_and_close_all() {
        let mut open = OpenSet::default();
        let items = vec![
            Item { order: at(1, 1), action: Action::Open { id: 1, keys: vec![i(1), i(4)] } },
            Item { order: at(1, 2), action: Action::Open { id: 2, keys: vec![i(1), i(5)] } },
            Item { order: at(1, 3), action: Action::Open { id: 3, keys: vec![i(2), Cell::Null] } },
            // Exact key: closes row 1 only.
            Item {
                order: at(2, 4),
                action: Action::Close { event: 10, keys: vec![i(1), i(4)], copies: vec![i(9)] },
            },
            // NULL in the C is a wildcard, but a value never matches a NULL in the row.
            Item {
                order: at(3, 5),
                action: Action::Close { event: 11, keys: vec![Cell::Null, i(7)], copies: vec![] },
            },
            Item {
                order: at(4, 6),
                action: Action::Close { event: 12, keys: vec![i(1), Cell::Null], copies: vec![] },
            },
            Item { order: at(5, 7), action: Action::CloseAll { event: 13 } },
        ];
        let closed = apply(&mut open, items);
        let got: Vec<(i64, i64, i64)> =
            closed.iter().map(|c| (c.row, c.event, c.deleted)).collect();
        assert_eq!(got, [(1, 10, 2), (2, 12, 4), (3, 13, 5)]);
        assert_eq!(closed[0].copies, [i(9)]);
        assert!(open.is_empty());
    }

    #[test]
    fn canonical_order_not_input_order_decides() {
        // A C with a smaller ID at the same time applies before the O: it matches nothing.
        let mut open = OpenSet::default();
        let items = vec![
            Item { order: at(28, 8), action: Action::Open { id: 1, keys: vec![i(1)] } },
            Item {
                order: at(28, 7),
                action: Action::Close { event: 1, keys: vec![i(1)], copies: vec![] },
            },
        ];
        assert!(apply(&mut open, items).is_empty());
        assert_eq!(open.len(), 1);
    }
}
