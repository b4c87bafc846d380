//! What the dashboard may change, with `--allow-actions`: each action is
//! one JSON body posted to `/api/actions/<action>`, checked here, and the
//! control request (or state bucket change) `lattice-ctl` sends for the
//! same command.
//!
//! | action | body | like |
//! |---|---|---|
//! | `actor.scale` | `{"host", "actor", "max_instances"}` | `lattice-ctl scale actor` |
//! | `actor.stop` | `{"host", "actor"}` | `lattice-ctl stop actor --host` |
//! | `provider.stop` | `{"host", "provider"}` | `lattice-ctl stop provider --host` |
//! | `link.put` | `{"source", "target", "contract", "name"?}` | `lattice-ctl link put` |
//! | `link.del` | `{"source", "package", "name"?}` | `lattice-ctl link del` |
//! | `app.apply` | `{"manifest": "<TOML>"}` | `lattice-ctl apply` |
//! | `app.del` | `{"name"}` | `lattice-ctl delete app` |
//!
//! Unknown fields are refused, like the control protocol refuses them; a
//! host id must be a host's public key, a component id a valid id, before
//! anything is sent.

use lattice_client::ControlError;
use lattice_interfaces::protocol::control::{op, LinkDel, ScaleActor, StopProvider};
use lattice_interfaces::{ComponentId, Contract, HostId, Link, Manifest};
use lattice_oci::args::RegistryArgs;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::client::LatticeClient;

/// Why an action was not done: the HTTP status and one line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400 (the request), 404 (no such action), 409 (the lattice said no),
    /// 502 or 504 (the lattice could not be asked or did not answer).
    pub status: u16,
    /// One line.
    pub message: String,
}

impl Refusal {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }
}

impl From<ControlError> for Refusal {
    fn from(error: ControlError) -> Self {
        let status = match error {
            ControlError::Refused { .. } => 409,
            ControlError::NoAnswer { .. } => 504,
            _ => 502,
        };
        Self {
            status,
            message: error.to_string(),
        }
    }
}

fn failed(error: anyhow::Error) -> Refusal {
    Refusal {
        status: 409,
        message: format!("{error:#}"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleActorBody {
    host: HostId,
    actor: ComponentId,
    max_instances: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopActorBody {
    host: HostId,
    actor: ComponentId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopProviderBody {
    host: HostId,
    provider: ComponentId,
}

fn default_name() -> String {
    lattice_interfaces::link::DEFAULT_LINK_NAME.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutLinkBody {
    source: ComponentId,
    target: ComponentId,
    /// `ns:pkg/iface[,iface]`.
    contract: String,
    #[serde(default = "default_name")]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteLinkBody {
    source: ComponentId,
    /// `ns:pkg` or `ns:pkg/iface`.
    package: String,
    #[serde(default = "default_name")]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyAppBody {
    manifest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteAppBody {
    name: String,
}

/// The dashboard's actions on one lattice. Cheap to clone.
#[derive(Clone)]
pub struct Actions {
    client: LatticeClient,
    registry: RegistryArgs,
}

/// Every action's name, as the page posts them.
pub const NAMES: &[&str] = &[
    "actor.scale",
    "actor.stop",
    "provider.stop",
    "link.put",
    "link.del",
    "app.apply",
    "app.del",
];

fn body<T: DeserializeOwned>(action: &str, bytes: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(bytes)
        .map_err(|e| Refusal::bad_request(format!("{action}: unreadable request: {e}")))
}

impl Actions {
    /// Actions on the lattice of `client`, checking apps' registry
    /// references as `registry` says.
    pub fn new(client: LatticeClient, registry: RegistryArgs) -> Self {
        Self { client, registry }
    }

    /// Does `action` as `request` (its JSON body) says; one line saying
    /// what was done.
    ///
    /// # Errors
    ///
    /// A [`Refusal`]: an unknown action or unreadable body (400 or 404,
    /// nothing sent), or the lattice's refusal or silence.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the wait; a request already sent may
    /// still be carried out.
    pub async fn perform(&self, action: &str, request: &[u8]) -> Result<String, Refusal> {
        let control = self.client.control();
        match action {
            "actor.scale" => {
                let ScaleActorBody {
                    host,
                    actor,
                    max_instances,
                } = body(action, request)?;
                let scale = ScaleActor {
                    max_instances,
                    ..ScaleActor::stop(actor.clone())
                };
                control
                    .request::<op::ScaleActor>(Some(&host), &scale)
                    .await?;
                Ok(format!(
                    "actor {actor} on host {host} scaled to {max_instances}"
                ))
            }
            "actor.stop" => {
                let StopActorBody { host, actor } = body(action, request)?;
                control
                    .request::<op::ScaleActor>(Some(&host), &ScaleActor::stop(actor.clone()))
                    .await?;
                Ok(format!("actor {actor} stopped on host {host}"))
            }
            "provider.stop" => {
                let StopProviderBody { host, provider } = body(action, request)?;
                let stop = StopProvider {
                    provider_id: provider.clone(),
                };
                control
                    .request::<op::StopProvider>(Some(&host), &stop)
                    .await?;
                Ok(format!("provider {provider} stopped on host {host}"))
            }
            "link.put" => {
                let PutLinkBody {
                    source,
                    target,
                    contract,
                    name,
                } = body(action, request)?;
                let contract = Contract::parse(&contract)
                    .map_err(|e| Refusal::bad_request(format!("{action}: {e}")))?;
                let mut link = Link::new(source, target, contract);
                link.name = name;
                let stored = control.request::<op::PutLink>(None, &link).await?;
                Ok(format!("link {stored} put"))
            }
            "link.del" => {
                let DeleteLinkBody {
                    source,
                    package,
                    name,
                } = body(action, request)?;
                let contract = if package.contains('/') {
                    package.clone()
                } else {
                    format!("{package}/x")
                };
                let contract = Contract::parse(&contract)
                    .map_err(|e| Refusal::bad_request(format!("{action}: {e}")))?;
                let delete = LinkDel {
                    source,
                    namespace: contract.namespace,
                    package: contract.package,
                    name,
                };
                let deleted = control.request::<op::DeleteLink>(None, &delete).await?;
                Ok(format!("link {deleted} deleted"))
            }
            "app.apply" => {
                let ApplyAppBody { manifest } = body(action, request)?;
                let manifest = Manifest::from_toml(&manifest)
                    .map_err(|e| Refusal::bad_request(format!("{action}: {e}")))?;
                let name = manifest
                    .app
                    .as_ref()
                    .map(|app| app.name.clone())
                    .ok_or_else(|| {
                        Refusal::bad_request(format!(
                            "{action}: not an app: add an [app] table with its name (name = \"shop\")"
                        ))
                    })?;
                if let Some(relative) = manifest
                    .files()
                    .into_iter()
                    .find(|file| !std::path::Path::new(file).is_absolute())
                {
                    return Err(Refusal::bad_request(format!(
                        "{action}: {relative:?} is a relative path: a manifest applied from the dashboard names files by absolute paths on the hosts, or registry references"
                    )));
                }
                let state = self.client.state().await.map_err(failed)?;
                let stored = crate::apps::store_version(&state, &name, &manifest, &self.registry)
                    .await
                    .map_err(failed)?;
                Ok(if stored.unchanged {
                    format!("app {name} unchanged at version {}", stored.version)
                } else {
                    format!("app {name} version {} applied", stored.version)
                })
            }
            "app.del" => {
                let DeleteAppBody { name } = body(action, request)?;
                let state = self.client.state().await.map_err(failed)?;
                crate::apps::mark_deleted(&state, &name)
                    .await
                    .map_err(failed)?;
                Ok(format!(
                    "app {name} deleted: its components stop and its links go"
                ))
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                Err(Refusal {
                    status: 404,
                    message: format!("no action {shown:?}: the actions are {}", NAMES.join(", ")),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_id_must_be_a_host_key() {
        let key = nkeys::KeyPair::new_server().public_key();
        let good = format!(r#"{{"host":"{key}","actor":"hello"}}"#);
        assert!(body::<StopActorBody>("actor.stop", good.as_bytes()).is_ok());
        for bad in [
            r#"{"host":"N.>","actor":"hello"}"#,
            r#"{"host":"","actor":"hello"}"#,
            r#"{"host":7,"actor":"hello"}"#,
        ] {
            let refused = body::<StopActorBody>("actor.stop", bad.as_bytes()).unwrap_err();
            assert_eq!(refused.status, 400, "{bad}");
        }
        let user = nkeys::KeyPair::new_user().public_key();
        let not_a_host = format!(r#"{{"host":"{user}","actor":"hello"}}"#);
        assert!(body::<StopActorBody>("actor.stop", not_a_host.as_bytes()).is_err());
    }

    #[test]
    fn unknown_fields_and_bad_ids_are_refused() {
        let key = nkeys::KeyPair::new_server().public_key();
        for bad in [
            format!(r#"{{"host":"{key}","actor":"hello","extra":1}}"#),
            format!(r#"{{"host":"{key}","actor":"Hello World"}}"#),
            "[]".to_string(),
            "{".to_string(),
        ] {
            let refused = body::<StopActorBody>("actor.stop", bad.as_bytes()).unwrap_err();
            assert_eq!(refused.status, 400, "{bad}");
            assert!(!refused.message.contains('\n'), "{}", refused.message);
        }
    }
}
