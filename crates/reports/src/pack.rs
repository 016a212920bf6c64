//! Grouping a bucket's reports into cans (spec §4.2, OONI `pack_bucket`).

use std::collections::BTreeMap;

/// OONI's can_size: 64 MiB.
pub const CAN_SIZE: u64 = 64 * 1024 * 1024;

/// What to can: lone files, slices, and names that cannot be grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files canned alone, each as `<name>.tar.lz4`.
    pub alone: Vec<String>,
    /// `(<test_name>.<k>.tar.lz4, members)`, members sorted by name.
    pub slices: Vec<(String, Vec<String>)>,
    /// Names not matching §2.3: `error: unparsable report file name`.
    pub unparsable: Vec<String>,
}

/// Plans the cans of `files` (`(name, size)`); `next_index(test_name)` is the first slice
/// index of a group in this round (indexes continue across rounds).
pub fn plan(files: &[(String, u64)], can_size: u64, next_index: impl Fn(&str) -> u64) -> Plan {
    let mut out = Plan::default();
    let mut groups: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (name, size) in files {
        match crate::names::test_name_of(name) {
            None => out.unparsable.push(name.clone()),
            Some(_) if *size >= can_size => out.alone.push(name.clone()),
            Some(t) => groups.entry(t.to_string()).or_default().push((name.clone(), *size)),
        }
    }
    for (test, mut members) in groups {
        members.sort();
        let mut closed: Vec<Vec<String>> = Vec::new();
        let (mut current, mut size) = (Vec::new(), 0u64);
        for (name, s) in members {
            if !current.is_empty() && size.saturating_add(s) >= can_size {
                closed.push(std::mem::take(&mut current));
                size = 0;
            }
            current.push(name);
            size = size.saturating_add(s);
        }
        if !current.is_empty() {
            closed.push(current);
        }
        let multi: Vec<Vec<String>> = closed
            .into_iter()
            .filter_map(|s| {
                if s.len() == 1 {
                    out.alone.extend(s);
                    None
                } else {
                    Some(s)
                }
            })
            .collect();
        let first = next_index(&test);
        let last = first + multi.len().saturating_sub(1) as u64;
        let width = last.to_string().len();
        for (i, s) in multi.into_iter().enumerate() {
            out.slices.push((format!("{test}.{:0width$}.tar.lz4", first + i as u64), s));
        }
    }
    out.alone.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "-VN-AS1-dns_consistency-no_report_id-0.1.0-probe.yaml";

    #[test]
    fn greedy_slices_and_demoted_singles() {
        let f = |i: u32, s: u64| (format!("{i:04}1231T065614Z{N}"), s);
        let p = plan(&[f(0, 42), f(1, 50), f(2, 100)], 100, |_| 0);
        assert_eq!(p.alone, [f(2, 0).0]);
        assert_eq!(
            p.slices,
            [("dns_consistency.0.tar.lz4".to_string(), vec![f(0, 0).0, f(1, 0).0])]
        );
        let p = plan(&[f(0, 42), f(1, 99), f(2, 1)], 100, |_| 7);
        assert_eq!(p.alone.len(), 3);
        assert!(p.slices.is_empty());
    }

    #[test]
    fn index_width_follows_the_last_index() {
        let files: Vec<(String, u64)> =
            (0..22).map(|i| (format!("{:04}1231T065614Z{N}", i), 40)).collect();
        let p = plan(&files, 100, |_| 0);
        assert_eq!(p.slices.len(), 11);
        assert_eq!(p.slices[0].0, "dns_consistency.00.tar.lz4");
        assert_eq!(p.slices[10].0, "dns_consistency.10.tar.lz4");
    }
}
