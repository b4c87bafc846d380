//! Applications as the lattice keeps them: every version applied, which one
//! is current, what the reconciler last found, and who reconciles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{HostId, Manifest};

/// Every app of a lattice (KV key `apps`), written with compare-and-set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Apps {
    /// By name.
    #[serde(default)]
    pub apps: BTreeMap<String, App>,
}

/// One app: its versions, newest last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// The version that should run; `0` once deleted (the reconciler then
    /// stops what the last version ran and removes the app).
    pub current: u32,
    /// The versions kept, oldest first (at most [`App::KEPT`]).
    pub versions: Vec<AppVersion>,
}

/// One applied version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppVersion {
    /// 1, 2, …
    pub version: u32,
    /// When it was applied, Unix milliseconds.
    pub applied_at_ms: u64,
    /// What it declares, file paths already absolute.
    pub manifest: Manifest,
}

impl App {
    /// Versions kept per app.
    pub const KEPT: usize = 10;

    /// The version that should run, unless deleted.
    pub fn desired(&self) -> Option<&AppVersion> {
        self.versions.iter().find(|v| v.version == self.current)
    }

    /// The newest version: what a deleted app ran last.
    pub fn latest(&self) -> Option<&AppVersion> {
        self.versions.last()
    }

    /// Adds `manifest` as the next version and makes it current.
    pub fn push(&mut self, manifest: Manifest, applied_at_ms: u64) -> u32 {
        let version = self.versions.last().map_or(1, |v| v.version + 1);
        self.versions.push(AppVersion {
            version,
            applied_at_ms,
            manifest,
        });
        if self.versions.len() > Self::KEPT {
            self.versions.remove(0);
        }
        self.current = version;
        version
    }
}

/// What the reconciler found for an app (KV key `appstatus.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// The version it reconciled.
    pub version: u32,
    /// Every component's placement, in manifest order.
    pub components: Vec<ComponentStatus>,
    /// Whether everything runs where it should.
    pub converged: bool,
}

impl AppStatus {
    /// Whether one of its components runs on `host_id`.
    pub fn runs_on(&self, host_id: &HostId) -> bool {
        self.components
            .iter()
            .any(|c| c.running.iter().any(|h| h == host_id))
    }

    /// Whether it converged with nothing on `host_id`: what a drained host
    /// waits for before it stops.
    pub fn settled_without(&self, host_id: &HostId) -> bool {
        self.converged && !self.runs_on(host_id)
    }
}

/// One component of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentStatus {
    /// Its id.
    pub id: String,
    /// `actor` or `provider`.
    pub kind: String,
    /// Hosts wanted (for a daemon: the hosts that match).
    pub desired: u32,
    /// Hosts running it now.
    pub running: Vec<HostId>,
    /// Why it is not where it should be, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What its autoscaler decided last, when its load decides its
    /// replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleStatus>,
}

/// An autoscaled component's last decision: `desired` above is what it
/// decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleStatus {
    /// Fewest replicas.
    pub min: u32,
    /// Most replicas.
    pub max: u32,
    /// Why it wants `desired`, with the figures: the load, the target per
    /// replica, and the window a scale-in waited.
    pub why: String,
    /// When it decided, Unix milliseconds.
    pub at_ms: u64,
}

/// The reconciler's lease (KV key `reconciler.lease`): the host that holds
/// it reconciles until `expires_at_ms`, renewing as it goes; any host takes
/// an expired one, by compare-and-set on the entry's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The host id.
    pub holder: HostId,
    /// Unix milliseconds.
    pub expires_at_ms: u64,
}
