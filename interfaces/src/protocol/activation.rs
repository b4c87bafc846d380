//! Activation: a call for an autoscaled actor that no host runs (it
//! scaled to zero) is held by the caller, which asks the reconciler's
//! leader for a replica on `lattice.<L>.activate.<actor>`. Only the leader
//! subscribes there, while it leads, so with no leader (or no apps) the
//! caller hears `no responders` at once and the call fails as it would
//! have. The leader answers a [`super::control::CtlReply`] of
//! [`ActorActivated`] once a replica runs and takes calls, or refuses:
//! `not_found` when no app autoscales the actor.
//!
//! The request carries nothing: the subject names the actor. A request
//! can only start what an app already declares, within its maximum.

use serde::{Deserialize, Serialize};

use crate::{ComponentId, HostId};

/// The answer to an activation: where the actor runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorActivated {
    /// The actor.
    pub actor_id: ComponentId,
    /// The app it belongs to.
    pub app: String,
    /// The hosts that run it now.
    pub hosts: Vec<HostId>,
}
