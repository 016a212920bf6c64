//! `vantage passive run` (spec §8): one tick — ingest what the spool directories hold,
//! then process. The spool files are Vantage's own (default `inbox/passive/`): once a
//! file's transaction has committed it is in the archive (or, rejected, in the
//! quarantine), so the spool copy is removed.

use std::path::PathBuf;

use vantage_warehouse::Warehouse;

use crate::config::PassiveEnv;
use crate::error::{io, PassiveError};
use crate::ingest::{self, SourceReport};
use crate::process::{self, ProcessOptions, ProcessReport};

/// Options of one tick.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Spool directories (empty: the configuration's, else `inbox/passive/`).
    pub watch: Vec<PathBuf>,
    /// Processing options.
    pub process: ProcessOptions,
}

/// One tick: ingest the spool, then process, both on `opts.process.workers` threads.
/// Takes the `passive` lock for both.
pub fn run(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    opts: &RunOptions,
) -> Result<(Vec<SourceReport>, ProcessReport), PassiveError> {
    let _lock = vantage_warehouse::Lock::acquire(wh, &env.data, crate::LOCK)?;
    crate::schema::migrate(wh)?;
    let dirs = if !opts.watch.is_empty() {
        opts.watch.clone()
    } else if !env.config.watch.is_empty() {
        env.config.watch.clone()
    } else {
        vec![env.data.inbox("passive")?]
    };
    let mut reports = Vec::new();
    let pool = ingest::pool(env.workers(opts.process.workers))?;
    for f in ingest::expand(&dirs)? {
        let bytes = std::fs::read(&f).map_err(io(&f))?;
        let r =
            ingest::ingest_source(env, wh, &f.display().to_string(), &bytes, false, pool.as_ref())?;
        // Committed: archived (or, when rejected, quarantined); the spool copy goes.
        std::fs::remove_file(&f).map_err(io(&f))?;
        reports.push(r);
    }
    let processed = process::process_locked(env, wh, &opts.process)?;
    Ok((reports, processed))
}
