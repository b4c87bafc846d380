//! A typed client of a lattice's control interface
//! (`lattice.<L>.ctl.v1.*`): one request type and one response type per
//! [`Operation`], checked by the compiler, shared with the hosts that
//! answer.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use lattice_client::ControlClient;
//! use lattice_interfaces::protocol::control::{op, Empty};
//!
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let lattice = ControlClient::new(nats, "default", "nats://127.0.0.1:4222", Duration::from_secs(10))?;
//! for host in lattice.gather::<op::Ping>(&Empty {}, Duration::from_secs(1)).await? {
//!     let inventory = lattice.request::<op::Inventory>(Some(&host.host_id), &Empty {}).await?;
//!     println!("{} runs {} actors", host.host_id, inventory.actors.len());
//! }
//! # Ok(()) }
//! ```
//!
//! [`state`] reads and writes the lattice's state bucket directly (links,
//! named config, claims, apps), as hosts do and as `lattice-ctl` does when
//! no host answers; [`connect::NatsArgs`] are the NATS flags both take.

pub mod connect;
pub mod state;

use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::protocol::control::{Audience, CtlReply, Operation};
use lattice_interfaces::protocol::subjects::{LatticeIdError, Subjects};
use lattice_interfaces::{ErrorKind, HostId};

/// Why a control request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The lattice id is not usable.
    #[error(transparent)]
    LatticeId(#[from] LatticeIdError),
    /// Nobody answered.
    #[error("{}", no_answer(op, lattice, url, host.as_deref(), *waited))]
    NoAnswer {
        /// The operation.
        op: &'static str,
        /// The lattice.
        lattice: String,
        /// The NATS server, for people.
        url: String,
        /// The host asked, when one was.
        host: Option<String>,
        /// How long the client waited, when it gave up waiting (rather
        /// than NATS saying nobody listens).
        waited: Option<Duration>,
    },
    /// A host answered with a failure: its stable kind (`failed` from
    /// hosts that predate kinds) and its one-line message.
    #[error("{message}")]
    Refused {
        /// What kind of failure: `bad_request`, `not_found`, `conflict`, …
        kind: ErrorKind,
        /// One line for people.
        message: String,
    },
    /// The request could not be sent.
    #[error("{op} failed: {reason}")]
    Transport {
        /// The operation.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The answer was not a reply to the operation.
    #[error("unreadable reply to {op}: {reason}")]
    Malformed {
        /// The operation.
        op: &'static str,
        /// Why.
        reason: String,
    },
}

fn no_answer(
    op: &str,
    lattice: &str,
    url: &str,
    host: Option<&str>,
    waited: Option<Duration>,
) -> String {
    let said = match host {
        Some(host) => format!(
            "host {host} in lattice {lattice} at {url} did not answer {op}: is it running? (lattice-ctl get hosts)"
        ),
        None => format!(
            "no host in lattice {lattice} at {url} answered {op}: start one with lattice-host --nats-url {url}"
        ),
    };
    match waited {
        Some(waited) => format!("{said} (no answer within {waited:?})"),
        None => said,
    }
}

/// A connection to one lattice's control interface. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ControlClient {
    nats: async_nats::Client,
    subjects: Subjects,
    url: String,
    timeout: Duration,
    /// The wait of operations that load a component or binary.
    load_timeout: Duration,
}

/// The least an operation that loads a component or binary waits by
/// default: compiling an 18 MB component (a Python one) takes seconds on a
/// small or busy host, and a short wait would call a busy host absent.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

impl ControlClient {
    /// A client of lattice `lattice` over `nats`; `url` names the server in
    /// messages (credentials hidden by the caller); each request waits at
    /// most `timeout`, or [`LOAD_TIMEOUT`] if longer for operations that
    /// load a component or binary (see [`Self::with_load_timeout`]).
    ///
    /// # Errors
    ///
    /// When `lattice` is not a usable lattice id.
    pub fn new(
        nats: async_nats::Client,
        lattice: &str,
        url: &str,
        timeout: Duration,
    ) -> Result<Self, ControlError> {
        Ok(Self {
            nats,
            subjects: Subjects::new(lattice)?,
            url: url.to_string(),
            timeout,
            load_timeout: timeout.max(LOAD_TIMEOUT),
        })
    }

    /// Operations that load a component or binary (`actor.scale`,
    /// `actor.update`, `provider.start`) wait at most `timeout`.
    #[must_use]
    pub fn with_load_timeout(self, timeout: Duration) -> Self {
        Self {
            load_timeout: timeout,
            ..self
        }
    }

    /// The lattice's subjects.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// Host-targeted operations go to `host`; any-host operations go to
    /// `host` when one is named, else to whichever host takes them.
    fn subject<O: Operation>(&self, host: Option<&HostId>) -> String {
        match (O::AUDIENCE, host) {
            (Audience::Every, _) | (_, None) => self.subjects.ctl(O::NAME),
            (Audience::Host | Audience::AnyHost, Some(host)) => {
                self.subjects.ctl_host(O::NAME, host)
            }
        }
    }

    fn nobody(
        &self,
        op: &'static str,
        host: Option<&HostId>,
        waited: Option<Duration>,
    ) -> ControlError {
        ControlError::NoAnswer {
            op,
            lattice: self.subjects.lattice().to_string(),
            url: self.url.clone(),
            host: host.map(HostId::to_string),
            waited,
        }
    }

    /// Sends `request` to `O` (at `host` for host-targeted operations,
    /// else to any host) and returns the response of a successful reply.
    ///
    /// # Errors
    ///
    /// Nobody answered in time, the host refused (its message), or the
    /// reply was unreadable.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the wait; the host may still act.
    pub async fn request<O: Operation>(
        &self,
        host: Option<&HostId>,
        request: &O::Request,
    ) -> Result<O::Response, ControlError> {
        let payload = serde_json::to_vec(request).map_err(|e| ControlError::Transport {
            op: O::NAME,
            reason: e.to_string(),
        })?;
        let timeout = if O::LOADS {
            self.load_timeout
        } else {
            self.timeout
        };
        let sent = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(timeout));
        let answer = tokio::time::timeout(
            timeout,
            self.nats.send_request(self.subject::<O>(host), sent),
        )
        .await;
        let message = match answer {
            Err(_elapsed) => return Err(self.nobody(O::NAME, host, Some(timeout))),
            Ok(Err(e)) => {
                return Err(match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => self.nobody(O::NAME, host, None),
                    async_nats::RequestErrorKind::TimedOut => {
                        self.nobody(O::NAME, host, Some(timeout))
                    }
                    _ => ControlError::Transport {
                        op: O::NAME,
                        reason: e.to_string(),
                    },
                })
            }
            Ok(Ok(message)) => message,
        };
        let reply = self.reply::<O>(&message.payload, timeout).await?;
        if !reply.success {
            return Err(ControlError::Refused {
                kind: reply.kind.unwrap_or(ErrorKind::Failed),
                message: reply.message,
            });
        }
        reply.response.ok_or_else(|| ControlError::Malformed {
            op: O::NAME,
            reason: "a successful reply carried no response".into(),
        })
    }

    /// The reply in `payload`, pulled in chunks within `timeout` when the
    /// host offered it that way (too large for one message).
    async fn reply<O: Operation>(
        &self,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<CtlReply<O::Response>, ControlError> {
        let malformed = |reason: String| ControlError::Malformed {
            op: O::NAME,
            reason,
        };
        let reply: CtlReply<O::Response> =
            serde_json::from_slice(payload).map_err(|e| malformed(e.to_string()))?;
        let Some(body) = &reply.reply_ref else {
            return Ok(reply);
        };
        let deadline = lattice_interfaces::protocol::rpc::unix_ms()
            .saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let whole = lattice_rpc::payloads::pull(&self.nats, body, deadline)
            .await
            .map_err(|e| ControlError::Transport {
                op: O::NAME,
                reason: format!("cannot pull the reply: {}", e.message),
            })?;
        serde_json::from_slice(&whole).map_err(|e| malformed(e.to_string()))
    }

    /// Sends `request` to `O` and gathers every successful reply that
    /// arrives within `window` (scatter-gather: ping, auctions). Failed
    /// and unreadable replies are left out.
    ///
    /// # Errors
    ///
    /// When the request cannot be sent.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the replies gathered so far.
    pub async fn gather<O: Operation>(
        &self,
        request: &O::Request,
        window: Duration,
    ) -> Result<Vec<O::Response>, ControlError> {
        let transport = |e: &dyn std::fmt::Display| ControlError::Transport {
            op: O::NAME,
            reason: e.to_string(),
        };
        let payload = serde_json::to_vec(request).map_err(|e| transport(&e))?;
        let inbox = self.nats.new_inbox();
        let mut replies = self
            .nats
            .subscribe(inbox.clone())
            .await
            .map_err(|e| transport(&e))?;
        self.nats
            .publish_with_reply(self.subjects.ctl(O::NAME), inbox, payload.into())
            .await
            .map_err(|e| transport(&e))?;
        self.nats.flush().await.map_err(|e| transport(&e))?;
        let mut gathered = Vec::new();
        let deadline = tokio::time::sleep(window);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                message = replies.next() => match message {
                    Some(message) => {
                        if let Ok(CtlReply { success: true, response: Some(response), .. }) =
                            self.reply::<O>(&message.payload, window).await
                        {
                            gathered.push(response);
                        }
                    }
                    None => break,
                },
            }
        }
        Ok(gathered)
    }
}
