//! `logs ACTOR`: an actor's log lines (stdout, stderr, `wasi:logging`)
//! from every host that runs it, as they happen. Lines are not kept: it
//! follows from the moment it subscribed.

use futures::StreamExt as _;
use lattice_host::LogLine;
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

/// `logs ACTOR [--host H] [--level L]`: prints the lines of `actor` until
/// Ctrl-C (or `--timeout`), from the hosts whose id starts with `host`
/// when given, at `level` or above.
pub async fn follow(
    conn: &ConnArgs,
    actor: &ComponentId,
    host: Option<&str>,
    level: &str,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let mut lines = client
        .nats()
        .subscribe(client.subjects().log(actor.as_str()))
        .await?;
    client.nats().flush().await?;
    eprintln!(
        "Following the log lines of actor {actor} in lattice {} (Ctrl-C to stop)",
        client.subjects().lattice()
    );
    let least = rank(level);
    let stopped = super::stopped(conn);
    tokio::pin!(stopped);
    loop {
        let message = tokio::select! {
            () = &mut stopped => return Ok(()),
            message = lines.next() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
        };
        // Whatever else was published there is skipped.
        let Ok(line) = serde_json::from_slice::<LogLine>(&message.payload) else {
            continue;
        };
        if host.is_some_and(|h| !line.host.starts_with(h)) || rank(&line.level) < least {
            continue;
        }
        match format {
            Format::Json => println!("{}", serde_json::to_string(&line)?),
            Format::Table | Format::Wadm => println!(
                "{} {:<5} {}: {}",
                printable(line.host.get(..8).unwrap_or(&line.host)),
                printable(&line.level),
                printable(&line.source),
                printable(&line.text)
            ),
        }
    }
}
