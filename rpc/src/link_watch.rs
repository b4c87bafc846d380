//! Following the links in a lattice's state bucket, for hosts and provider
//! processes alike: a watch of `link.>` opened before every link entry is
//! read (so no change made while reading is missed), and, whenever that
//! watch ends (a NATS restart can end it), a new watch and a fresh read of
//! every entry, so a reader never serves stale links. Hosts follow named
//! config (`config.>`) the same way.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Store};
use futures::StreamExt as _;
use lattice_interfaces::protocol::state::LINK_PREFIX;
use tokio_util::sync::CancellationToken;

use crate::Backoff;

/// How long a watch may stay quiet before the bucket is asked whether it is
/// still there.
const CHECK_AFTER_QUIET: Duration = Duration::from_secs(10);

/// What changed in the bucket.
pub enum LinkChange {
    /// One entry was put or deleted.
    Entry(kv::Entry),
    /// Every link entry there is now, and the delete marker of every key
    /// reported before that holds one now (so a reader can tell a signed
    /// delete from a bare one): the watch was opened again and what
    /// happened meanwhile is only known from this.
    Snapshot(Vec<kv::Entry>),
}

/// The bucket's links, watched; re-watched and re-read when the watch ends.
pub struct LinkWatch {
    kv: Store,
    /// Whether the watch is open (false from its end until it is open again
    /// and every entry read).
    following: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The keys it follows: `link.` or `config.`.
    prefix: &'static str,
    watch: Option<kv::Watch>,
    backoff: Backoff,
    /// Every key reported so far: a snapshot includes the delete markers
    /// of those no longer live.
    reported: std::collections::HashSet<String>,
}

impl LinkWatch {
    /// Watches `kv`'s links; returns the watch and every link entry there
    /// is now.
    ///
    /// # Errors
    ///
    /// The bucket cannot be watched or read.
    pub async fn open(kv: Store) -> Result<(Self, Vec<kv::Entry>), String> {
        Self::open_prefix(kv, LINK_PREFIX).await
    }

    /// Watches `kv`'s keys that start with `prefix` (e.g. `config.`);
    /// returns the watch and every such entry there is now.
    ///
    /// # Errors
    ///
    /// The bucket cannot be watched or read.
    pub async fn open_prefix(
        kv: Store,
        prefix: &'static str,
    ) -> Result<(Self, Vec<kv::Entry>), String> {
        let reported = std::collections::HashSet::new();
        let (watch, snapshot) = watch_and_read(&kv, prefix, &reported).await?;
        let mut this = Self {
            kv,
            following: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            prefix,
            watch: Some(watch),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            reported,
        };
        this.note(&snapshot);
        Ok((this, snapshot))
    }

    /// Whether the watch is open, asked each time: false from the moment it
    /// ends until it is open again and every entry has been read (what a
    /// reader serves meanwhile may be stale).
    pub fn following(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.following.clone()
    }

    /// The next change: an entry, or, when the watch had to be opened
    /// again, a snapshot of every link entry. Waits (retrying with backoff)
    /// while the bucket cannot be watched.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a change is returned whole or not at all; a snapshot
    /// dropped half-read is read again next time.
    pub async fn next(&mut self) -> LinkChange {
        loop {
            if let Some(watch) = &mut self.watch {
                // async-nats re-creates a watch's consumer by itself, for
                // ever and silently: a bucket that is gone (a JetStream
                // store lost) would leave it waiting with no end. So the
                // bucket is asked after every quiet spell.
                let next = tokio::select! {
                    next = watch.next() => next,
                    () = tokio::time::sleep(CHECK_AFTER_QUIET) => {
                        self.check_bucket().await;
                        continue;
                    }
                };
                match next {
                    Some(Ok(entry)) => {
                        self.note(std::slice::from_ref(&entry));
                        return LinkChange::Entry(entry);
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, prefix = self.prefix, "bucket watch error");
                        self.check_bucket().await;
                        continue;
                    }
                    None => {
                        tracing::warn!(
                            prefix = self.prefix,
                            "the bucket watch ended; watching and reading every entry again"
                        );
                        self.watch = None;
                        self.following
                            .store(false, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            match watch_and_read(&self.kv, self.prefix, &self.reported).await {
                Ok((watch, snapshot)) => {
                    // Keys with no record left at all are forgotten.
                    self.reported.clear();
                    self.note(&snapshot);
                    self.watch = Some(watch);
                    self.backoff.reset();
                    self.following
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    return LinkChange::Snapshot(snapshot);
                }
                Err(error) => {
                    tracing::warn!(%error, prefix = self.prefix, retry_in = ?self.backoff.delay(), "cannot watch the lattice's bucket");
                    self.backoff.wait(&CancellationToken::new()).await;
                }
            }
        }
    }
}

impl LinkWatch {
    /// Remembers the keys of `entries` as reported.
    fn note(&mut self, entries: &[kv::Entry]) {
        self.reported
            .extend(entries.iter().map(|entry| entry.key.clone()));
    }

    /// Drops the watch when the bucket cannot be read, so the next change
    /// is a fresh watch and snapshot (or a wait for the bucket).
    async fn check_bucket(&mut self) {
        if let Err(error) = self.kv.stream.get_info().await {
            tracing::warn!(%error, prefix = self.prefix, "the lattice's bucket cannot be read; watching and reading every entry again");
            self.watch = None;
            self.following
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A watch of every key under `prefix`, then every such entry there is now
/// (what else shares the bucket is left out), then the last record of each
/// key in `reported` that is no longer live (its delete marker).
async fn watch_and_read(
    kv: &Store,
    prefix: &str,
    reported: &std::collections::HashSet<String>,
) -> Result<(kv::Watch, Vec<kv::Entry>), String> {
    let watch = kv
        .watch(format!("{prefix}>"))
        .await
        .map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    // An empty bucket may have no key stream at all: no links yet.
    if let Ok(mut keys) = kv.keys().await {
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| e.to_string())?;
            if key.starts_with(prefix) {
                names.push(key);
            }
        }
    }
    let live: std::collections::HashSet<&String> = names.iter().collect();
    let mut gone: Vec<&String> = reported.iter().filter(|key| !live.contains(key)).collect();
    gone.sort();
    let mut entries = Vec::with_capacity(names.len() + gone.len());
    for key in names.iter().chain(gone) {
        if let Some(entry) = kv.entry(key.as_str()).await.map_err(|e| e.to_string())? {
            entries.push(entry);
        }
    }
    Ok((watch, entries))
}
