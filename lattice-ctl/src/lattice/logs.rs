//! `logs ACTOR`: an actor's log lines (stdout, stderr, `wasi:logging`)
//! from every host that runs it: the last ones each host keeps (its last
//! 100 lines of the actor), then, with `-f`, each line as it happens.
//!
//! Following subscribes before it asks for the kept lines, and skips a
//! live line it already printed (the same host and line number), so no
//! line is missed or shown twice between the two.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::protocol::control::op;
use lattice_interfaces::protocol::logs::{LogLine, RecentLogsRequest};
use lattice_interfaces::ComponentId;

use crate::client::{ConnArgs, LatticeClient};
use crate::output::Format;

/// The levels, least severe first.
const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

fn rank(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0)
}

/// `text` with its control characters escaped: an actor's line cannot
/// move the operator's cursor, clear the screen or set the clipboard.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Checks a `--level` value.
///
/// # Errors
///
/// Not a level, named.
pub fn parse_level(text: &str) -> Result<String, String> {
    let level = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&level.as_str()) {
        Ok(level)
    } else {
        Err(format!("{text:?} is not a level: {}", LEVELS.join(", ")))
    }
}

/// What `logs` shows: whose lines, from where, from when.
#[derive(Debug, Clone)]
pub struct LogsQuery<'a> {
    /// The actor.
    pub actor: &'a ComponentId,
    /// Only hosts whose id starts with this.
    pub host: Option<&'a str>,
    /// Only lines at this level or above.
    pub level: &'a str,
    /// Only kept lines at most this old.
    pub since: Option<Duration>,
    /// Go on printing lines as they are logged.
    pub follow: bool,
}

impl LogsQuery<'_> {
    fn wants(&self, line: &LogLine) -> bool {
        self.host.is_none_or(|h| line.host.starts_with(h)) && rank(&line.level) >= rank(self.level)
    }
}

fn print(line: &LogLine, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(line)?),
        Format::Table | Format::Wadm => println!(
            "{} #{} {:<5} {}: {}",
            printable(line.host.get(..8).unwrap_or(&line.host)),
            line.instance,
            printable(&line.level),
            printable(&line.source),
            printable(&line.text)
        ),
    }
    Ok(())
}

/// An actor's lines: those its hosts keep, oldest first, then, when
/// following, each new one; each line once.
pub struct ActorLines {
    kept: std::vec::IntoIter<LogLine>,
    live: Option<async_nats::Subscriber>,
    /// The last line printed of each host: live lines up to it were kept.
    printed: HashMap<String, u64>,
    /// Whether any host answered.
    pub answered: bool,
}

impl ActorLines {
    /// Asks the hosts of `client`'s lattice for the lines of `actor` they
    /// keep (logged at or after `since_ms`), having subscribed to its live
    /// lines first when `follow`.
    ///
    /// # Errors
    ///
    /// NATS fails.
    pub async fn open(
        client: &LatticeClient,
        actor: &ComponentId,
        since_ms: Option<u64>,
        follow: bool,
    ) -> anyhow::Result<Self> {
        let live = if follow {
            let subscription = client
                .nats()
                .subscribe(client.subjects().log(actor.as_str()))
                .await?;
            client.nats().flush().await?;
            Some(subscription)
        } else {
            None
        };
        let request = RecentLogsRequest {
            actor: actor.clone(),
            since_ms,
        };
        let answers = client
            .control()
            .gather::<op::RecentActorLogs>(&request, super::GATHER)
            .await?;
        let answered = !answers.is_empty();
        let mut kept: Vec<LogLine> = answers.into_iter().flat_map(|a| a.lines).collect();
        kept.sort_by(|a, b| (a.at_ms, &a.host, a.seq).cmp(&(b.at_ms, &b.host, b.seq)));
        let mut printed: HashMap<String, u64> = HashMap::new();
        for line in &kept {
            let last = printed.entry(line.host.clone()).or_default();
            *last = (*last).max(line.seq);
        }
        Ok(Self {
            kept: kept.into_iter(),
            live,
            printed,
            answered,
        })
    }

    /// Whether it goes on after the kept lines.
    pub fn follows(&self) -> bool {
        self.live.is_some()
    }

    /// The next line; `None` after the kept ones when not following, or
    /// when the subscription ends.
    pub async fn next(&mut self) -> Option<LogLine> {
        if let Some(line) = self.kept.next() {
            return Some(line);
        }
        let live = self.live.as_mut()?;
        loop {
            let message = live.next().await?;
            // Whatever else was published there is skipped.
            let Ok(line) = serde_json::from_slice::<LogLine>(&message.payload) else {
                continue;
            };
            if self
                .printed
                .get(&line.host)
                .is_some_and(|last| line.seq <= *last)
            {
                continue;
            }
            return Some(line);
        }
    }
}

/// `since` ago, in Unix milliseconds.
fn since_ms(since: Duration) -> u64 {
    lattice_interfaces::protocol::rpc::unix_ms()
        .saturating_sub(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// `logs ACTOR [-f] [--since D] [--host H] [--level L]`: prints the lines
/// of the actor its hosts keep, oldest first, then with `-f` every new
/// one until Ctrl-C (or `--timeout`).
pub async fn show(conn: &ConnArgs, query: &LogsQuery<'_>, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let mut lines = ActorLines::open(
        &client,
        query.actor,
        query.since.map(since_ms),
        query.follow,
    )
    .await?;
    if !lines.answered && !query.follow {
        anyhow::bail!(
            "no host in lattice {} runs actor {}",
            client.subjects().lattice(),
            query.actor
        );
    }
    let stopped = super::stopped(conn);
    tokio::pin!(stopped);
    // Said once, when the kept lines are out and the live ones begin.
    let mut said_following = false;
    loop {
        if !said_following && lines.kept.len() == 0 && lines.follows() {
            said_following = true;
            eprintln!(
                "Following the log lines of actor {} in lattice {} (Ctrl-C to stop)",
                query.actor,
                client.subjects().lattice()
            );
        }
        let line = tokio::select! {
            () = &mut stopped => return Ok(()),
            line = lines.next() => match line {
                Some(line) => line,
                None => return Ok(()),
            },
        };
        if query.wants(&line) {
            print(&line, format)?;
        }
    }
}
