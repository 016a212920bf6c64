//! The tar blocks a can writes and `verify` reads back.
//!
//! Members are ustar regular files with fixed metadata — mode 0444, uid/gid 0, uname/gname
//! `vantage`, the writer's one mtime — so that a can's bytes depend only on member names and
//! contents (reports spec §4.3). A name over 100 bytes is preceded by a GNU long-name entry
//! (`././@LongLink`, type `L`), which GNU tar, bsdtar and the `tar` crate all read. The
//! stream ends with two zero blocks.

use tar::{EntryType, Header};

/// The tar block size; every header, every member's data with its padding, is a multiple.
pub(crate) const BLOCK: u64 = 512;

/// The end-of-archive marker: two zero blocks.
pub(crate) const END: [u8; 1024] = [0; 1024];

/// The longest member name accepted (GNU tar's own limit on path length is higher; this
/// one keeps a header piece small against any frame target).
pub const MAX_NAME_LEN: usize = 4096;

/// User and group name recorded in every header.
const OWNER: &str = "vantage";

/// Zero bytes to pad member data of `size` bytes to a block boundary.
pub(crate) fn pad_len(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Checks that `name` can be a member name: a relative path of `/`-separated components,
/// none empty, `.` or `..`, no NUL, at most [`MAX_NAME_LEN`] bytes.
///
/// Why so strict: names come back as paths when someone runs `tar -xf` on a can, and
/// readers look members up by name; a name that means two things is refused at the door.
pub fn check_member_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("member name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("member name is {} bytes, over {MAX_NAME_LEN}", name.len()));
    }
    if name.contains('\0') {
        return Err("member name contains NUL".into());
    }
    if name.starts_with('/') {
        return Err(format!("member name {name:?} is absolute"));
    }
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!("member name {name:?} has an empty, `.` or `..` component"));
        }
    }
    Ok(())
}

/// The header blocks of a member: a GNU long-name entry when the name is over 100 bytes,
/// then the ustar header. The caller has checked the name with [`check_member_name`].
pub(crate) fn member_header(name: &str, size: u64, mtime: u64) -> Vec<u8> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(BLOCK as usize);
    let mut header = Header::new_ustar();
    {
        let field = &mut header.as_old_mut().name;
        if bytes.len() > field.len() {
            out.extend_from_slice(&long_name_blocks(bytes));
        }
        let n = bytes.len().min(field.len());
        field[..n].copy_from_slice(&bytes[..n]);
    }
    header.set_mode(0o444);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header.set_entry_type(EntryType::Regular);
    // "vantage" fits the 32-byte ustar fields; set_* fail only on longer names.
    let _ = header.set_username(OWNER);
    let _ = header.set_groupname(OWNER);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out
}

/// A GNU long-name entry holding `name` (NUL-terminated, as GNU tar writes it).
fn long_name_blocks(name: &[u8]) -> Vec<u8> {
    let mut header = Header::new_gnu();
    let magic_name = b"././@LongLink";
    header.as_old_mut().name[..magic_name.len()].copy_from_slice(magic_name);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(name.len() as u64 + 1);
    header.set_entry_type(EntryType::GNULongName);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(name);
    out.push(0);
    out.resize(out.len() + pad_len(name.len() as u64 + 1) as usize, 0);
    out
}

/// One parsed header block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// A zero block: the end of the archive starts here.
    Zero,
    /// A GNU long-name entry whose name data (`size` bytes) follow.
    LongName { size: u64 },
    /// A regular file.
    File { name: Vec<u8>, size: u64, mtime: u64 },
}

/// Parses a 512-byte header block read from a can, checking its checksum.
pub(crate) fn parse_block(block: &[u8; BLOCK as usize]) -> Result<Block, String> {
    if block.iter().all(|&b| b == 0) {
        return Ok(Block::Zero);
    }
    let header = Header::from_byte_slice(block);
    // The tar crate's messages quote the raw field; ours stay on one line.
    let recorded = header.cksum().map_err(|_| "unreadable header checksum field".to_string())?;
    let computed: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(b) })
        .sum();
    if recorded != computed {
        return Err(format!("header checksum {recorded} does not match its block ({computed})"));
    }
    let long_name = match header.entry_type() {
        EntryType::GNULongName => true,
        EntryType::Regular | EntryType::Continuous => false,
        other => {
            return Err(format!("entry type {:?} is not a regular file", other.as_byte() as char))
        }
    };
    let size = header.size().map_err(|_| "unreadable size field".to_string())?;
    if long_name {
        return Ok(Block::LongName { size });
    }
    let mtime = header.mtime().map_err(|_| "unreadable mtime field".to_string())?;
    Ok(Block::File { name: header.path_bytes().into_owned(), size, mtime })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(bytes: &[u8]) -> [u8; 512] {
        bytes.try_into().unwrap() // tests: callers pass exactly one block
    }

    #[test]
    fn names_are_checked() {
        for ok in ["a", "a/b.json", "2024-01-01/x.yaml", "é/ü"] {
            assert_eq!(check_member_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/abs", "a//b", "a/./b", "../x", "a/..", "a/", "nul\0", &"x".repeat(5000)] {
            assert!(check_member_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn padding() {
        assert_eq!(pad_len(0), 0);
        assert_eq!(pad_len(1), 511);
        assert_eq!(pad_len(512), 0);
        assert_eq!(pad_len(513), 511);
    }

    #[test]
    fn short_name_round_trips() {
        let h = member_header("a/b.json", 1234, 86_400);
        assert_eq!(h.len(), 512);
        assert_eq!(
            parse_block(&block(&h)).unwrap(),
            Block::File { name: b"a/b.json".to_vec(), size: 1234, mtime: 86_400 }
        );
        let header = Header::from_byte_slice(&h);
        assert_eq!(header.mode().unwrap(), 0o444);
        assert_eq!(header.username().unwrap(), Some("vantage"));
        assert!(header.as_ustar().is_some());
    }

    #[test]
    fn long_name_gets_a_gnu_entry() {
        let name = format!("{}/{}", "d".repeat(80), "f".repeat(80));
        let h = member_header(&name, 7, 0);
        assert_eq!(h.len(), 512 + 512 + 512); // long-name header, its data, the header
        assert_eq!(parse_block(&block(&h[..512])).unwrap(), Block::LongName { size: 162 });
        assert_eq!(&h[512..512 + name.len()], name.as_bytes());
        assert_eq!(h[512 + name.len()], 0);
        match parse_block(&block(&h[1024..])).unwrap() {
            Block::File { name: n, size: 7, .. } => assert_eq!(n, name.as_bytes()[..100]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exactly_100_bytes_needs_no_long_name() {
        let name = "n".repeat(100);
        assert_eq!(member_header(&name, 0, 0).len(), 512);
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert_eq!(parse_block(&[0; 512]).unwrap(), Block::Zero);
        let mut h = block(&member_header("a", 1, 0));
        h[0] ^= 1;
        assert!(parse_block(&h).unwrap_err().contains("checksum"));
        let mut garbage = [b'x'; 512];
        garbage[148..156].copy_from_slice(b"zzzzzzzz");
        assert!(parse_block(&garbage).is_err());
        let mut dir = Header::new_ustar();
        dir.set_entry_type(EntryType::Directory);
        dir.set_cksum();
        assert!(parse_block(dir.as_bytes()).unwrap_err().contains("not a regular file"));
    }

    #[test]
    fn huge_sizes_use_base_256() {
        let h = member_header("big", 10 << 30, 0);
        assert!(
            matches!(parse_block(&block(&h)).unwrap(), Block::File { size, .. } if size == 10 << 30)
        );
    }
}
