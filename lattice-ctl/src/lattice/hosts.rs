//! The host commands: `get hosts`, `get inventory`, `host stop`, `host drain`, `label put` and `label del`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use lattice_interfaces::protocol::control::*;
use lattice_interfaces::{ComponentId, HostId};

use super::{done, send, GATHER};
use crate::client::{ConnArgs, LatticeClient};
use crate::output::{print_list, Format};

pub(super) fn labels_short(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) async fn ping(client: &LatticeClient) -> anyhow::Result<Vec<HostInfo>> {
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
                h.host_id.to_string(),
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
pub(super) async fn inventories(
    client: &LatticeClient,
    host: Option<&HostId>,
) -> anyhow::Result<Vec<Inventory>> {
    let ids: Vec<HostId> = match host {
        Some(h) => vec![h.clone()],
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
pub(super) async fn hosts_running(
    conn: &ConnArgs,
    host: Option<&HostId>,
    what: &str,
    id: &ComponentId,
) -> anyhow::Result<Vec<HostId>> {
    if let Some(host) = host {
        return Ok(vec![host.clone()]);
    }
    let client = LatticeClient::connect(conn).await?;
    let hosts: Vec<HostId> = inventories(&client, None)
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
    host: Option<&HostId>,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let inventories = inventories(&client, host).await?;
    let mut rows = Vec::new();
    for inv in &inventories {
        for a in &inv.actors {
            rows.push(vec![
                inv.host.host_id.to_string(),
                "actor".into(),
                a.id.to_string(),
                a.reference.clone(),
                format!("{}/{}", a.instances_in_use, a.max_instances),
                a.calls.to_string(),
            ]);
        }
        for p in &inv.providers {
            rows.push(vec![
                inv.host.host_id.to_string(),
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

/// `host stop HOST`.
pub async fn stop_host(conn: &ConnArgs, host: &HostId, format: Format) -> anyhow::Result<()> {
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
    host: &HostId,
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
    host: &HostId,
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
    host: &HostId,
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
