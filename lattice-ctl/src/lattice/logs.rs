//! `logs ACTOR`: an actor's log lines (stdout, stderr, `wasi:logging`)
//! from every host that runs it: the last ones each host keeps (its last
//! 100 lines of the actor), then, with `-f`, each line as it happens.
//!
//! Following subscribes before it asks for the kept lines, and skips a
//! live line it already printed (the same host and line number), so no
//! line is missed or shown twice between the two.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// `logs ACTOR [-f] [--since D] [--host H] [--level L]`: prints the lines
/// of the actor its hosts keep, oldest first, then with `-f` every new
/// one until Ctrl-C (or `--timeout`).
pub async fn show(conn: &ConnArgs, query: &LogsQuery<'_>, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let mut live = if query.follow {
        let subscription = client
            .nats()
            .subscribe(client.subjects().log(query.actor.as_str()))
            .await?;
        client.nats().flush().await?;
        Some(subscription)
    } else {
        None
    };
    let since_ms = query.since.map(|since| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(now.saturating_sub(since).as_millis()).unwrap_or(u64::MAX)
    });
    let request = RecentLogsRequest {
        actor: query.actor.clone(),
        since_ms,
    };
    let answers = client
        .gather::<op::RecentActorLogs>(&request, super::GATHER)
        .await?;
    if answers.is_empty() && !query.follow {
        anyhow::bail!(
            "no host in lattice {} runs actor {}",
            client.subjects().lattice(),
            query.actor
        );
    }
    let mut kept: Vec<LogLine> = answers.into_iter().flat_map(|a| a.lines).collect();
    kept.sort_by(|a, b| (a.at_ms, &a.host, a.seq).cmp(&(b.at_ms, &b.host, b.seq)));
    // The last line printed of each host: live lines up to it were kept.
    let mut printed: HashMap<String, u64> = HashMap::new();
    for line in kept.iter().filter(|line| query.wants(line)) {
        print(line, format)?;
    }
    for line in kept {
        let last = printed.entry(line.host).or_default();
        *last = (*last).max(line.seq);
    }
    let Some(mut live) = live.take() else {
        return Ok(());
    };
    eprintln!(
        "Following the log lines of actor {} in lattice {} (Ctrl-C to stop)",
        query.actor,
        client.subjects().lattice()
    );
    let stopped = super::stopped(conn);
    tokio::pin!(stopped);
    loop {
        let message = tokio::select! {
            () = &mut stopped => return Ok(()),
            message = live.next() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
        };
        // Whatever else was published there is skipped.
        let Ok(line) = serde_json::from_slice::<LogLine>(&message.payload) else {
            continue;
        };
        if printed
            .get(&line.host)
            .is_some_and(|last| line.seq <= *last)
            || !query.wants(&line)
        {
            continue;
        }
        print(&line, format)?;
    }
}
