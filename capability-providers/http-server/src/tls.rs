//! TLS for the HTTP server's addresses: a certificate and key per link
//! (`tls_cert_file`, `tls_key_file`; wasmCloud's `tls_priv_key_file` too),
//! picked by SNI when links with different certificates share an address;
//! optional client certificates (`tls_client_ca_file`), whose verified
//! subject reaches the actor in [`CLIENT_SUBJECT`]; ALPN `h2` and
//! `http/1.1`; TLS 1.2 and 1.3 only. Files are read again when they change
//! (checked every [`RELOAD_EVERY`]): connections open keep their session,
//! new ones get the new certificate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use lattice_interfaces::Link;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::asn1_rs::ToDer as _;

/// The request header carrying a verified client certificate's subject;
/// whatever a client sends under this name is removed first.
pub const CLIENT_SUBJECT: &str = "x-lattice-client-subject";

/// How often certificate files are checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The TLS files a link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// A certificate and its key, without client certificates.
    pub fn new(cert: PathBuf, key: PathBuf) -> Self {
        Self {
            cert,
            key,
            client_ca: None,
        }
    }

    /// The CA client certificates must come from, if any.
    pub fn client_ca(&self) -> Option<PathBuf> {
        self.client_ca.clone()
    }

    /// The files `link` names, if it asks for TLS.
    ///
    /// # Errors
    ///
    /// A certificate without a key or a key without a certificate.
    pub fn of(link: &Link) -> Result<Option<Self>, String> {
        let cert = link.config("tls_cert_file");
        let key = link.config_of(&["tls_key_file", "tls_priv_key_file"]);
        let client_ca = link.config("tls_client_ca_file");
        match (cert, key) {
            (None, None) if client_ca.is_none() => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: cert.into(),
                key: key.into(),
                client_ca: client_ca.map(PathBuf::from),
            })),
            _ => Err("TLS needs both tls_cert_file and tls_key_file".into()),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// One certificate, its names, and when its files were read.
pub struct Loaded {
    /// The link it is served for.
    owner: String,
    files: TlsFiles,
    key: Arc<CertifiedKey>,
    names: Vec<String>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
}

/// Reads and checks `files`: the chain, the key, that they match, that
/// the certificate is valid now.
///
/// # Errors
///
/// What is wrong, naming the file.
pub fn load(files: &TlsFiles) -> Result<Loaded, String> {
    // Read before the files: a change while they are read shows on the
    // next check.
    let stamps = (modified(&files.cert), modified(&files.key));
    let cert_path = files.cert.display();
    let key_path = files.key.display();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("tls_cert_file {cert_path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_cert_file {cert_path}: not a PEM certificate chain: {e}"))?;
    let leaf = chain
        .first()
        .ok_or_else(|| format!("tls_cert_file {cert_path}: holds no certificate"))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| format!("tls_cert_file {cert_path}: not an X.509 certificate: {e}"))?;
    if !parsed.validity().is_valid() {
        return Err(format!(
            "tls_cert_file {cert_path}: the certificate is not valid now (valid {} to {})",
            parsed.validity().not_before,
            parsed.validity().not_after
        ));
    }
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("tls_key_file {key_path}: not a PEM private key: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("tls_key_file {key_path}: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| {
        format!("tls_key_file {key_path}: the key does not match the certificate in {cert_path}")
    })?;
    Ok(Loaded {
        owner: String::new(),
        files: files.clone(),
        key: Arc::new(certified),
        names,
        stamps,
    })
}

/// Whether `name` is one of `names`, a `*.` name covering one label.
fn covers(names: &[String], name: &str) -> bool {
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(domain) => name.split_once('.').is_some_and(|(_, rest)| rest == domain),
        None => n == name,
    })
}

/// The certificates of one address, picked by SNI.
#[derive(Default)]
pub struct Certificates {
    loaded: RwLock<Vec<Loaded>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

impl Certificates {
    /// Serves `loaded` for the link `owner` (again: in place of the one
    /// it had).
    pub fn insert(&self, owner: String, mut loaded: Loaded) {
        loaded.owner = owner;
        let mut all = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        all.retain(|l| l.owner != loaded.owner);
        all.push(loaded);
    }

    /// Stops serving the certificate of the link `owner`.
    pub fn remove(&self, owner: &str) {
        let mut all = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        all.retain(|l| l.owner != owner);
    }

    /// Reads again every certificate whose files changed; a file that
    /// became unreadable keeps the certificate that was read before, and
    /// says so.
    pub fn reload_changed(&self) {
        let stale: Vec<(String, TlsFiles)> = {
            let all = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
            all.iter()
                .filter(|l| l.stamps != (modified(&l.files.cert), modified(&l.files.key)))
                .map(|l| (l.owner.clone(), l.files.clone()))
                .collect()
        };
        for (owner, files) in stale {
            match load(&files) {
                Ok(mut loaded) => {
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    loaded.owner = owner.clone();
                    let mut all = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
                    if let Some(slot) = all.iter_mut().find(|l| l.owner == owner) {
                        *slot = loaded;
                    }
                }
                // Half-written while being replaced, most likely: the next
                // check reads it again.
                Err(error) => {
                    tracing::warn!(%error, "TLS certificate not reloaded; serving the one read before")
                }
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let all = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        let named = hello.server_name().map(str::to_ascii_lowercase);
        named
            .and_then(|name| all.iter().find(|l| covers(&l.names, &name)))
            .or_else(|| all.first())
            .map(|l| l.key.clone())
    }
}

/// The server settings of an address: its certificates, the client CA its
/// links name (one per address), and the protocols ALPN offers.
///
/// # Errors
///
/// The CA file cannot be read or holds no CA, named.
pub fn server_config(
    certificates: Arc<Certificates>,
    client_ca: Option<&Path>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let shown = path.display();
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("tls_client_ca_file {shown}: {e}"))?
            {
                let cert = cert.map_err(|e| format!("tls_client_ca_file {shown}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_client_ca_file {shown}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("tls_client_ca_file {shown}: holds no certificate"));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("tls_client_ca_file {shown}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(certificates);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The subject of a verified client certificate as RFC 4514 text, as
/// nginx's `$ssl_client_s_dn` gives it: the last RDN first, attributes by
/// their short names (`CN=alice,O=Acme,C=NL`), and in values the
/// characters that would end one escaped, so a common name holding
/// `,O=admins` cannot pass for another attribute.
pub fn subject_of(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = parsed
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type();
                    let name = x509_parser::objects::oid2abbrev(oid, registry)
                        .map_or_else(|_| oid.to_id_string(), str::to_string);
                    let value = match attribute.as_str() {
                        Ok(text) => rfc4514_escaped(text),
                        // Not text: the value's DER, in hex.
                        Err(_) => format!(
                            "#{}",
                            attribute
                                .attr_value()
                                .to_der_vec()
                                .map(|der| der
                                    .iter()
                                    .map(|b| format!("{b:02x}"))
                                    .collect::<String>())
                                .unwrap_or_default()
                        ),
                    };
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Some(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// `value` escaped as an RFC 4514 attribute value.
fn rfc4514_escaped(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut escaped = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '#' if i == 0 => escaped.push_str("\\#"),
            ' ' if i == 0 || i == last => escaped.push_str("\\ "),
            // Control characters and anything beyond ASCII as `\XX` per
            // UTF-8 byte (RFC 4514 allows it): a header value is ASCII.
            c if c.is_control() || !c.is_ascii() => {
                let mut bytes = [0u8; 4];
                for b in c.encode_utf8(&mut bytes).bytes() {
                    let _ = write!(escaped, "\\{b:02X}");
                }
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// Serves `files`' certificate alone, read again when the files change
/// until `stop`: what another server of the host (the admin endpoint)
/// speaks TLS with, HTTP/1.1 only.
///
/// # Errors
///
/// The files are wrong, named.
pub fn single(
    files: &TlsFiles,
    stop: tokio_util::sync::CancellationToken,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certificates = Arc::new(Certificates::default());
    certificates.insert(String::new(), load(files)?);
    let config = server_config(certificates.clone(), None, &[b"http/1.1"])?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(RELOAD_EVERY) => certificates.reload_changed(),
            }
        }
    });
    Ok(tokio_rustls::TlsAcceptor::from(config))
}
