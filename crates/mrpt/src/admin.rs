//! `mrpt admin`: operator commands run against the configured stores, not
//! through a server, so they work the same with one instance or fifty, and
//! while every instance is down.

use crate::config::{parse_duration, StoreConfig};
use crate::datasets::DatasetRecord;
use crate::domain::{Millis, UserId, Username};
use crate::principal::Principal;
use crate::security::{EventKind, EventSubject, SecurityLog};
use crate::store::files::FilePrefix;
use crate::store::owned::OwnedRecords;
use crate::store::{Stores, UserRecord};
use crate::sweep::Sweeper;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    stores: StoreConfig,

    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Every account, with its live sessions and datasets.
    Users,
    /// Live sessions, of every user or of one.
    Sessions {
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// Ends every session of one user, on every instance at once.
    RevokeUser {
        /// The username.
        name: String,
    },
    /// Ends every session of every user: everyone must log in again.
    ResetSessions {
        /// Confirms that every user is to be logged out.
        #[arg(long)]
        yes: bool,
    },
    /// Removes datasets uploaded longer ago than this (e.g. `90d`), with
    /// their files, analyses and plans; accounts and sessions stay.
    Purge {
        #[arg(long, value_parser = parse_duration)]
        older_than: Duration,
    },
    /// Removes what crashes, store timeouts and abandoned uploads left:
    /// unfinished files, files no record stands for, records whose files are
    /// gone, expired resumable uploads and long-ended sessions.
    Sweep {
        /// Only print what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Files without a record are removed only once this old.
        #[arg(long, default_value = "1h", value_parser = crate::sweep::parse_duration_or_zero)]
        grace: Duration,
    },
    /// Security events, oldest first.
    Events {
        /// How far back (e.g. `24h`, `7d`) or since when (RFC 3339 time).
        #[arg(long, default_value = "24h", value_parser = parse_since)]
        since: Since,
    },
}

/// The start of an events listing.
#[derive(Debug, Clone, Copy)]
struct Since(Millis);

fn parse_since(raw: &str) -> Result<Since, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(Since(Millis(time.timestamp_millis())));
    }
    let ago = parse_duration(raw).map_err(|_| format!("{raw:?} is neither a duration like 24h nor an RFC 3339 time"))?;
    Ok(Since(Millis(Millis::now().0.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)))))
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let stores = Stores::open(&args.stores).await?;
    let security = SecurityLog::new(stores.state.clone(), None);
    let admin = Admin { owned: OwnedRecords::new(stores.state.clone(), security.clone()), security, stores };
    match args.command {
        AdminCommand::Users => admin.users().await,
        AdminCommand::Sessions { user } => admin.sessions(user.as_deref()).await,
        AdminCommand::RevokeUser { name } => admin.revoke_user(&name).await,
        AdminCommand::ResetSessions { yes } => admin.reset_sessions(yes).await,
        AdminCommand::Purge { older_than } => admin.purge(older_than).await,
        AdminCommand::Sweep { dry_run, grace } => admin.sweep(dry_run, grace).await,
        AdminCommand::Events { since } => admin.events(since).await,
    }
}

struct Admin {
    stores: Stores,
    owned: OwnedRecords,
    security: SecurityLog,
}

impl Admin {
    async fn users(&self) -> anyhow::Result<()> {
        let now = Millis::now();
        let mut rows = Vec::new();
        for user in self.stores.state.list_users().await? {
            let sessions = self.stores.state.live_sessions(user.id, now).await?.len();
            let datasets = self.owned.list::<DatasetRecord>(&Principal::operator(user.id, "users")).await?.len();
            rows.push(vec![
                user.username.to_string(),
                user.id.to_string(),
                user.created_at.rfc3339(),
                sessions.to_string(),
                datasets.to_string(),
            ]);
        }
        print_table(&["USERNAME", "ID", "CREATED", "SESSIONS", "DATASETS"], &rows);
        Ok(())
    }

    async fn sessions(&self, only: Option<&str>) -> anyhow::Result<()> {
        let users = match only {
            Some(name) => vec![self.user_named(name).await?],
            None => self.stores.state.list_users().await?,
        };
        let now = Millis::now();
        let mut rows = Vec::new();
        for user in &users {
            for session in self.stores.state.live_sessions(user.id, now).await? {
                rows.push(vec![
                    user.username.to_string(),
                    session.id.to_string(),
                    session.created_at.rfc3339(),
                    session.last_seen_at.rfc3339(),
                    session.idle_expires_at.min(session.expires_at).rfc3339(),
                ]);
            }
        }
        print_table(&["USERNAME", "SESSION", "CREATED", "LAST SEEN", "ENDS BY"], &rows);
        Ok(())
    }

    async fn revoke_user(&self, name: &str) -> anyhow::Result<()> {
        let user = self.user_named(name).await?;
        let ended = self.stores.state.end_user_sessions(user.id, None).await?;
        let subject = EventSubject { user_id: Some(user.id), ..EventSubject::default() };
        self.security
            .record(EventKind::SessionRevoked, subject, format!("an operator ended every session of the user ({ended})"))
            .await;
        println!("ended {ended} session(s) of {}", user.username);
        Ok(())
    }

    async fn reset_sessions(&self, confirmed: bool) -> anyhow::Result<()> {
        if !confirmed {
            bail!("reset-sessions logs out every user on every instance; run it again with --yes to go ahead");
        }
        let (mut ended, mut users) = (0, 0);
        for user in self.stores.state.list_users().await? {
            ended += self.stores.state.end_user_sessions(user.id, None).await?;
            users += 1;
        }
        let detail = format!("an operator ended every session: {ended} session(s) of {users} user(s)");
        self.security.record(EventKind::SessionsReset, EventSubject::default(), detail).await;
        println!("ended {ended} session(s) of {users} user(s)");
        Ok(())
    }

    async fn purge(&self, older_than: Duration) -> anyhow::Result<()> {
        let cutoff = Millis(Millis::now().0.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX)));
        let mut rows = Vec::new();
        for user in self.stores.state.list_users().await? {
            let principal = Principal::operator(user.id, "purge");
            for dataset in self.owned.list::<DatasetRecord>(&principal).await? {
                if dataset.uploaded_at >= cutoff {
                    continue;
                }
                if self.owned.delete::<DatasetRecord>(&principal, &dataset.id.to_string()).await?.is_some() {
                    self.stores
                        .files
                        .delete_prefix(&FilePrefix::dataset(&principal, dataset.id))
                        .await
                        .with_context(|| format!("dataset {} is gone but its files are not", dataset.id))?;
                    rows.push(vec![
                        user.username.to_string(),
                        dataset.id.to_string(),
                        dataset.uploaded_at.rfc3339(),
                        dataset.name.clone(),
                    ]);
                }
            }
        }
        print_table(&["USERNAME", "DATASET", "UPLOADED", "NAME"], &rows);
        println!("removed {} dataset(s) uploaded before {}", rows.len(), cutoff.rfc3339());
        Ok(())
    }

    async fn sweep(&self, dry_run: bool, grace: Duration) -> anyhow::Result<()> {
        let sweeper = Sweeper { stores: &self.stores, owned: &self.owned, security: &self.security, grace };
        let report = sweeper.sweep(dry_run).await?;
        let found = [
            ("unfinished file", &report.unfinished_files),
            ("file without a record", &report.orphan_files),
            ("record without its files", &report.records_without_files),
            ("expired upload", &report.expired_uploads),
            ("unfinished account deletion", &report.unfinished_deletions),
        ];
        let rows: Vec<Vec<String>> =
            found.iter().flat_map(|(what, items)| items.iter().map(|item| vec![what.to_string(), item.clone()])).collect();
        print_table(&["FOUND", "WHAT"], &rows);
        let verb = if dry_run { "would remove" } else { "removed" };
        println!("{verb} {} item(s); ended sessions removed: {}", rows.len(), report.ended_sessions);
        Ok(())
    }

    async fn events(&self, since: Since) -> anyhow::Result<()> {
        let names: HashMap<UserId, Username> =
            self.stores.state.list_users().await?.into_iter().map(|user| (user.id, user.username)).collect();
        let rows: Vec<Vec<String>> = self
            .stores
            .state
            .events_since(since.0)
            .await?
            .into_iter()
            .map(|event| {
                let user = event.user_id.map(|id| names.get(&id).map_or_else(|| id.to_string(), Username::to_string));
                vec![
                    event.at.rfc3339(),
                    event.kind,
                    user.unwrap_or_default(),
                    event.session_id.map(|id| id.to_string()).unwrap_or_default(),
                    event.request_id.unwrap_or_default(),
                    event.detail,
                ]
            })
            .collect();
        print_table(&["TIME", "EVENT", "USER", "SESSION", "REQUEST", "DETAIL"], &rows);
        Ok(())
    }

    async fn user_named(&self, name: &str) -> anyhow::Result<UserRecord> {
        let username = Username::parse(name).map_err(|_| anyhow::anyhow!("{name:?} is not a valid username"))?;
        self.stores.state.find_user_by_name(&username).await?.with_context(|| format!("there is no user named {name}"))
    }
}

/// Columns padded to their widest cell; the last one is left ragged.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| if i == last { (*cell).to_owned() } else { format!("{cell:<width$}", width = widths[i]) })
            .collect();
        println!("{}", padded.join("  "));
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
