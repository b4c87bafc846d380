//! What the lattice's bucket holds: `get links`, `get claims`, `link put`, `link del` and `reset`.

use anyhow::{bail, Context as _};
use lattice_interfaces::protocol::control::*;
use lattice_interfaces::{ComponentId, Contract, Link};

use super::{done, send};
use crate::client::{ConnArgs, LatticeClient};
use crate::output::{print_list, Format};

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

/// `link put`. Its ends need not run anywhere yet (an app's links are put
/// before its actors start): the message says when the link applies.
pub async fn put_link(conn: &ConnArgs, link: Link, format: Format) -> anyhow::Result<()> {
    let said = format!(
        "link {link} put: it applies wherever {} runs, now or when it starts (`lattice-ctl get inventory` shows where)",
        link.source
    );
    send::<op::PutLink>(conn, None, &link, format, &said).await
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
                lattice_client::state::DeletedLink::Link(link) => done(format, &link, &said),
                lattice_client::state::DeletedLink::Unreadable { key } => {
                    done(format, &serde_json::json!({ "deleted": key }), &said)
                }
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// `reset --yes`: deletes every link, named config and claims record from
/// the lattice's state bucket, directly (no host needed). These deletes are
/// not signed (no cluster key here): hosts that run keep what they serve
/// until they restart; delete through a host (`link del`) to drop a link
/// at once.
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
