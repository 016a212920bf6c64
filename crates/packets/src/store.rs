//! The packets directory (spec §2, §3.4): `classes/<class>/` segments and indexes, the
//! `recorder.lock` flock, retention within each class's `disk` and `min_free`, and the
//! restart that recovers whatever a stop or a crash left.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::config::{DiskBudget, MinFree};
use crate::error::StoreError;
use crate::key::IndexKind;
use crate::segment::{self, Closed, OpenSegment};
use crate::vidx::Vidx;

/// One class directory's closed segments, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ClassDir {
    /// The directory.
    pub dir: PathBuf,
    /// Closed segments by increasing segid.
    pub closed: Vec<Closed>,
    /// Segments deleted by retention in this run.
    pub evicted: u64,
    /// Merged index files (levels ≥ 1), by level then first segid.
    pub merged: Vec<Merged>,
}

/// A merged index file `index/<class>/L<n>-<first segid>-<last segid>.vidx`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Merged {
    /// Its level (≥ 1).
    pub level: u8,
    /// First segment covered.
    pub first: u64,
    /// Last segment covered.
    pub last: u64,
    /// The file.
    pub path: PathBuf,
}

fn parse_merged(name: &str) -> Option<(u8, u64, u64)> {
    let rest = name.strip_prefix('L')?.strip_suffix(".vidx")?;
    let mut it = rest.splitn(3, '-');
    let level = it.next()?.parse().ok()?;
    let first = it.next()?.parse().ok()?;
    let last = it.next()?.parse().ok()?;
    Some((level, first, last))
}

impl ClassDir {
    /// Bytes of closed segments and their indexes.
    pub fn disk_bytes(&self) -> u64 {
        self.closed.iter().map(|c| c.pcap_bytes + c.vidx_bytes).sum()
    }
}

/// What a restart found and fixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// `.open` segments cut back, indexed and closed.
    pub reopened: u64,
    /// Closed segments whose index was missing or damaged, re-indexed.
    pub reindexed: u64,
    /// Orphan indexes and temporary files removed.
    pub removed: u64,
}

/// The packets directory.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Classes by directory name (configured or found on disk).
    pub classes: BTreeMap<String, ClassDir>,
    next_segid: u64,
    _lock: Option<File>,
    /// What opening for writing recovered.
    pub recovery: Recovery,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

impl Store {
    /// The `index/` directory of merged levels.
    pub fn index_dir(root: &Path) -> PathBuf {
        root.join("index")
    }

    /// The `classes/` directory.
    pub fn classes_dir(root: &Path) -> PathBuf {
        root.join("classes")
    }

    /// Opens for reading (queries, stats): no lock, no repair; `.open` segments and
    /// segments without a valid index are left for the next recorder (queries index
    /// them on the fly, never trusting a bad index).
    pub fn open_read(root: &Path) -> Result<Store, StoreError> {
        let mut s = Store {
            root: root.into(),
            classes: BTreeMap::new(),
            next_segid: 1,
            _lock: None,
            recovery: Recovery::default(),
        };
        s.scan(None)?;
        Ok(s)
    }

    /// Opens for recording: takes `recorder.lock` (held → busy), then recovers (§3.4).
    pub fn open_write(
        root: &Path,
        enabled: &[IndexKind],
        gap: i64,
        frag_timeout: i64,
    ) -> Result<Store, StoreError> {
        fs::create_dir_all(Self::classes_dir(root)).map_err(io(root))?;
        let lock_path = root.join("recorder.lock");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            return Err(StoreError::Busy { path: lock_path, pid: holder.trim().to_string() });
        }
        f.set_len(0).map_err(io(&lock_path))?;
        let _ = writeln!(f, "pid {}", std::process::id());
        let mut s = Store {
            root: root.into(),
            classes: BTreeMap::new(),
            next_segid: 1,
            _lock: Some(f),
            recovery: Recovery::default(),
        };
        s.scan(Some((enabled, gap, frag_timeout)))?;
        Ok(s)
    }

    /// Records the console's address in `recorder.lock` beside the pid, so that
    /// `vantage packets query` and `vantage console` find the running recorder.
    pub fn note_console(&mut self, addr: &str) {
        if let Some(f) = self._lock.as_mut() {
            let _ = writeln!(f, "console {addr}");
        }
    }

    /// The console address a running recorder noted in `root`'s `recorder.lock`, if
    /// the lock is held (a stale file from a crash names nothing).
    pub fn running_console(root: &Path) -> Option<String> {
        let path = root.join("recorder.lock");
        let f = File::open(&path).ok()?;
        // SAFETY: flock on a descriptor we own; probing, released at once.
        let free = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
        if free {
            // SAFETY: as above.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        text.lines().find_map(|l| l.strip_prefix("console ").map(|a| a.trim().to_string()))
    }

    /// The packets directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn scan(&mut self, repair: Option<(&[IndexKind], i64, i64)>) -> Result<(), StoreError> {
        let classes = Self::classes_dir(&self.root);
        let entries = match fs::read_dir(&classes) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io(&classes, e)),
        };
        let mut max_segid = 0u64;
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if repair.is_some() {
                self.recovery.removed +=
                    vantage_core::publish::clean_temporaries(&dir).map_err(io(&dir))? as u64;
            }
            let mut pcaps = BTreeMap::new();
            let mut vidxs = BTreeMap::new();
            let mut opens = Vec::new();
            for f in fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
                let fname = f.file_name().to_string_lossy().into_owned();
                let Some(segid) = segment::parse_segid(&fname) else { continue };
                max_segid = max_segid.max(segid);
                let p = f.path();
                if fname.ends_with(".pcap.open") {
                    opens.push((segid, p));
                } else if let Some(stem) = fname.strip_suffix(".pcap") {
                    pcaps.insert(segid, (stem.to_string(), p));
                } else if fname.ends_with(".vidx") {
                    vidxs.insert(segid, p);
                }
            }
            let mut cd = ClassDir { dir: dir.clone(), ..Default::default() };
            if let Some((enabled, gap, ft)) = repair {
                for (segid, open) in opens {
                    let kept = segment::cut_back(&open)?;
                    let name = open
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let stem = name.trim_end_matches(".pcap.open").to_string();
                    if kept < 24 {
                        fs::remove_file(&open).map_err(io(&open))?;
                        continue;
                    }
                    let idx = segment::reindex(&open, enabled, gap, ft)?;
                    let vidx = dir.join(format!("{stem}.vidx"));
                    vantage_core::publish::write_atomic(&vidx, &idx.encode(segid), false)
                        .map_err(io(&vidx))?;
                    let pcap = dir.join(format!("{stem}.pcap"));
                    fs::rename(&open, &pcap).map_err(io(&pcap))?;
                    pcaps.insert(segid, (stem, pcap));
                    vidxs.insert(segid, vidx);
                    self.recovery.reopened += 1;
                    tracing::warn!(segment = %open.display(), "Open segment recovered after a stop.");
                }
                for (segid, v) in vidxs.clone() {
                    if !pcaps.contains_key(&segid) {
                        fs::remove_file(&v).map_err(io(&v))?;
                        vidxs.remove(&segid);
                        self.recovery.removed += 1;
                    }
                }
                for (segid, (stem, pcap)) in &pcaps {
                    let ok = vidxs.get(segid).is_some_and(|v| Vidx::read(v).is_ok());
                    if !ok {
                        let idx = segment::reindex(pcap, enabled, gap, ft)?;
                        let vidx = dir.join(format!("{stem}.vidx"));
                        vantage_core::publish::write_atomic(&vidx, &idx.encode(*segid), false)
                            .map_err(io(&vidx))?;
                        vidxs.insert(*segid, vidx);
                        self.recovery.reindexed += 1;
                        tracing::warn!(segment = %pcap.display(), "Segment index missing or damaged; rebuilt.");
                    }
                }
            }
            for (segid, (stem, pcap)) in pcaps {
                let vidx =
                    vidxs.get(&segid).cloned().unwrap_or_else(|| dir.join(format!("{stem}.vidx")));
                let pcap_bytes = fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
                let vidx_bytes = fs::metadata(&vidx).map(|m| m.len()).unwrap_or(0);
                cd.closed.push(Closed { segid, pcap, vidx, pcap_bytes, vidx_bytes });
            }
            let idir = Self::index_dir(&self.root).join(&name);
            if let Ok(files) = fs::read_dir(&idir) {
                if repair.is_some() {
                    self.recovery.removed +=
                        vantage_core::publish::clean_temporaries(&idir).map_err(io(&idir))? as u64;
                }
                for f in files.flatten() {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    let Some((level, first, last)) = parse_merged(&fname) else { continue };
                    let path = f.path();
                    let orphan = !cd.closed.iter().any(|c| c.segid >= first && c.segid <= last);
                    if repair.is_some() && (orphan || Vidx::read(&path).is_err()) {
                        // Gone segments or a damaged file: removed; merging rebuilds it.
                        fs::remove_file(&path).map_err(io(&path))?;
                        self.recovery.removed += 1;
                        continue;
                    }
                    cd.merged.push(Merged { level, first, last, path });
                }
                cd.merged.sort();
            }
            self.classes.insert(name, cd);
        }
        self.next_segid = max_segid + 1;
        Ok(())
    }

    /// Merges every `fanout` consecutive level-n files of a class into one level n+1
    /// file, up to `levels` (spec §3.5). Merged levels only speed queries up; a failure
    /// here loses nothing (level 0 stays authoritative).
    pub fn merge(&mut self, dir_name: &str, fanout: u32, levels: u32) -> Result<(), StoreError> {
        let fanout = fanout.max(2) as usize;
        let idir = Self::index_dir(&self.root).join(dir_name);
        let Some(cd) = self.classes.get_mut(dir_name) else { return Ok(()) };
        for level in 1..=levels.min(255) as u8 {
            let covered = |segid: u64, m: &[Merged]| {
                m.iter().any(|f| f.level == level && f.first <= segid && segid <= f.last)
            };
            // Inputs: (first, last, path) of level-1 files not yet covered at `level`.
            let inputs: Vec<(u64, u64, PathBuf)> = if level == 1 {
                cd.closed
                    .iter()
                    .filter(|c| !covered(c.segid, &cd.merged))
                    .map(|c| (c.segid, c.segid, c.vidx.clone()))
                    .collect()
            } else {
                cd.merged
                    .iter()
                    .filter(|f| f.level == level - 1 && !covered(f.first, &cd.merged))
                    .map(|f| (f.first, f.last, f.path.clone()))
                    .collect()
            };
            for group in inputs.chunks_exact(fanout) {
                let mut b = crate::vidx::MergedBuilder::new(level);
                for (_, _, p) in group {
                    b.add(&Vidx::read(p)?);
                }
                let (first, last) = (group[0].0, group[group.len() - 1].1);
                fs::create_dir_all(&idir).map_err(io(&idir))?;
                let path = idir.join(format!("L{level}-{first:012}-{last:012}.vidx"));
                vantage_core::publish::write_atomic(&path, &b.encode(), false)
                    .map_err(io(&path))?;
                cd.merged.push(Merged { level, first, last, path });
            }
            cd.merged.sort();
        }
        Ok(())
    }

    /// Starts a new segment for class `dir_name`, first deleting the class's oldest
    /// closed segments until `filesize` more fits in `disk`, and enforcing `min_free`.
    #[allow(clippy::too_many_arguments)]
    pub fn start_segment(
        &mut self,
        dir_name: &str,
        disk: DiskBudget,
        filesize: u64,
        min_free: MinFree,
        linktype: u16,
        first_ns: i64,
        gap: i64,
    ) -> Result<OpenSegment, StoreError> {
        let dir = Self::classes_dir(&self.root).join(dir_name);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let cd = self
            .classes
            .entry(dir_name.to_string())
            .or_insert_with(|| ClassDir { dir: dir.clone(), ..Default::default() });
        if let DiskBudget::Bytes(budget) = disk {
            while !cd.closed.is_empty() && cd.disk_bytes() + filesize > budget {
                let old = cd.closed.remove(0);
                remove_segment(&old)?;
                cd.evicted += 1;
                drop_merged(cd)?;
            }
        }
        self.enforce_min_free(min_free, &dir)?;
        let segid = self.next_segid;
        self.next_segid += 1;
        OpenSegment::create(&dir, segid, linktype, first_ns, gap)
    }

    fn enforce_min_free(&mut self, min_free: MinFree, dir: &Path) -> Result<(), StoreError> {
        loop {
            let Some((free, total)) = free_space(dir) else { return Ok(()) };
            let want = match min_free {
                MinFree::Percent(p) => (total as f64 * p / 100.0) as u64,
                MinFree::Bytes(b) => b,
            };
            if free >= want {
                return Ok(());
            }
            let oldest = self
                .classes
                .iter()
                .filter_map(|(n, c)| c.closed.first().map(|s| (s.segid, n.clone())))
                .min();
            let Some((_, name)) = oldest else {
                return Err(StoreError::DiskFull { path: dir.into(), in_memory: 0 });
            };
            if let Some(cd) = self.classes.get_mut(&name) {
                let old = cd.closed.remove(0);
                tracing::warn!(segment = %old.pcap.display(), "Free space below min_free; oldest segment deleted.");
                remove_segment(&old)?;
                cd.evicted += 1;
                drop_merged(cd)?;
            }
        }
    }

    /// Registers a segment just closed.
    pub fn add_closed(&mut self, dir_name: &str, c: Closed) {
        if let Some(cd) = self.classes.get_mut(dir_name) {
            cd.closed.push(c);
        }
    }
}

impl Store {
    /// `vantage packets reindex`: rebuilds every segment's `.vidx` from the segment and
    /// drops the merged levels (rebuilt by [`Store::merge`]). Returns segments indexed.
    pub fn reindex_all(
        &mut self,
        enabled: &[IndexKind],
        gap: i64,
        frag_timeout: i64,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for cd in self.classes.values_mut() {
            for c in &mut cd.closed {
                let idx = segment::reindex(&c.pcap, enabled, gap, frag_timeout)?;
                let bytes = idx.encode(c.segid);
                vantage_core::publish::write_atomic(&c.vidx, &bytes, false).map_err(io(&c.vidx))?;
                c.vidx_bytes = bytes.len() as u64;
                n += 1;
            }
            for m in cd.merged.drain(..) {
                fs::remove_file(&m.path).map_err(io(&m.path))?;
            }
        }
        Ok(n)
    }

    /// `vantage packets prune --class NAME`: deletes a class's segments, indexes and
    /// merged levels (for classes no longer configured). Returns segments deleted.
    pub fn prune_class(&mut self, dir_name: &str) -> Result<u64, StoreError> {
        let Some(mut cd) = self.classes.remove(dir_name) else {
            return Err(StoreError::Query(format!(
                "no class directory {dir_name:?} in {}",
                self.root.display()
            )));
        };
        let n = cd.closed.len() as u64;
        for c in cd.closed.drain(..) {
            remove_segment(&c)?;
        }
        drop_merged(&mut cd)?;
        for d in [cd.dir.clone(), Self::index_dir(&self.root).join(dir_name)] {
            match fs::remove_dir_all(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&d, e)),
            }
        }
        Ok(n)
    }
}

/// Deletes the merged files all of whose segments are gone.
fn drop_merged(cd: &mut ClassDir) -> Result<(), StoreError> {
    let oldest = cd.closed.first().map_or(u64::MAX, |c| c.segid);
    let (gone, keep): (Vec<Merged>, Vec<Merged>) =
        cd.merged.drain(..).partition(|m| m.last < oldest);
    cd.merged = keep;
    for m in gone {
        match fs::remove_file(&m.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&m.path, e)),
        }
    }
    Ok(())
}

/// Deletes a segment, then its index (spec §3.4: segment first).
fn remove_segment(c: &Closed) -> Result<(), StoreError> {
    match fs::remove_file(&c.pcap) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&c.pcap, e)),
    }
    match fs::remove_file(&c.vidx) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(&c.vidx, e)),
    }
}

/// (free, total) bytes of the file system holding `dir`.
pub fn free_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we pass; the path is NUL-terminated.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        return None;
    }
    let bs = s.f_frsize as u64;
    Some((s.f_bavail as u64 * bs, s.f_blocks as u64 * bs))
}
