//! The provider commands: `start provider` and `stop provider`.

use std::collections::BTreeMap;

use lattice_interfaces::protocol::control::*;
use lattice_interfaces::{ComponentId, HostId};

use super::actors::{place, Placement};
use super::hosts::hosts_running;
use super::{done, send};
use crate::client::{ConnArgs, LatticeClient};
use crate::output::Format;

/// `start provider ID REF`.
pub async fn start_provider(
    conn: &ConnArgs,
    id: &ComponentId,
    reference: &str,
    placement: &Placement,
    config: &[(String, String)],
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let constraints: BTreeMap<String, String> = placement.constraints.iter().cloned().collect();
    let auction = ProviderAuction {
        provider_id: id.clone(),
        reference: reference.to_string(),
        constraints,
    };
    let host = place::<op::AuctionProvider>(&client, placement, &auction).await?;
    let request = StartProvider {
        provider_id: id.clone(),
        reference: reference.to_string(),
        config: config.iter().cloned().collect(),
    };
    let response = client
        .request::<op::StartProvider>(Some(&host), &request)
        .await?;
    done(
        format,
        &response,
        &format!("provider {id} ({reference}) started on host {host}"),
    )
}

/// `stop provider ID --host H`.
pub async fn stop_provider(
    conn: &ConnArgs,
    host: Option<&HostId>,
    id: &ComponentId,
    format: Format,
) -> anyhow::Result<()> {
    let request = StopProvider {
        provider_id: id.clone(),
    };
    for host in hosts_running(conn, host, "provider", id).await? {
        send::<op::StopProvider>(
            conn,
            Some(&host),
            &request,
            format,
            &format!("provider {id} stopped on host {host}"),
        )
        .await?;
    }
    Ok(())
}
