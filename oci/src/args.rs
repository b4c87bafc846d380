//! Registry flags shared by `lattice-host`, `lattice-ctl up` and
//! `lattice-ctl push/pull/inspect`. Its `Debug` output never shows the
//! password or token.

use std::path::PathBuf;

use crate::credentials::CredentialsError;
use crate::{Credentials, RegistryOptions};

/// How to reach OCI registries.
#[derive(Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Docker config.json with registry logins (a mounted imagePullSecret works) [default: $DOCKER_CONFIG/config.json or ~/.docker/config.json when present]
    #[arg(long, env = "LATTICE_REGISTRY_CONFIG", value_name = "FILE")]
    pub registry_config: Option<PathBuf>,

    /// The registry (HOST[:PORT]) the --registry-user or --registry-token login is for; no other registry is sent it
    #[arg(long, env = "LATTICE_REGISTRY_HOST", value_name = "HOST")]
    pub registry_host: Option<String>,

    /// User for --registry-host (the password comes from LATTICE_REGISTRY_PASSWORD)
    #[arg(
        long,
        env = "LATTICE_REGISTRY_USER",
        value_name = "USER",
        requires_all = ["registry_password", "registry_host"]
    )]
    pub registry_user: Option<String>,

    /// Password of --registry-user; prefer the environment variable
    #[arg(
        long,
        env = "LATTICE_REGISTRY_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub registry_password: Option<String>,

    /// Bearer token for --registry-host
    #[arg(
        long,
        env = "LATTICE_REGISTRY_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "registry_user",
        requires = "registry_host"
    )]
    pub registry_token: Option<String>,

    /// A registry (HOST[:PORT]) reached over plain HTTP; repeat for more. Never the default
    #[arg(
        long = "allow-insecure-registry",
        env = "LATTICE_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub insecure_registries: Vec<String>,

    /// A PEM file of CA certificates trusted for registries beside the system's; repeat for more
    #[arg(
        long = "registry-ca",
        env = "LATTICE_REGISTRY_CA",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub registry_ca: Vec<PathBuf>,
}

impl std::fmt::Debug for RegistryArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use lattice_interfaces::hidden;
        f.debug_struct("RegistryArgs")
            .field("registry_config", &self.registry_config)
            .field("registry_host", &self.registry_host)
            .field("registry_user", &self.registry_user)
            .field(
                "registry_password",
                &hidden(self.registry_password.as_ref()),
            )
            .field("registry_token", &hidden(self.registry_token.as_ref()))
            .field("insecure_registries", &self.insecure_registries)
            .field("registry_ca", &self.registry_ca)
            .finish()
    }
}

impl RegistryArgs {
    /// The registry options these flags describe.
    ///
    /// # Errors
    ///
    /// When the Docker config cannot be used.
    pub fn options(&self) -> Result<RegistryOptions, CredentialsError> {
        let mut credentials = match &self.registry_config {
            Some(path) => Credentials::from_docker_config(path)?,
            None => Credentials::from_default_docker_config().map_err(|e| CredentialsError {
                reason: format!(
                    "{} (pass --registry-config FILE to use another file)",
                    e.reason
                ),
                ..e
            })?,
        };
        if let Some(registry) = &self.registry_host {
            if let (Some(user), Some(password)) = (&self.registry_user, &self.registry_password) {
                credentials = credentials.with_login(registry, user.clone(), password.clone());
            }
            if let Some(token) = &self.registry_token {
                credentials = credentials.with_token(registry, token.clone());
            }
        }
        Ok(RegistryOptions {
            credentials,
            insecure: self.insecure_registries.clone(),
            ca_files: self.registry_ca.clone(),
            ..RegistryOptions::default()
        })
    }
}
