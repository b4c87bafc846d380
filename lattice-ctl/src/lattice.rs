//! The lattice commands: `get`, `start`, `scale`, `update`, `stop`, `link`,
//! `config`, `host stop` and `watch events`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures::StreamExt as _;
use lattice_interfaces::protocol::control::*;
use lattice_interfaces::{ComponentId, Contract, Link};
use serde_json::Value;

use crate::client::{ConnArgs, LatticeClient};
use crate::output::{print_list, Format};

/// How long scatter-gather requests collect answers.
const GATHER: Duration = Duration::from_millis(1000);

/// Parses `KEY=VALUE[,KEY=VALUE...]`: a comma starts a new pair only when
/// what follows has a `=`, so `address=IP:PORT,path=/api` is two pairs and
/// `subscriptions=a.b,c.>` one.
pub fn parse_pairs(text: &str) -> Result<Pairs, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for chunk in text.split(',') {
        match (chunk.split_once('='), pairs.last_mut()) {
            (Some((key, value)), _) if !key.is_empty() => {
                pairs.push((key.trim().to_string(), value.to_string()));
            }
            (None, Some((_, value))) => {
                value.push(',');
                value.push_str(chunk);
            }
            _ => return Err(format!("{text:?} is not KEY=VALUE[,KEY=VALUE...]")),
        }
    }
    Ok(Pairs(pairs))
}

/// Pairs given to one `--source-config`, `--target-config` or `--config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs(pub Vec<(String, String)>);

/// Every pair of repeated `--...-config` flags, in order.
pub fn flatten(pairs: Vec<Pairs>) -> Vec<(String, String)> {
    pairs.into_iter().flat_map(|p| p.0).collect()
}

/// Parses `KEY=VALUE`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn labels_short(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn ping(client: &LatticeClient) -> anyhow::Result<Vec<HostInfo>> {
    let mut hosts: Vec<HostInfo> = client.gather::<op::Ping>(&Empty {}, GATHER).await?;
    hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    Ok(hosts)
}

/// `get hosts`.
pub async fn get_hosts(conn: &ConnArgs, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let hosts = ping(&client).await?;
    if hosts.is_empty() && format == Format::Table {
        bail!(
            "no host in lattice {} at {} answered a ping",
            client.subjects().lattice(),
            conn.nats.url_or_default()
        );
    }
    let rows = hosts
        .iter()
        .map(|h| {
            vec![
                h.host_id.clone(),
                h.uptime_seconds.to_string(),
                h.actors.to_string(),
                h.providers.to_string(),
                labels_short(&h.labels),
            ]
        })
        .collect();
    print_list(
        format,
        &hosts,
        (
            &["HOST ID", "UPTIME S", "ACTORS", "PROVIDERS", "LABELS"],
            "hosts",
        ),
        rows,
    )
}

/// `get inventory [HOST]`.
/// The inventory of `host`, or of every host that answers a ping.
async fn inventories(client: &LatticeClient, host: Option<&str>) -> anyhow::Result<Vec<Inventory>> {
    let ids: Vec<String> = match host {
        Some(h) => vec![h.to_string()],
        None => ping(client).await?.into_iter().map(|h| h.host_id).collect(),
    };
    let mut inventories = Vec::new();
    for id in &ids {
        let inventory = client.request::<op::Inventory>(Some(id), &Empty {}).await?;
        inventories.push(inventory);
    }
    Ok(inventories)
}

/// The hosts that run `id` (an actor or a provider): `host` when given,
/// else every host whose inventory lists it.
async fn hosts_running(
    conn: &ConnArgs,
    host: Option<&str>,
    what: &str,
    id: &ComponentId,
) -> anyhow::Result<Vec<String>> {
    if let Some(host) = host {
        return Ok(vec![host.to_string()]);
    }
    let client = LatticeClient::connect(conn).await?;
    let hosts: Vec<String> = inventories(&client, None)
        .await?
        .into_iter()
        .filter(|inv| {
            inv.actors.iter().any(|a| a.id == *id) || inv.providers.iter().any(|p| p.id == *id)
        })
        .map(|inv| inv.host.host_id)
        .collect();
    if hosts.is_empty() {
        anyhow::bail!(
            "no host in lattice {} runs {what} {id} (see lattice-ctl get inventory)",
            conn.nats.lattice
        );
    }
    Ok(hosts)
}

pub async fn get_inventory(
    conn: &ConnArgs,
    host: Option<&str>,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let inventories = inventories(&client, host).await?;
    let mut rows = Vec::new();
    for inv in &inventories {
        for a in &inv.actors {
            rows.push(vec![
                inv.host.host_id.clone(),
                "actor".into(),
                a.id.to_string(),
                a.reference.clone(),
                format!("{}/{}", a.instances_in_use, a.max_instances),
                a.calls.to_string(),
            ]);
        }
        for p in &inv.providers {
            rows.push(vec![
                inv.host.host_id.clone(),
                "provider".into(),
                p.id.to_string(),
                p.reference.clone(),
                "-".into(),
                "-".into(),
            ]);
        }
    }
    print_list(
        format,
        &inventories,
        (
            &["HOST ID", "KIND", "ID", "REFERENCE", "INSTANCES", "CALLS"],
            "actors or providers",
        ),
        rows,
    )
}

/// `get links`.
pub async fn get_links(conn: &ConnArgs, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let links = match client
        .control()
        .request::<op::GetLinks>(None, &Empty {})
        .await
    {
        Ok(links) => links,
        // No host runs: the lattice's bucket is there all the same. Only a
        // host can verify its entries' signatures, so say so.
        Err(no_answer @ lattice_client::ControlError::NoAnswer { .. }) => {
            // A lattice no host has ever joined has no bucket either: then
            // the missing host is the news.
            let Ok(state) = client.state().await else {
                return Err(no_answer.into());
            };
            let links = state.links().await?;
            eprintln!(
                "no host answered: links read from the lattice's state bucket, signatures not checked"
            );
            links
        }
        Err(error) => return Err(error.into()),
    };
    let rows = links
        .iter()
        .map(|l| {
            vec![
                l.source.to_string(),
                l.target.to_string(),
                l.contract().to_string(),
                l.name.clone(),
                l.source_config
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    print_list(
        format,
        &links,
        (
            &["SOURCE", "TARGET", "CONTRACT", "NAME", "SOURCE CONFIG"],
            "links",
        ),
        rows,
    )
}

/// `get claims`.
pub async fn get_claims(conn: &ConnArgs, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let claims = client.request::<op::GetClaims>(None, &Empty {}).await?;
    let rows = claims
        .iter()
        .map(|listed| {
            let (name, version) = listed.name_and_version();
            vec![
                listed.kind().to_string(),
                name.unwrap_or("-").to_string(),
                listed.subject().to_string(),
                listed.issuer().to_string(),
                version.unwrap_or("-").to_string(),
            ]
        })
        .collect();
    print_list(
        format,
        &claims,
        (&["KIND", "NAME", "SUBJECT", "ISSUER", "VERSION"], "claims"),
        rows,
    )
}

/// Where to place something: a host, or the first host whose labels match.
#[derive(Debug, Clone, clap::Args)]
pub struct Placement {
    /// The host to use
    #[arg(long, conflicts_with = "constraints")]
    pub host: Option<String>,
    /// A label the host must have, KEY=VALUE; repeat for more
    #[arg(long = "constraint", value_parser = parse_pair)]
    pub constraints: Vec<(String, String)>,
}

async fn place<O: Operation<Response = AuctionAck>>(
    client: &LatticeClient,
    placement: &Placement,
    auction: &O::Request,
) -> anyhow::Result<String> {
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
async fn scale_on(
    client: &LatticeClient,
    host: &str,
    id: &ComponentId,
    reference: &str,
    settings: ActorSettings,
    format: Format,
) -> anyhow::Result<()> {
    let request = ScaleActor {
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
    host: &str,
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
    host: &str,
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
    host: Option<&str>,
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
        Format::Table => {
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
    host: Option<&str>,
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
        provider_ref: reference.to_string(),
        constraints,
    };
    let host = place::<op::AuctionProvider>(&client, placement, &auction).await?;
    let request = StartProvider {
        provider_id: id.clone(),
        provider_ref: reference.to_string(),
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
    host: Option<&str>,
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

/// `link put`.
pub async fn put_link(conn: &ConnArgs, link: Link, format: Format) -> anyhow::Result<()> {
    send::<op::PutLink>(conn, None, &link, format, &format!("link {link} put")).await
}

/// `link del SOURCE NS:PKG[/IFACE]`.
pub async fn delete_link(
    conn: &ConnArgs,
    source: &ComponentId,
    package: &str,
    name: &str,
    format: Format,
) -> anyhow::Result<()> {
    let contract = if package.contains('/') {
        package.to_string()
    } else {
        format!("{package}/x")
    };
    let contract = Contract::parse(&contract).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = LatticeClient::connect(conn).await?;
    let request = LinkDel {
        source: source.clone(),
        namespace: contract.namespace,
        package: contract.package,
        name: name.to_string(),
    };
    let key = lattice_interfaces::LinkKey {
        source: request.source.clone(),
        namespace: request.namespace.clone(),
        package: request.package.clone(),
        name: request.name.clone(),
    };
    match client
        .control()
        .request::<op::DeleteLink>(None, &request)
        .await
    {
        Ok(link) => done(format, &link, &format!("link {link} deleted")),
        // No host runs: the lattice's bucket is there all the same.
        Err(lattice_client::ControlError::NoAnswer { .. }) => {
            let deleted = client.state().await?.delete_link(&key).await?;
            let deleted = deleted.with_context(|| {
                format!(
                    "no link from {source} for {package} named {name} in lattice {}",
                    client.subjects().lattice()
                )
            })?;
            let said = format!("{deleted} deleted from the lattice's state (no host answered)");
            match deleted {
                lattice_host::lattice::DeletedLink::Link(link) => done(format, &link, &said),
                lattice_host::lattice::DeletedLink::Unreadable { key } => {
                    done(format, &serde_json::json!({ "deleted": key }), &said)
                }
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// `reset --yes`: deletes every link, named config and claims record from
/// the lattice's state bucket, directly (no host needed). Hosts that run
/// drop the deleted links at once.
pub async fn reset(conn: &ConnArgs, yes: bool, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let lattice = client.subjects().lattice().to_string();
    if !yes {
        bail!("reset deletes every link, named config, claims record and app of lattice {lattice}: run it again with --yes");
    }
    let state = client.state().await?;
    use lattice_interfaces::protocol::state::{CLAIMS_PREFIX, CONFIG_PREFIX, LINK_PREFIX};
    let links = state.clear(LINK_PREFIX).await?;
    let config = state.clear(CONFIG_PREFIX).await?;
    let claims = state.clear(CLAIMS_PREFIX).await?;
    // Apps and their statuses (`apps`, `appstatus.…`): the reconciler
    // would put their links back otherwise. What runs keeps running.
    let apps = state.clear("apps").await?;
    done(
        format,
        &serde_json::json!({ "links": links, "config": config, "claims": claims, "apps": apps }),
        &format!(
            "lattice {lattice} reset: {links} links, {config} config, {claims} claims, {apps} app records deleted"
        ),
    )
}

/// `config put NAME KEY=VALUE...`.
pub async fn put_config(
    conn: &ConnArgs,
    name: &ComponentId,
    values: &[(String, String)],
    format: Format,
) -> anyhow::Result<()> {
    let request = ConfigPut {
        name: name.clone(),
        values: values.iter().cloned().collect(),
    };
    send::<op::PutConfig>(
        conn,
        None,
        &request,
        format,
        &format!("config {name} stored"),
    )
    .await
}

/// `config get NAME`.
pub async fn get_config(conn: &ConnArgs, name: &ComponentId, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let values = client
        .request::<op::GetConfig>(None, &ConfigName { name: name.clone() })
        .await?;
    let rows = values
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    print_list(format, &values, (&["KEY", "VALUE"], "values"), rows)
}

/// `config del NAME`.
pub async fn delete_config(
    conn: &ConnArgs,
    name: &ComponentId,
    format: Format,
) -> anyhow::Result<()> {
    let request = ConfigName { name: name.clone() };
    send::<op::DeleteConfig>(
        conn,
        None,
        &request,
        format,
        &format!("config {name} deleted"),
    )
    .await
}

/// `host stop HOST`.
pub async fn stop_host(conn: &ConnArgs, host: &str, format: Format) -> anyhow::Result<()> {
    send::<op::StopHost>(
        conn,
        Some(host),
        &StopHost::default(),
        format,
        &format!("host {host} is stopping"),
    )
    .await
}

/// `label put HOST KEY=VALUE`.
pub async fn put_label(
    conn: &ConnArgs,
    host: &str,
    key: &str,
    value: &str,
    format: Format,
) -> anyhow::Result<()> {
    let request = LabelPut {
        key: key.to_string(),
        value: value.to_string(),
    };
    send::<op::PutLabel>(
        conn,
        Some(host),
        &request,
        format,
        &format!("host {host}: {key}={value}"),
    )
    .await
}

/// `label del HOST KEY`.
pub async fn delete_label(
    conn: &ConnArgs,
    host: &str,
    key: &str,
    format: Format,
) -> anyhow::Result<()> {
    let request = LabelDel {
        key: key.to_string(),
    };
    send::<op::DeleteLabel>(
        conn,
        Some(host),
        &request,
        format,
        &format!("host {host}: {key} removed"),
    )
    .await
}

/// `host drain HOST`: marks the host draining (the reconciler places
/// nothing on it and places what it runs elsewhere), waits until every app
/// has converged without it, then stops it gracefully.
pub async fn drain_host(
    conn: &ConnArgs,
    host: &str,
    wait: Duration,
    format: Format,
) -> anyhow::Result<()> {
    use lattice_interfaces::placement::DRAINING_LABEL;
    let client = LatticeClient::connect(conn).await?;
    let request = LabelPut {
        key: DRAINING_LABEL.to_string(),
        value: "true".to_string(),
    };
    client.request::<op::PutLabel>(Some(host), &request).await?;
    let state = client.state().await?;
    let bar = crate::client::spinner(format!(
        "host {host} draining: waiting for its apps to run elsewhere"
    ));
    let until = tokio::time::Instant::now() + wait;
    let waiting_for = loop {
        let (apps, _) = state.apps().await?;
        let mut waiting_for = Vec::new();
        for (name, app) in &apps.apps {
            if app.current == 0 {
                continue;
            }
            let status = state.app_status(name).await?;
            if !status.is_some_and(|status| status.settled_without(host)) {
                waiting_for.push(name.clone());
            }
        }
        if waiting_for.is_empty() || tokio::time::Instant::now() >= until {
            break waiting_for;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    if !waiting_for.is_empty() {
        bail!(
            "host {host}: apps {} have not converged without it after {}s; it keeps running, marked {DRAINING_LABEL} (undo: lattice-ctl label del {host} {DRAINING_LABEL})",
            waiting_for.join(", "),
            wait.as_secs()
        );
    }
    let stopped = client
        .request::<op::StopHost>(Some(host), &StopHost::default())
        .await?;
    done(
        format,
        &stopped,
        &format!("host {host} drained: its apps run elsewhere; it is stopping"),
    )
}

/// `watch events`: prints every event until Ctrl-C.
pub async fn watch_events(conn: &ConnArgs, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let mut events = client
        .nats()
        .subscribe(client.subjects().all_events())
        .await?;
    eprintln!(
        "Watching events of lattice {} (Ctrl-C to stop)",
        client.subjects().lattice()
    );
    let until = conn
        .timeout
        .map(|secs| tokio::time::Instant::now() + Duration::from_secs(secs));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = async {
                match until {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            } => return Ok(()),
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                match format {
                    Format::Json => println!("{}", String::from_utf8_lossy(&event.payload)),
                    Format::Table => {
                        let value: Value = serde_json::from_slice(&event.payload).unwrap_or(Value::Null);
                        let kind = event.subject.rsplit('.').next().unwrap_or_default().to_string();
                        println!("{} {kind:<22} {}", value.pointer("/time").and_then(Value::as_str).unwrap_or("-"), value.pointer("/data").unwrap_or(&Value::Null));
                    }
                }
            }
        }
    }
}

/// Sends one request and prints its response (JSON) or `message` (table).
async fn send<O: Operation>(
    conn: &ConnArgs,
    host: Option<&str>,
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
        Format::Table => println!("{message}"),
    }
    Ok(())
}

/// `msg pub SUBJECT BODY`: one message on the lattice's NATS.
pub async fn publish(conn: &ConnArgs, subject: &str, body: &str) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    client
        .nats()
        .publish(subject.to_string(), body.to_string().into())
        .await
        .with_context(|| format!("cannot publish on {subject}"))?;
    client.nats().flush().await?;
    Ok(())
}

/// `msg request SUBJECT BODY`: prints the reply's body (JSON: subject and
/// body), or says that nobody answered.
pub async fn request(
    conn: &ConnArgs,
    subject: &str,
    body: &str,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let timeout = conn.answer_timeout();
    let reply = tokio::time::timeout(
        timeout,
        client
            .nats()
            .request(subject.to_string(), body.to_string().into()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no reply on {subject} within {timeout:?}"))?
    .map_err(|e| anyhow::anyhow!("request on {subject} failed: {e}"))?;
    let text = String::from_utf8_lossy(&reply.payload).into_owned();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "subject": reply.subject.as_str(), "body": text })
        ),
        Format::Table => println!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_pairs(text).unwrap().0
    }

    #[test]
    fn commas_separate_pairs_only_before_a_key() {
        let owned = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pairs("address=127.0.0.1:8080,path=/api"),
            owned(&[("address", "127.0.0.1:8080"), ("path", "/api")])
        );
        assert_eq!(
            pairs("subscriptions=a.b,c.>"),
            owned(&[("subscriptions", "a.b,c.>")])
        );
        assert!(parse_pairs("no-equals").is_err());
        assert!(parse_pairs("=value").is_err());
    }
}
