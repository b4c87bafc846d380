//! Who a host or `lattice-ctl` is to each registry.
//!
//! In order: a user and password or a token given by flag or environment
//! for the one registry they name (`--registry-host`: a login is never
//! sent to a registry it was not given for, whatever a reference names);
//! else the registry's entry in Docker's
//! `config.json` (`$DOCKER_CONFIG/config.json`, `~/.docker/config.json`,
//! or a file named by flag: the format of a Kubernetes `imagePullSecret`
//! mounted as a file); else anonymous. Credential helpers (`credsStore`)
//! are not run: a host should not execute programs named in a file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use oci_client::secrets::RegistryAuth;

/// A login for one registry.
#[derive(Clone, PartialEq, Eq)]
enum Login {
    Basic { user: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic({user}, <hidden>)"),
            Self::Bearer(_) => f.write_str("Bearer(<hidden>)"),
        }
    }
}

impl Login {
    fn auth(&self) -> RegistryAuth {
        match self {
            Self::Basic { user, password } => RegistryAuth::Basic(user.clone(), password.clone()),
            Self::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// Credentials by registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    by_registry: BTreeMap<String, Login>,
    /// The registry whose login was given by flag, if any.
    flagged: Option<String>,
    /// The config file read, for error messages.
    source: Option<PathBuf>,
}

/// A Docker config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("registry credentials {path}: {reason}")]
pub struct CredentialsError {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(serde::Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// `https://host:port/v1/` → `host:port`.
fn registry_key(key: &str) -> String {
    let bare = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = bare.split('/').next().unwrap_or(bare);
    if host == "index.docker.io" {
        "docker.io".into()
    } else {
        host.to_string()
    }
}

impl Credentials {
    /// Nobody: anonymous pulls only.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Reads Docker's `config.json` at `path`.
    ///
    /// # Errors
    ///
    /// When it cannot be read or is not such a file.
    pub fn from_docker_config(path: &Path) -> Result<Self, CredentialsError> {
        let error = |reason: String| CredentialsError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let config: DockerConfig = serde_json::from_slice(&text)
            .map_err(|e| error(format!("not a Docker config.json: {e}")))?;
        let mut by_registry = BTreeMap::new();
        for (key, entry) in config.auths {
            let login = if let Some(token) = entry.registrytoken {
                Login::Bearer(token)
            } else if let (Some(user), Some(password)) = (entry.username, entry.password) {
                Login::Basic { user, password }
            } else if let Some(auth) = entry.auth {
                let decoded = data_encoding::BASE64
                    .decode(auth.trim().as_bytes())
                    .map_err(|_| error(format!("the auth of {key} is not base64")))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| error(format!("the auth of {key} is not user:password")))?;
                let (user, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| error(format!("the auth of {key} is not user:password")))?;
                Login::Basic {
                    user: user.into(),
                    password: password.into(),
                }
            } else {
                continue;
            };
            by_registry.insert(registry_key(&key), login);
        }
        Ok(Self {
            flagged: None,
            by_registry,
            source: Some(path.to_path_buf()),
        })
    }

    /// Docker's default config file when there is one: `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json`; anonymous when neither exists.
    ///
    /// # Errors
    ///
    /// When the file exists and cannot be used.
    pub fn from_default_docker_config() -> Result<Self, CredentialsError> {
        let path = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
            .map(|dir| dir.join("config.json"));
        match path {
            Some(path) if path.exists() => Self::from_docker_config(&path),
            _ => Ok(Self::anonymous()),
        }
    }

    /// Uses `user` and `password` for `registry` (`host[:port]`) only, over
    /// any login a config file gave it.
    pub fn with_login(self, registry: &str, user: String, password: String) -> Self {
        self.flag(registry, Login::Basic { user, password })
    }

    /// Uses a bearer `token` for `registry` (`host[:port]`) only.
    pub fn with_token(self, registry: &str, token: String) -> Self {
        self.flag(registry, Login::Bearer(token))
    }

    fn flag(mut self, registry: &str, login: Login) -> Self {
        let registry = registry_key(registry);
        self.by_registry.insert(registry.clone(), login);
        self.flagged = Some(registry);
        self
    }

    /// What to present to `registry`: its own login, or nothing.
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        self.by_registry
            .get(registry)
            .map_or(RegistryAuth::Anonymous, Login::auth)
    }

    /// Where the credentials for `registry` came from, for an error that
    /// says they were refused.
    pub fn describe(&self, registry: &str) -> String {
        if self.flagged.as_deref() == Some(registry) {
            " (given by --registry-user/--registry-token)".into()
        } else if self.by_registry.contains_key(registry) {
            let file = self
                .source
                .as_ref()
                .map_or_else(String::new, |p| format!(" {}", p.display()));
            format!(" (from{file})")
        } else {
            format!(" (none given for {registry}: pass --registry-host {registry} with --registry-user and LATTICE_REGISTRY_PASSWORD, or a Docker config.json)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_config_gives_each_registry_its_login() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("config.json");
        let auth = data_encoding::BASE64.encode(b"alice:s3cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://registry.example:5000/v1/": {{"auth": "{auth}"}},
                    "ghcr.io": {{"registrytoken": "tok"}}, "empty.example": {{}}}},
                    "credsStore": "desktop"}}"#
            ),
        )
        .expect("written");
        let credentials = Credentials::from_docker_config(&path).expect("reads");
        assert_eq!(
            credentials.for_registry("registry.example:5000"),
            RegistryAuth::Basic("alice".into(), "s3cret".into())
        );
        assert_eq!(
            credentials.for_registry("ghcr.io"),
            RegistryAuth::Bearer("tok".into())
        );
        assert_eq!(
            credentials.for_registry("empty.example"),
            RegistryAuth::Anonymous
        );
        assert!(!format!("{credentials:?}").contains("s3cret"));
        let flagged = credentials.with_login("ghcr.io", "bob".into(), "pw".into());
        assert_eq!(
            flagged.for_registry("ghcr.io"),
            RegistryAuth::Basic("bob".into(), "pw".into())
        );
    }

    /// A login given by flag goes to its registry and to no other: a
    /// reference naming another registry used to get it too (issue 29,
    /// finding 7), so whoever could name a reference could collect it.
    #[test]
    fn a_flag_login_is_sent_only_to_its_registry() {
        let credentials =
            Credentials::anonymous().with_login("registry.example:5000", "bob".into(), "pw".into());
        assert_eq!(
            credentials.for_registry("registry.example:5000"),
            RegistryAuth::Basic("bob".into(), "pw".into())
        );
        for elsewhere in ["evil.example", "registry.example", "registry.example:5001"] {
            assert_eq!(
                credentials.for_registry(elsewhere),
                RegistryAuth::Anonymous,
                "{elsewhere}"
            );
        }
        let token = Credentials::anonymous().with_token("https://ghcr.io/v2/", "t".into());
        assert_eq!(
            token.for_registry("ghcr.io"),
            RegistryAuth::Bearer("t".into())
        );
        assert_eq!(token.for_registry("docker.io"), RegistryAuth::Anonymous);
    }

    #[test]
    fn a_broken_config_is_named_with_the_reason() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("config.json");
        for (text, reason) in [
            ("not json", "not a Docker config.json"),
            (r#"{"auths": {"r.example": {"auth": "%%%"}}}"#, "not base64"),
            (
                r#"{"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}}"#,
                "not user:password",
            ),
        ] {
            std::fs::write(&path, text).expect("written");
            let error = Credentials::from_docker_config(&path)
                .expect_err(text)
                .to_string();
            assert!(error.contains(reason), "{error}");
            assert!(error.contains("config.json"), "{error}");
        }
    }
}
