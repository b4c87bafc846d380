//! The lattice commands, one module per area: `get`, `start`, `scale`,
//! `update`, `call`, `stop`, `link`, `config`, `host`, `label`, `watch
//! events`, `reset`, `msg` and `logs`. Each command connects, sends typed control
//! requests through `lattice-client` and prints a table or `-o json`.

mod actors;
mod args;
mod config;
mod events;
mod hosts;
mod links;
mod logs;
mod msg;
mod providers;

use std::time::Duration;

use lattice_interfaces::protocol::control::Operation;
use lattice_interfaces::HostId;

use crate::client::{ConnArgs, LatticeClient};
use crate::output::Format;

pub use actors::{
    call_actor, scale_actor, start_actor, stop_actor, update_actor, ActorSettings, Placement,
};
pub use args::{flatten, parse_pair, parse_pairs, Pairs};
pub use config::{delete_config, get_config, put_config};
pub use events::watch_events;
pub use hosts::{delete_label, drain_host, get_hosts, get_inventory, put_label, stop_host};
pub use links::{delete_link, get_claims, get_links, put_link, reset};
pub use logs::{parse_level, show as show_logs, ActorLines, LogsQuery};
pub use msg::{publish, request};
pub use providers::{start_provider, stop_provider};

/// Returns on Ctrl-C, or once `--timeout` has passed when given: when a
/// command that follows the lattice (`watch events`, `logs`) stops.
pub(super) async fn stopped(conn: &ConnArgs) {
    let timeout = async {
        match conn.timeout {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = timeout => {}
    }
}

/// How long scatter-gather requests collect answers.
pub(super) const GATHER: Duration = Duration::from_millis(1000);

/// Sends one request and prints its response (JSON) or `message` (table).
pub(super) async fn send<O: Operation>(
    conn: &ConnArgs,
    host: Option<&HostId>,
    body: &O::Request,
    format: Format,
    message: &str,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let response = client.request::<O>(host, body).await?;
    done(format, &response, message)
}

pub fn done<T: serde::Serialize>(
    format: Format,
    response: &T,
    message: &str,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(response)?),
        Format::Table | Format::Wadm => println!("{message}"),
    }
    Ok(())
}
