//! Connecting to NATS: the URL, credentials and TLS a host or client uses.

use std::path::PathBuf;

/// How to reach and authenticate to NATS, as flags or `LATTICE_*` variables.
/// Its `Debug` output hides the URL's credentials, the nkey and the password.
#[derive(Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated [default for lattice-ctl commands: nats://127.0.0.1:4222; a host given none runs alone]
    #[arg(
        long = "nats-url",
        env = "LATTICE_NATS_URL",
        value_name = "URL",
        global = true
    )]
    pub url: Option<String>,
    /// Lattice to join: subjects `lattice.<ID>.*`, KV bucket `LATTICE_<ID>`
    #[arg(long = "lattice", env = "LATTICE_ID", default_value = lattice_interfaces::protocol::subjects::DEFAULT_LATTICE, value_name = "ID", global = true)]
    pub lattice: String,
    /// NATS credentials file (JWT + seed)
    #[arg(
        long = "nats-creds",
        env = "LATTICE_NATS_CREDS",
        value_name = "FILE",
        global = true
    )]
    pub creds: Option<PathBuf>,
    /// NATS user nkey seed (SU…), or a file holding it, to authenticate with
    #[arg(
        long = "nats-nkey",
        env = "LATTICE_NATS_NKEY",
        value_name = "SEED|FILE",
        hide_env_values = true,
        global = true
    )]
    pub nkey: Option<String>,
    /// NATS user (with --nats-password)
    #[arg(
        long = "nats-user",
        env = "LATTICE_NATS_USER",
        requires = "password",
        global = true
    )]
    pub user: Option<String>,
    /// NATS password
    #[arg(
        long = "nats-password",
        env = "LATTICE_NATS_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
    /// Require TLS to NATS
    #[arg(long = "nats-tls", env = "LATTICE_NATS_TLS", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub tls: bool,
    /// CA certificate(s) to trust for NATS TLS (PEM)
    #[arg(
        long = "nats-ca",
        env = "LATTICE_NATS_CA",
        value_name = "FILE",
        global = true
    )]
    pub ca: Option<PathBuf>,
    /// Client certificate for NATS TLS (PEM, with --nats-tls-key)
    #[arg(
        long = "nats-tls-cert",
        env = "LATTICE_NATS_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,
    /// Client key for NATS TLS (PEM)
    #[arg(
        long = "nats-tls-key",
        env = "LATTICE_NATS_TLS_KEY",
        value_name = "FILE",
        global = true
    )]
    pub tls_key: Option<PathBuf>,

    /// JetStream domain of the lattice's state bucket: the hub's domain when this host joins through a leaf node
    #[arg(
        long = "js-domain",
        env = "LATTICE_JS_DOMAIN",
        value_name = "DOMAIN",
        global = true
    )]
    pub js_domain: Option<String>,
}

impl std::fmt::Debug for NatsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use lattice_interfaces::hidden;
        f.debug_struct("NatsArgs")
            .field("url", &self.url.as_deref().map(lattice_rpc::redacted))
            .field("lattice", &self.lattice)
            .field("creds", &self.creds)
            .field("nkey", &hidden(self.nkey.as_ref()))
            .field("user", &self.user)
            .field("password", &hidden(self.password.as_ref()))
            .field("tls", &self.tls)
            .field("ca", &self.ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("js_domain", &self.js_domain)
            .finish()
    }
}

impl Default for NatsArgs {
    /// No URL (the default server when connecting), lattice `default`.
    fn default() -> Self {
        Self {
            url: None,
            lattice: lattice_interfaces::protocol::subjects::DEFAULT_LATTICE.to_string(),
            creds: None,
            nkey: None,
            user: None,
            password: None,
            tls: false,
            ca: None,
            tls_cert: None,
            tls_key: None,
            js_domain: None,
        }
    }
}

impl NatsArgs {
    /// The JetStream context of the lattice's state: in `js_domain` when set.
    pub fn jetstream(&self, client: async_nats::Client) -> async_nats::jetstream::Context {
        match &self.js_domain {
            Some(domain) => async_nats::jetstream::with_domain(client, domain),
            None => async_nats::jetstream::new(client),
        }
    }
}

/// Why NATS could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to NATS at {url}: {reason}")]
pub struct ConnectError {
    /// The URL tried.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// The default URL clients try when none is given.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

impl NatsArgs {
    /// The URL, or the default.
    pub fn url_or_default(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| DEFAULT_NATS_URL.to_string())
    }

    /// The credentials as host data carries them to provider processes.
    pub fn credentials(&self) -> lattice_interfaces::protocol::provider::NatsCredentials {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        lattice_interfaces::protocol::provider::NatsCredentials {
            creds_file: path(&self.creds),
            nkey_seed: self.nkey.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            tls: self.tls,
            ca_file: path(&self.ca),
            tls_cert_file: path(&self.tls_cert),
            tls_key_file: path(&self.tls_key),
        }
    }

    /// Connects as `name`. Fails at once, naming the URL, when the server
    /// cannot be reached; once connected, the client reconnects by itself.
    pub async fn connect(&self, name: &str) -> Result<async_nats::Client, ConnectError> {
        let url = self.url_or_default();
        lattice_rpc::connect(&url, &self.credentials(), name, None)
            .await
            .map_err(|reason| ConnectError {
                url: lattice_rpc::redacted(&url),
                reason,
            })
    }
}
