//! The actor commands: `start actor`, `scale actor`, `update actor`, `call` and `stop actor`.

use std::collections::BTreeMap;

use anyhow::Context as _;
use lattice_interfaces::protocol::control::*;
use lattice_interfaces::{ComponentId, HostId};

use super::args::parse_pair;
use super::hosts::hosts_running;
use super::{done, send, GATHER};
use crate::client::{ConnArgs, LatticeClient};
use crate::output::Format;

/// Where to place something: a host, or the first host whose labels match.
#[derive(Debug, Clone, clap::Args)]
pub struct Placement {
    /// The host to use
    #[arg(long, conflicts_with = "constraints")]
    pub host: Option<HostId>,
    /// A label the host must have, KEY=VALUE; repeat for more
    #[arg(long = "constraint", value_parser = parse_pair)]
    pub constraints: Vec<(String, String)>,
}

pub(super) async fn place<O: Operation<Response = AuctionAck>>(
    client: &LatticeClient,
    placement: &Placement,
    auction: &O::Request,
) -> anyhow::Result<HostId> {
    if let Some(host) = &placement.host {
        return Ok(host.clone());
    }
    let acks = client.gather::<O>(auction, GATHER).await?;
    acks.iter()
        .find(|a| !a.already_running)
        .or(acks.first())
        .map(|a| a.host_id.clone())
        .with_context(|| {
            format!(
                "no host in lattice {} satisfies the constraints {:?}",
                client.subjects().lattice(),
                placement.constraints
            )
        })
}

/// How an actor runs: its instances, and the named config it reads.
#[derive(Debug, Clone, Default)]
pub struct ActorSettings {
    /// Most instances at once; 0 stops it.
    pub max_instances: u32,
    /// HTTP calls per instance, when given.
    pub instance_reuse: Option<u32>,
    /// 0: scale from zero; 1: linked at start; when given.
    pub min_instances: Option<u32>,
    /// Named config it reads, in order.
    pub config: Vec<ComponentId>,
    /// Secret references by key.
    pub secrets: BTreeMap<String, String>,
}

/// `start actor ID REF`.
pub async fn start_actor(
    conn: &ConnArgs,
    id: &ComponentId,
    reference: &str,
    placement: &Placement,
    settings: ActorSettings,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let constraints: BTreeMap<String, String> = placement.constraints.iter().cloned().collect();
    let auction = ActorAuction {
        actor_id: id.clone(),
        actor_ref: reference.to_string(),
        constraints,
    };
    let host = place::<op::AuctionActor>(&client, placement, &auction).await?;
    scale_on(&client, &host, id, reference, settings, format).await
}

/// Sends `actor.scale` to `host` with `settings`.
pub(super) async fn scale_on(
    client: &LatticeClient,
    host: &HostId,
    id: &ComponentId,
    reference: &str,
    settings: ActorSettings,
    format: Format,
) -> anyhow::Result<()> {
    let request = ScaleActor {
        models: Default::default(),
        actor_id: id.clone(),
        actor_ref: reference.to_string(),
        max_instances: settings.max_instances,
        instance_reuse: settings.instance_reuse,
        min_instances: settings.min_instances,
        // Given only when named: a running actor keeps what it reads.
        config: (!settings.config.is_empty()).then_some(settings.config),
        secrets: (!settings.secrets.is_empty()).then_some(settings.secrets),
    };
    let response = client
        .request::<op::ScaleActor>(Some(host), &request)
        .await?;
    done(
        format,
        &response,
        &format!("actor {id} started on host {host}"),
    )
}

/// `scale actor ID REF --host H --max-instances N`.
pub async fn scale_actor(
    conn: &ConnArgs,
    host: &HostId,
    id: &ComponentId,
    reference: &str,
    max_instances: u32,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let settings = ActorSettings {
        max_instances,
        ..ActorSettings::default()
    };
    scale_on(&client, host, id, reference, settings, format).await
}

/// `update actor ID NEW_REF --host H`.
pub async fn update_actor(
    conn: &ConnArgs,
    host: &HostId,
    id: &ComponentId,
    reference: &str,
    format: Format,
) -> anyhow::Result<()> {
    let request = UpdateActor {
        actor_id: id.clone(),
        new_actor_ref: reference.to_string(),
    };
    let message = format!("actor {id} on host {host} now runs {reference}");
    send::<op::UpdateActor>(conn, Some(host), &request, format, &message).await
}

/// `call ACTOR FUNCTION [ARGS]`: the results, one per line (WAVE).
pub async fn call_actor(
    conn: &ConnArgs,
    host: Option<&HostId>,
    id: &ComponentId,
    function: &str,
    args: Vec<String>,
    format: Format,
) -> anyhow::Result<()> {
    let host = hosts_running(conn, host, "actor", id)
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("no host runs actor {id}"))?;
    let request = CallActor {
        actor_id: id.clone(),
        function: function.to_string(),
        args,
    };
    let client = LatticeClient::connect(conn).await?;
    let called = client
        .request::<op::CallActor>(Some(&host), &request)
        .await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&called)?),
        Format::Table | Format::Wadm => {
            for result in &called.results {
                println!("{result}");
            }
        }
    }
    Ok(())
}

/// `stop actor ID --host H`.
pub async fn stop_actor(
    conn: &ConnArgs,
    host: Option<&HostId>,
    id: &ComponentId,
    format: Format,
) -> anyhow::Result<()> {
    let request = ScaleActor::stop(id.clone());
    for host in hosts_running(conn, host, "actor", id).await? {
        send::<op::ScaleActor>(
            conn,
            Some(&host),
            &request,
            format,
            &format!("actor {id} stopped on host {host}"),
        )
        .await?;
    }
    Ok(())
}
