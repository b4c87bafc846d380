//! Secret references: where a host finds a secret an actor reads, never the
//! secret itself. `file:/run/secrets/db` (a file, such as a mounted
//! Kubernetes Secret) or `env:LATTICE_SECRET_DB` (an environment variable
//! of the host). Manifests, apps, control requests and the lattice's
//! bucket carry only these; each host resolves them where the actor runs,
//! so a secret's value never crosses the lattice.

use std::fmt;
use std::path::PathBuf;

/// The prefix every environment variable used as a secret must have, so an
/// actor cannot be given the host's other settings (its seeds included).
pub const ENV_PREFIX: &str = "LATTICE_SECRET_";

/// Where one secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A file on the host: its contents, less one trailing newline.
    File(PathBuf),
    /// An environment variable of the host, named `LATTICE_SECRET_…`.
    Env(String),
}

impl SecretRef {
    /// Reads `file:PATH` or `env:LATTICE_SECRET_NAME`; the reason otherwise.
    ///
    /// # Errors
    ///
    /// Another scheme, a relative path, or a variable without the prefix.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("file:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(format!(
                    "{}: a secret file must be an absolute path",
                    crate::shown(text)
                ));
            }
            return Ok(Self::File(path));
        }
        if let Some(name) = text.strip_prefix("env:") {
            if !name.starts_with(ENV_PREFIX)
                || name.len() == ENV_PREFIX.len()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!(
                    "{}: only variables named {ENV_PREFIX}[A-Z0-9_]+ may be secrets",
                    crate::shown(text)
                ));
            }
            return Ok(Self::Env(name.to_string()));
        }
        Err(format!(
            "{}: a secret is file:/absolute/path or env:{ENV_PREFIX}NAME",
            crate::shown(text)
        ))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Env(name) => write!(f, "env:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_prefixed_variables_only() {
        assert_eq!(
            SecretRef::parse("file:/run/secrets/db"),
            Ok(SecretRef::File("/run/secrets/db".into()))
        );
        assert_eq!(
            SecretRef::parse("env:LATTICE_SECRET_DB"),
            Ok(SecretRef::Env("LATTICE_SECRET_DB".into()))
        );
        for refused in [
            "file:db",
            "env:HOME",
            "env:LATTICE_SECRET_",
            "env:LATTICE_SECRET_db",
            "vault:db",
            "",
        ] {
            assert!(SecretRef::parse(refused).is_err(), "{refused}");
        }
        let reason = SecretRef::parse("env:LATTICE_HOST_SEED").unwrap_err();
        assert!(reason.contains("LATTICE_SECRET_"), "{reason}");
    }
}
