//! The CLI's connection to a lattice: the shared typed
//! [`ControlClient`] with a spinner while it waits.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lattice_client::connect::NatsArgs;
use lattice_client::ControlClient;
use lattice_interfaces::protocol::control::Operation;
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::HostId;

/// How every lattice command connects and waits.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Seconds to wait for an answer [default: 10, and 120 for starting, scaling or updating a component or provider, which compiles it]; for `watch events`, how
    /// long to watch [default: until Ctrl-C]
    #[arg(long, env = "LATTICE_TIMEOUT", value_name = "SECS", global = true)]
    pub timeout: Option<u64>,
}

impl ConnArgs {
    /// How long to wait for an answer.
    pub fn answer_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(10))
    }
}

/// A connection to one lattice. Cheap to clone.
#[derive(Clone)]
pub struct LatticeClient {
    control: ControlClient,
    js_domain: Option<String>,
}

pub fn spinner(message: String) -> ProgressBar {
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
        let nats = args.nats.connect("lattice-ctl").await?;
        let control = ControlClient::new(
            nats,
            &args.nats.lattice,
            &lattice_rpc::redacted(&args.nats.url_or_default()),
            args.answer_timeout(),
        )?;
        let control = match args.timeout {
            Some(_) => control.with_load_timeout(args.answer_timeout()),
            None => control,
        };
        Ok(Self {
            control,
            js_domain: args.nats.js_domain.clone(),
        })
    }

    /// The typed control client itself.
    pub fn control(&self) -> &ControlClient {
        &self.control
    }

    /// The lattice's state bucket, opened directly: what `link del` and
    /// `reset` use when no host runs.
    pub async fn state(&self) -> anyhow::Result<lattice_client::state::LatticeState> {
        let js = match &self.js_domain {
            Some(domain) => async_nats::jetstream::with_domain(self.nats().clone(), domain),
            None => async_nats::jetstream::new(self.nats().clone()),
        };
        Ok(lattice_client::state::LatticeState::existing(&js, &self.subjects().bucket()).await?)
    }

    /// The lattice's subjects.
    pub fn subjects(&self) -> &Subjects {
        self.control.subjects()
    }

    /// The NATS client.
    pub fn nats(&self) -> &async_nats::Client {
        self.control.nats()
    }

    /// Sends `body` to `O` (at `host`, or any host) and returns the
    /// response of a successful reply; a failed reply is an error with its
    /// message.
    pub async fn request<O: Operation>(
        &self,
        host: Option<&HostId>,
        body: &O::Request,
    ) -> anyhow::Result<O::Response> {
        let bar = spinner(format!("{}…", O::NAME));
        let answer = self.control.request::<O>(host, body).await;
        bar.finish_and_clear();
        Ok(answer?)
    }

    /// Sends `body` to `O` and gathers every successful reply that arrives
    /// within `window` (scatter-gather: ping, auctions).
    pub async fn gather<O: Operation>(
        &self,
        body: &O::Request,
        window: Duration,
    ) -> anyhow::Result<Vec<O::Response>> {
        let bar = spinner(format!("{}: gathering answers for {window:?}…", O::NAME));
        let answers = self.control.gather::<O>(body, window).await;
        bar.finish_and_clear();
        Ok(answers?)
    }
}
