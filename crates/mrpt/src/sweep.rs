//! The sweeper: after crashes, store timeouts and abandoned uploads, it
//! brings the file store and the state store back into agreement.
//!
//! A record is written after its files, so a record always has its files
//! unless something was lost; files without a record are either still
//! waiting for their insert or were left behind. The sweeper therefore reads
//! every record first and lists the files second, and removes only files
//! older than a grace period that no record stands for: unfinished writes of
//! killed workers, results of requests whose insert never came, the pieces
//! of uploads that expired. A record whose files are gone cannot be shown
//! whole, so it is removed and reported as a `record_without_files` event.
//! Account deletions that stopped after their tombstone are finished, and
//! ended sessions past their retention go too.

use crate::account_deletion;
use crate::analyses::{AnalysisRecord, PlanRecord};
use crate::config::parse_duration;
use crate::datasets::DatasetRecord;
use crate::domain::Millis;
use crate::principal::Principal;
use crate::security::{EventKind, EventSubject, SecurityLog};
use crate::store::files::{DatasetFile, FileKey, FilePrefix, ListedFile};
use crate::store::owned::{OwnedRecord, OwnedRecords};
use crate::store::Stores;
use crate::uploads::UploadRecord;
use clap::Args;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// Flags of `mrpt serve` and `mrpt admin sweep` for the sweeper.
#[derive(Debug, Clone, Args, Serialize)]
pub struct SweepConfig {
    /// How often a server sweeps (one process of all instances at a time);
    /// `0` never.
    #[arg(long, env = "MRPT_SWEEP_INTERVAL", default_value = "1h", value_parser = parse_duration_or_zero)]
    #[serde(serialize_with = "crate::config::as_seconds")]
    pub sweep_interval: Duration,

    /// Files without a record are removed only once they are this old: an
    /// insert that timed out may still land until then.
    #[arg(long, env = "MRPT_SWEEP_GRACE", default_value = "1h", value_parser = parse_duration_or_zero)]
    #[serde(serialize_with = "crate::config::as_seconds")]
    pub sweep_grace: Duration,
}

/// A duration, or `0` for none.
pub fn parse_duration_or_zero(raw: &str) -> Result<Duration, String> {
    if raw.trim() == "0" {
        Ok(Duration::ZERO)
    } else {
        parse_duration(raw)
    }
}

/// What one sweep found (and, unless it was a dry run, removed).
#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    /// Unfinished writes of killed writers.
    pub unfinished_files: Vec<String>,
    /// Finished files no record stands for.
    pub orphan_files: Vec<String>,
    /// Records whose files were gone, as "kind id of user".
    pub records_without_files: Vec<String>,
    /// Resumable uploads past their expiry.
    pub expired_uploads: Vec<String>,
    /// Account deletions that had stopped after their tombstone, by user id.
    pub unfinished_deletions: Vec<String>,
    pub ended_sessions: u64,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        self.unfinished_files.is_empty()
            && self.orphan_files.is_empty()
            && self.records_without_files.is_empty()
            && self.expired_uploads.is_empty()
            && self.unfinished_deletions.is_empty()
            && self.ended_sessions == 0
    }
}

/// The files the records stand for.
#[derive(Default)]
struct Claimed {
    /// Folders whose direct files belong to a record (a dataset's, an
    /// analysis's).
    folders: HashSet<String>,
    /// Single files that belong to a record (a plan, an upload's piece).
    files: HashSet<String>,
    /// Each record with the files it needs, to find records that lost them.
    needed: Vec<(Vec<String>, Needing)>,
}

impl Claimed {
    fn claims(&self, key: &str) -> bool {
        let folder = key.rfind('/').map_or("", |slash| &key[..=slash]);
        self.files.contains(key) || self.folders.contains(folder)
    }
}

/// A record that needs a file, to remove it when the file is gone.
enum Needing {
    Dataset(Principal, DatasetRecord),
    Analysis(Principal, AnalysisRecord),
    Plan(Principal, PlanRecord),
    Upload(Principal, UploadRecord),
}

pub struct Sweeper<'a> {
    pub stores: &'a Stores,
    pub owned: &'a OwnedRecords,
    pub security: &'a SecurityLog,
    pub grace: Duration,
}

impl Sweeper<'_> {
    /// Sweeps once; with `dry_run`, only reports.
    pub async fn sweep(&self, dry_run: bool) -> anyhow::Result<SweepReport> {
        let now = Millis::now();
        let cutoff = Millis(now.0.saturating_sub(i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX)));
        let mut report = SweepReport::default();

        // Records first: any record read now had its files before it.
        let mut claimed = Claimed::default();
        for user in self.stores.state.list_users().await? {
            if account_deletion::is_being_deleted(&user) {
                report.unfinished_deletions.push(user.id.to_string());
                if !dry_run {
                    account_deletion::finish(&self.stores.state, &self.stores.files, user.id).await?;
                }
                continue;
            }
            let principal = Principal::operator(user.id, "sweep");
            self.claim_user(&principal, now, dry_run, &mut claimed, &mut report).await?;
        }

        let files = self.stores.files.list(&FilePrefix::all_users()).await?;
        let present: HashSet<&str> = files.iter().map(ListedFile::key).collect();
        for (keys, needing) in &claimed.needed {
            if keys.iter().any(|key| !present.contains(key.as_str())) {
                self.remove_record_without_files(needing, dry_run, &mut report).await?;
            }
        }
        for file in &files {
            if !claimed.claims(file.key()) && file.written_at < cutoff {
                report.orphan_files.push(file.key().to_owned());
                if !dry_run {
                    self.stores.files.delete_listed(file).await?;
                }
            }
        }
        for file in self.stores.files.unfinished().await? {
            if file.written_at < cutoff {
                report.unfinished_files.push(file.key().to_owned());
                if !dry_run {
                    self.stores.files.delete_listed(&file).await?;
                }
            }
        }
        if !dry_run {
            report.ended_sessions = self.stores.state.purge_ended_sessions(now).await?;
        }
        Ok(report)
    }

    async fn claim_user(
        &self,
        principal: &Principal,
        now: Millis,
        dry_run: bool,
        claimed: &mut Claimed,
        report: &mut SweepReport,
    ) -> anyhow::Result<()> {
        for dataset in self.owned.list::<DatasetRecord>(principal).await? {
            claimed.folders.insert(FilePrefix::dataset(principal, dataset.id).as_str().to_owned());
            let mut needs = vec![DatasetFile::Table];
            if dataset.has_boundaries {
                needs.push(DatasetFile::Boundaries);
            }
            let keys = needs.into_iter().map(|file| FileKey::dataset(principal, dataset.id, file).as_str().to_owned()).collect();
            claimed.needed.push((keys, Needing::Dataset(principal.clone(), dataset)));
        }
        for analysis in self.owned.list::<AnalysisRecord>(principal).await? {
            claimed.folders.insert(FilePrefix::analysis(principal, analysis.dataset_id, analysis.id).as_str().to_owned());
            let key = FileKey::analysis_result(principal, analysis.dataset_id, analysis.id).as_str().to_owned();
            claimed.needed.push((vec![key], Needing::Analysis(principal.clone(), analysis)));
        }
        for plan in self.owned.list::<PlanRecord>(principal).await? {
            let key = FileKey::plan(principal, plan.dataset_id, plan.analysis_id, plan.id).as_str().to_owned();
            claimed.files.insert(key.clone());
            claimed.needed.push((vec![key], Needing::Plan(principal.clone(), plan)));
        }
        for upload in self.owned.list::<UploadRecord>(principal).await? {
            if upload.expires_at < now {
                report.expired_uploads.push(format!("upload {} of user {}", upload.id, upload.owner_id));
                if !dry_run {
                    self.remove(&Needing::Upload(principal.clone(), upload)).await?;
                }
                continue;
            }
            let keys: Vec<String> =
                upload.pieces.iter().map(|piece| FileKey::upload_piece(principal, upload.id, piece.id).as_str().to_owned()).collect();
            claimed.files.extend(keys.iter().cloned());
            claimed.needed.push((keys, Needing::Upload(principal.clone(), upload)));
        }
        Ok(())
    }

    async fn remove_record_without_files(&self, needing: &Needing, dry_run: bool, report: &mut SweepReport) -> anyhow::Result<()> {
        let (principal, what) = match needing {
            Needing::Dataset(p, r) => (p, describe(r)),
            Needing::Analysis(p, r) => (p, describe(r)),
            Needing::Plan(p, r) => (p, describe(r)),
            Needing::Upload(p, r) => (p, describe(r)),
        };
        // Deleted by its owner since it was read: its files went with it,
        // which is not a loss.
        if !self.still_stored(needing).await? {
            return Ok(());
        }
        report.records_without_files.push(what.clone());
        if !dry_run {
            self.remove(needing).await?;
            let subject = EventSubject { user_id: Some(principal.user_id()), ..EventSubject::default() };
            self.security.record(EventKind::RecordWithoutFiles, subject, what).await;
        }
        Ok(())
    }

    async fn still_stored(&self, needing: &Needing) -> anyhow::Result<bool> {
        Ok(match needing {
            Needing::Dataset(p, r) => self.owned.get::<DatasetRecord>(p, &r.id()).await?.is_some(),
            Needing::Analysis(p, r) => self.owned.get::<AnalysisRecord>(p, &r.id()).await?.is_some(),
            Needing::Plan(p, r) => self.owned.get::<PlanRecord>(p, &r.id()).await?.is_some(),
            Needing::Upload(p, r) => self.owned.get::<UploadRecord>(p, &r.id()).await?.is_some(),
        })
    }

    /// Removes a record and then its files: never files a record still
    /// stands for.
    async fn remove(&self, needing: &Needing) -> anyhow::Result<()> {
        let files = &self.stores.files;
        match needing {
            Needing::Dataset(p, r) => {
                self.owned.delete::<DatasetRecord>(p, &r.id()).await?;
                files.delete_prefix(&FilePrefix::dataset(p, r.id)).await?;
            }
            Needing::Analysis(p, r) => {
                self.owned.delete::<AnalysisRecord>(p, &r.id()).await?;
                files.delete_prefix(&FilePrefix::analysis(p, r.dataset_id, r.id)).await?;
            }
            Needing::Plan(p, r) => {
                self.owned.delete::<PlanRecord>(p, &r.id()).await?;
                files.delete(&FileKey::plan(p, r.dataset_id, r.analysis_id, r.id)).await?;
            }
            Needing::Upload(p, r) => {
                self.owned.delete::<UploadRecord>(p, &r.id()).await?;
                files.delete_prefix(&FilePrefix::upload(p, r.id)).await?;
            }
        }
        Ok(())
    }
}

fn describe<R: OwnedRecord>(record: &R) -> String {
    format!("{} {} of user {}", R::KIND.as_str(), record.id(), record.owner())
}

/// Sweeps every `interval` for as long as the server runs, in whichever
/// process of all instances takes the lease first; the others skip that
/// round. The first round runs at start-up.
pub async fn run_periodically(stores: Stores, owned: OwnedRecords, security: SecurityLog, config: SweepConfig, holder: String) {
    if config.sweep_interval.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(config.sweep_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sweeper = Sweeper { stores: &stores, owned: &owned, security: &security, grace: config.sweep_grace };
    loop {
        ticks.tick().await;
        let now = Millis::now();
        match stores.state.try_lease("sweep", &holder, now, now.plus(config.sweep_interval)).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "could not take the sweep lease; sweeping next round");
                continue;
            }
        }
        match sweeper.sweep(false).await {
            Ok(report) if report.is_empty() => tracing::info!("sweep found nothing to remove"),
            Ok(report) => tracing::warn!(report = %serde_json::to_string(&report).unwrap_or_default(), "sweep removed leftovers"),
            Err(err) => tracing::error!(error = %err, "sweep failed; sweeping next round"),
        }
    }
}
