//! `lattice-ctl ui`: a dashboard of one lattice in the browser.
//!
//! What it owns and how the parts fit:
//!
//! 1. [`feed`]: one task owns the subscription to the lattice's events
//!    (`lattice.<L>.evt.>`). Each event is numbered, kept in a ring of the
//!    last [`feed::BACKLOG`], broadcast to every open page, and turned into
//!    a [`snapshot::Hint`] for the refresher (which host, or the links, or
//!    the apps, just changed).
//! 2. [`snapshot`]: one task owns the view of the lattice: hosts with their
//!    inventories and per-actor call and error rates (from the `calls` and
//!    `failed` counters of successive inventories: what the lattice
//!    already carries over NATS), links, and apps with their statuses. It
//!    refreshes everything every [`snapshot::REFRESH`] and the part a hint
//!    names soon after the hint, and publishes each part as JSON on a
//!    `watch` channel when it changed.
//! 3. [`server`]: HTTP on a loopback address: the page and its assets
//!    (embedded in the binary), `GET /api/snapshot`, the server-sent event
//!    stream `GET /api/events` (the parts as they change, then every
//!    event), and `POST /api/actions/<action>`.
//! 4. [`actions`]: what `POST /api/actions/…` may do, only with
//!    `--allow-actions`: scale or stop an actor, stop a provider, put or
//!    delete a link, apply or delete an app, each the control request
//!    `lattice-ctl` would send. Without the flag every action is refused
//!    with 403 and the page shows them disabled.
//!
//! The page applies each event to what it shows at once (an actor that
//! starts appears before its host's inventory is asked again), and takes
//! the refresher's parts as the truth when they come.
//!
//! Nothing is reachable from another site: requests must name the
//! dashboard's own address in `Host` (a DNS-rebinding page cannot read it),
//! and an action needs the per-run token embedded in the page and, when the
//! browser sends one, an `Origin` of the dashboard itself.

pub mod actions;
pub mod feed;
pub mod server;
pub mod snapshot;

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use tokio_util::sync::CancellationToken;

use crate::client::{ConnArgs, LatticeClient};

/// The flags of `lattice-ctl ui`.
#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// Address to serve the dashboard on (port 0: any free port)
    #[arg(long, default_value = "127.0.0.1:8844", value_name = "ADDRESS:PORT")]
    pub listen: SocketAddr,
    /// Let the page change the lattice (scale, stop, link put and del, apply
    /// and delete apps), each after a confirmation; read-only without it
    #[arg(long)]
    pub allow_actions: bool,
    /// Serve on an address other hosts can reach. The dashboard has no
    /// login: put your own access control in front of it
    #[arg(long)]
    pub allow_remote: bool,
    /// Serve the dashboard over HTTPS with this certificate (PEM, with --tls-key; read again when it changes)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// How apps applied from the page reach registries (to check their references)
    #[command(flatten)]
    pub registry: lattice_oci::args::RegistryArgs,
}

/// Serves the dashboard of the lattice `conn` names until Ctrl-C.
pub async fn run(conn: &ConnArgs, args: &UiArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        bail!(
            "--listen {}: not a loopback address, and the dashboard has no login; serve it on 127.0.0.1, or add --allow-remote with access control of your own in front",
            args.listen
        );
    }
    let stop = CancellationToken::new();
    // The certificate is checked before the lattice is contacted.
    let tls = args
        .tls_cert
        .clone()
        .zip(args.tls_key.clone())
        .map(|(cert, key)| {
            let files = lattice_provider_http_server::tls::TlsFiles::new(cert, key);
            lattice_provider_http_server::tls::single(&files, stop.clone())
        })
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let client = LatticeClient::connect(conn).await?;
    let lattice = client.subjects().lattice().to_string();
    let (feed, hints) = feed::Feed::start(client.nats(), client.subjects(), stop.clone())
        .await
        .with_context(|| format!("cannot follow the events of lattice {lattice}"))?;
    let nats = lattice_rpc::redacted(&conn.nats.url_or_default());
    let parts = snapshot::Refresher::start(&client, &nats, hints, stop.clone())?;
    let page = server::Page {
        lattice: lattice.clone(),
        nats,
        token: server::new_token()?,
        allow_actions: args.allow_actions,
    };
    let actions = args
        .allow_actions
        .then(|| actions::Actions::new(client.clone(), args.registry.clone()));
    let bound = server::serve(
        args.listen,
        server::Dashboard {
            page,
            parts,
            feed,
            actions,
            client: client.clone(),
        },
        stop.clone(),
        tls,
    )
    .await?;
    if !bound.ip().is_loopback() {
        eprintln!(
            "warning: the dashboard listens on {bound}, reachable from other machines, with no login"
        );
    }
    let mode = if args.allow_actions {
        "actions allowed, each after a confirmation"
    } else {
        "read-only"
    };
    println!("Lattice dashboard of lattice {lattice} ({mode})\n  {scheme}://{bound}/");
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    stop.cancel();
    Ok(())
}
