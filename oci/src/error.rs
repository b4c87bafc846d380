//! Why a pull or a push failed: one line naming the reference and the
//! reason.

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// A failure about one reference.
#[derive(Debug, thiserror::Error)]
#[error("{reference}: {failure}")]
pub struct OciError {
    /// The reference as given (at most 300 characters of it).
    pub reference: String,
    /// What went wrong.
    pub failure: OciFailure,
}

impl OciError {
    /// A failure about `reference`.
    pub fn new(reference: &str, failure: OciFailure) -> Self {
        Self {
            reference: one_line(reference),
            failure,
        }
    }

    /// Whether trying again may help: the registry was unreachable, failed
    /// on its side, or a download ended early.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.failure,
            OciFailure::Unreachable { .. } | OciFailure::Truncated(_) | OciFailure::ServerError(_)
        )
    }
}

/// What went wrong, without the reference.
#[derive(Debug, thiserror::Error)]
pub enum OciFailure {
    /// The text is not a registry reference.
    #[error("not a registry reference: {0}")]
    BadReference(String),
    /// No answer from the registry.
    #[error("registry {registry} is unreachable: {detail}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// What the connection said.
        detail: String,
    },
    /// TLS was asked for and the registry answered in plain HTTP.
    #[error("registry {registry} does not speak TLS (a plain-HTTP registry? allow it with --allow-insecure-registry {registry})")]
    NotTls {
        /// The registry.
        registry: String,
    },
    /// The registry refused who we are.
    #[error("registry {registry} refused the credentials{hint}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What to do about it.
        hint: String,
    },
    /// No such repository, tag or digest.
    #[error("not found in the registry")]
    NotFound,
    /// The manifest is not an artifact of the kind asked for.
    #[error("not a {expected}: {detail}")]
    NotAnArtifact {
        /// What was asked for.
        expected: &'static str,
        /// What it is instead.
        detail: String,
    },
    /// Content whose hash is not its digest: what was expected and what
    /// came.
    #[error("content does not match its digest ({0})")]
    DigestMismatch(String),
    /// Over the size cap.
    #[error(
        "{what} is {size} bytes, more than this host pulls ({limit_mib} MiB; --max-reference-mib)"
    )]
    TooLarge {
        /// Which part.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The cap in MiB.
        limit_mib: u64,
    },
    /// The download broke off or ended before the size the manifest
    /// gives.
    #[error("the download broke off: {0}")]
    Truncated(String),
    /// An index with no entry for this platform.
    #[error("no binary for {platform} in it (it has: {available})")]
    NoPlatform {
        /// The platform wanted.
        platform: String,
        /// The platforms it has.
        available: String,
    },
    /// The local cache could not be read or written.
    #[error("artifact cache {path}: {detail}")]
    Cache {
        /// The file.
        path: String,
        /// What the file system said.
        detail: String,
    },
    /// The registry failed on its side (5xx).
    #[error("registry error: {0}")]
    ServerError(String),
    /// Any other refusal from the registry.
    #[error("registry refused: {0}")]
    Refused(String),
}

/// Longest detail kept from a registry's or the network's message.
const MAX_DETAIL: usize = 300;

/// Makes `text` one line of at most [`MAX_DETAIL`] characters.
pub(crate) fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or_default()),
        None => line,
    }
}

/// Classifies an `oci_client` error about `registry`.
pub(crate) fn classify(registry: &str, error: OciDistributionError) -> OciFailure {
    let unauthorized = || OciFailure::Unauthorized {
        registry: registry.to_string(),
        hint: String::new(),
    };
    match error {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => unauthorized(),
        OciDistributionError::ImageManifestNotFoundError(_) => OciFailure::NotFound,
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                unauthorized()
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                OciFailure::NotFound
            } else {
                OciFailure::Refused(one_line(&envelope.to_string()))
            }
        }
        OciDistributionError::ServerError { code, message, .. } => {
            from_status(registry, code, &message)
        }
        OciDistributionError::DigestError(e) => {
            OciFailure::DigestMismatch(one_line(&e.to_string()))
        }
        OciDistributionError::RequestError(e)
            if source_chain(&e).contains("InvalidContentType") =>
        {
            OciFailure::NotTls {
                registry: registry.to_string(),
            }
        }
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            OciFailure::Unreachable {
                registry: registry.to_string(),
                detail: one_line(&source_chain(&e)),
            }
        }
        OciDistributionError::RequestError(e) if e.is_body() || e.is_decode() => {
            OciFailure::Truncated(one_line(&source_chain(&e)))
        }
        OciDistributionError::RequestError(e) => OciFailure::Unreachable {
            registry: registry.to_string(),
            detail: one_line(&source_chain(&e)),
        },
        other => OciFailure::Refused(one_line(&other.to_string())),
    }
}

/// What an answer with HTTP `status` and `body` (a registry's error
/// envelope, or anything) means.
pub(crate) fn from_status(registry: &str, status: u16, body: &str) -> OciFailure {
    let detail = || one_line(&format!("{status} {body}"));
    match status {
        401 | 403 => OciFailure::Unauthorized {
            registry: registry.to_string(),
            hint: String::new(),
        },
        404 => OciFailure::NotFound,
        500.. => OciFailure::ServerError(detail()),
        _ => OciFailure::Refused(detail()),
    }
}

/// `error` and its causes, joined: reqwest's own message alone says only
/// "error sending request".
pub(crate) fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
