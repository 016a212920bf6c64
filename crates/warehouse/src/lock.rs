//! Named locks: one per kind per data directory (`reports`, `passive`,
//! `netstate-import`, `packets`), so that runs which must not overlap exclude each other.
//!
//! Two guards, as DESIGN.md's Conventions ask. Locally, `locks/<name>.lock` is `flock`ed
//! exclusively without blocking and names its holder (`pid= host= started=`); the kernel
//! frees a dead process's flock, so a crash never leaves a lock that needs age guessing.
//! In the warehouse, a `catalog_locks` row (SQLite, written in a transaction) or a
//! session advisory lock (PostgreSQL, which also excludes importers on other machines)
//! says who holds it. A lock file that is free but not empty was left by a crash: the lock
//! is taken over and [`Lock::recovered_stale`] says so.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use vantage_core::{DataDir, Exit, HasExit, Timestamp};

use crate::warehouse::{connect_postgres, Target};
use crate::{Sql, Warehouse, WarehouseError};

/// A named lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live run holds it: exit 2.
    #[error("{name} is locked by another run ({holder}); wait for it to finish")]
    Busy {
        /// The lock's name.
        name: String,
        /// `pid=... host=... started=...` of the holder, as far as known.
        holder: String,
    },
    /// The lock file could not be used.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The warehouse part failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl HasExit for LockError {
    fn exit(&self) -> Exit {
        match self {
            LockError::Busy { .. } => Exit::Busy,
            LockError::Io { .. } => Exit::Storage,
            LockError::Warehouse(e) => e.exit(),
        }
    }
}

enum Holder {
    Sqlite(Box<Warehouse>),
    Postgres(Box<postgres::Client>),
}

/// A held named lock; released on drop.
pub struct Lock {
    name: String,
    file: File,
    holder: Option<Holder>,
    stale: bool,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lock({})", self.name)
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we read only up to the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The advisory lock key: the lock's name within the schema, so that two warehouses in
/// one PostgreSQL database (two schemas) do not exclude each other.
const ADVISORY_KEY: &str = "hashtext('vantage:' || current_schema() || ':' || $1)";

impl Lock {
    /// Takes the lock `name` of the data directory behind `wh`, or fails with
    /// [`LockError::Busy`] at once (never waits).
    pub fn acquire(wh: &Warehouse, data: &DataDir, name: &str) -> Result<Lock, LockError> {
        let path = data.lock_file(name);
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on an fd we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        let mut previous = String::new();
        file.read_to_string(&mut previous).map_err(io)?;
        let previous = previous.trim().to_string();
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(LockError::Busy { name: name.into(), holder: previous });
            }
            return Err(io(err));
        }
        let stale = !previous.is_empty();
        if stale {
            tracing::warn!(lock = name, previous = %previous, "Recovered stale lock.");
        }
        let pid = std::process::id();
        let host = hostname();
        let started = Timestamp::now();
        let me = format!("pid={pid} host={host} started={started}");
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(format!("{me}\n").as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;

        let row = |db: &mut dyn Sql| -> Result<(), WarehouseError> {
            db.execute("DELETE FROM catalog_locks WHERE name = ?", &[name.into()])?;
            db.execute(
                "INSERT INTO catalog_locks (name, pid, host, started_ns) VALUES (?, ?, ?, ?)",
                &[name.into(), pid.into(), host.as_str().into(), started.nanos().into()],
            )?;
            Ok(())
        };
        let holder = match wh.target() {
            Target::Sqlite(p) => {
                let mut own = Warehouse::open_target(Target::Sqlite(p.clone()))?;
                own.transaction(|tx| row(tx))?;
                Holder::Sqlite(Box::new(own))
            }
            Target::Postgres(url) => {
                let mut client = connect_postgres(url)?;
                let got: bool = client
                    .query_one(&format!("SELECT pg_try_advisory_lock({ADVISORY_KEY})"), &[&name])
                    .and_then(|r| r.try_get(0))
                    .map_err(|e| crate::pg::statement_error("SELECT pg_try_advisory_lock", e))?;
                if !got {
                    let who = client
                        .query_opt(
                            "SELECT pid, host, started_ns FROM catalog_locks WHERE name = $1",
                            &[&name],
                        )
                        .ok()
                        .flatten()
                        .map(|r| {
                            let pid: i64 = r.get(0);
                            let host: String = r.get(1);
                            let started: i64 = r.get(2);
                            format!("pid={pid} host={host} started={}", Timestamp(started))
                        })
                        .unwrap_or_else(|| "another host".into());
                    // Our flock succeeded, so the holder is elsewhere; leave no trace here.
                    let _ = file.set_len(0);
                    return Err(LockError::Busy { name: name.into(), holder: who });
                }
                let mut wh = Warehouse::open_target(Target::Postgres(url.clone()))?;
                wh.transaction(|tx| row(tx))?;
                Holder::Postgres(Box::new(client))
            }
        };
        Ok(Lock { name: name.into(), file, holder: Some(holder), stale })
    }

    /// True when a crashed run had left this lock behind and it was taken over.
    pub fn recovered_stale(&self) -> bool {
        self.stale
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let pid = i64::from(std::process::id());
        match self.holder.take() {
            Some(Holder::Sqlite(mut wh)) => {
                let _ = wh.execute(
                    "DELETE FROM catalog_locks WHERE name = ? AND pid = ?",
                    &[self.name.as_str().into(), pid.into()],
                );
            }
            Some(Holder::Postgres(mut client)) => {
                let _ = client.execute(
                    "DELETE FROM catalog_locks WHERE name = $1 AND pid = $2",
                    &[&self.name, &pid],
                );
                let _ = client
                    .execute(&format!("SELECT pg_advisory_unlock({ADVISORY_KEY})"), &[&self.name]);
            }
            None => {}
        }
        // An empty file tells the next holder this run ended cleanly; closing frees flock.
        let _ = self.file.set_len(0);
    }
}
