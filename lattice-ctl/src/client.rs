//! A client of the lattice's control interface over NATS.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use lattice_host::lattice::NatsArgs;
use lattice_interfaces::protocol::control::CtlReply;
use lattice_interfaces::protocol::subjects::Subjects;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How every lattice command connects and waits.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Seconds to wait for an answer
    #[arg(
        long,
        env = "LATTICE_TIMEOUT",
        default_value_t = 10,
        value_name = "SECS",
        global = true
    )]
    pub timeout: u64,
}

/// A connection to one lattice.
pub struct LatticeClient {
    client: async_nats::Client,
    subjects: Subjects,
    url: String,
    timeout: Duration,
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

impl LatticeClient {
    /// Connects; the error names the URL and the reason.
    pub async fn connect(args: &ConnArgs) -> anyhow::Result<Self> {
        let subjects = Subjects::new(&args.nats.lattice)?;
        let client = args.nats.connect("lattice-ctl").await?;
        Ok(Self {
            client,
            subjects,
            url: args.nats.url_or_default(),
            timeout: Duration::from_secs(args.timeout),
        })
    }

    /// The lattice's subjects.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The NATS client.
    pub fn nats(&self) -> &async_nats::Client {
        &self.client
    }

    fn nobody(&self, op: &str, host: Option<&str>) -> anyhow::Error {
        match host {
            Some(host) => anyhow!("host {host} in lattice {} at {} did not answer {op}: is it running? (lattice-ctl get hosts)", self.subjects.lattice(), self.url),
            None => anyhow!("no host in lattice {} at {} answered {op}: start one with lattice-host --nats-url {}", self.subjects.lattice(), self.url, self.url),
        }
    }

    /// Sends `body` to `op` (at `host`, or any host) and returns the
    /// response of a successful reply; a failed reply is an error with its
    /// message.
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        op: &str,
        host: Option<&str>,
        body: &Req,
    ) -> anyhow::Result<Resp> {
        let subject = match host {
            Some(host) => self.subjects.ctl_host(op, host),
            None => self.subjects.ctl(op),
        };
        let payload = serde_json::to_vec(body)?;
        let bar = spinner(format!("{op}…"));
        let answer =
            tokio::time::timeout(self.timeout, self.client.request(subject, payload.into())).await;
        bar.finish_and_clear();
        let message = match answer {
            Err(_elapsed) => {
                return Err(self
                    .nobody(op, host)
                    .context(format!("no answer within {:?}", self.timeout)))
            }
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Err(self.nobody(op, host))
            }
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::TimedOut => {
                return Err(self.nobody(op, host).context("the request timed out"))
            }
            Ok(Err(e)) => bail!("{op} failed: {e}"),
            Ok(Ok(message)) => message,
        };
        let reply: CtlReply<Resp> = serde_json::from_slice(&message.payload)
            .with_context(|| format!("unreadable reply to {op}"))?;
        if !reply.success {
            bail!("{}", reply.message);
        }
        reply
            .response
            .ok_or_else(|| anyhow!("the reply to {op} carried no response"))
    }

    /// Sends `body` to `op` and gathers every successful reply that arrives
    /// within `window` (scatter-gather: ping, auctions).
    pub async fn gather<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        op: &str,
        body: &Req,
        window: Duration,
    ) -> anyhow::Result<Vec<Resp>> {
        let inbox = self.client.new_inbox();
        let mut replies = self.client.subscribe(inbox.clone()).await?;
        let payload = serde_json::to_vec(body)?;
        self.client
            .publish_with_reply(self.subjects.ctl(op), inbox, payload.into())
            .await?;
        self.client.flush().await?;
        let bar = spinner(format!("{op}: gathering answers for {window:?}…"));
        let mut gathered = Vec::new();
        let deadline = tokio::time::sleep(window);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                message = replies.next() => match message {
                    Some(message) => {
                        if let Ok(CtlReply { success: true, response: Some(response), .. }) = serde_json::from_slice::<CtlReply<Resp>>(&message.payload) {
                            gathered.push(response);
                        }
                    }
                    None => break,
                },
            }
        }
        bar.finish_and_clear();
        Ok(gathered)
    }
}
