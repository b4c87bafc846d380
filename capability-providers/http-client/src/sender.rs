//! Sends one outgoing request: resolves its host, checks every address
//! against the link's [`Egress`] and connects to one of those addresses
//! (so what was checked is what is reached), speaks TLS for `https` with
//! the system's roots (the bundled Mozilla roots where the system has
//! none) and the link's `ca_file`, offers HTTP/2 and HTTP/1.1 by ALPN, and
//! keeps the link's timeouts: to connect (TCP and TLS), to the first byte,
//! between bytes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lattice_interfaces::Link;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions};

use rustls_pki_types::pem::PemObject as _;

use crate::egress::{Denied, Egress};

/// A response body whose next bytes must come within a timeout.
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Error>;

/// The connection's I/O, driven by whoever holds the response.
pub type Connection = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Why a request was not sent.
#[derive(Debug)]
pub enum SendError {
    /// Egress refused it; nothing was sent.
    Denied(Denied),
    /// It failed on the way, as `wasi:http` tells failures apart.
    Failed(Error),
}

impl From<Error> for SendError {
    fn from(error: Error) -> Self {
        Self::Failed(error)
    }
}

impl From<hyper::Error> for SendError {
    fn from(error: hyper::Error) -> Self {
        Self::Failed(Error::from(error))
    }
}

/// The roots every link trusts: the system's, or the bundled Mozilla roots
/// when the system has none. Loaded once.
fn base_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// The largest CA bundle read, in bytes (the system's whole bundle is
/// about 200 KiB).
pub const MAX_CA_BUNDLE: u64 = 4 << 20;

/// The CA roots in the PEM bundle at `path`.
///
/// # Errors
///
/// The file cannot be read, or holds something other than certificates,
/// or none: one line naming `setting` (`ca_file`, say) and the file.
pub fn ca_bundle(
    setting: &str,
    path: &str,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    // A regular file of a sane size: not a FIFO, not /dev/zero.
    let meta =
        std::fs::metadata(path).map_err(|e| format!("{setting} {path}: cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{setting} {path}: not a regular file"));
    }
    if meta.len() > MAX_CA_BUNDLE {
        return Err(format!(
            "{setting} {path}: {} bytes, more than a CA bundle takes ({MAX_CA_BUNDLE})",
            meta.len()
        ));
    }
    let pem = std::fs::read(path).map_err(|e| format!("{setting} {path}: cannot be read: {e}"))?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{setting} {path}: not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{setting} {path}: holds no certificate"));
    }
    Ok(certs)
}

/// How a link's requests speak TLS: the base roots plus the provider's
/// `ca_file` and the link's.
#[derive(Clone)]
pub struct Tls(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The TLS settings of `link`: the system's roots, plus those in
    /// `provider_ca_file` (the provider's, for every link) and in the
    /// link's `ca_file`, PEM bundles.
    ///
    /// # Errors
    ///
    /// A file cannot be read, or holds no certificate, named.
    pub fn of(link: &Link, provider_ca_file: Option<&str>) -> Result<Self, String> {
        let mut roots = base_roots().clone();
        let bundles = [
            ("the provider's ca_file", provider_ca_file),
            ("ca_file", link.config("ca_file")),
        ];
        for (setting, path) in bundles {
            let Some(path) = path else { continue };
            for cert in ca_bundle(setting, path)? {
                roots.add(cert).map_err(|e| {
                    format!("{setting} {path}: a certificate is not a CA root: {e}")
                })?;
            }
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self(Arc::new(config)))
    }
}

/// Whether a TLS failure is the peer's certificate.
fn tls_error(error: std::io::Error) -> Error {
    let certificate = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        });
    if certificate {
        Error::TlsCertificateError
    } else {
        Error::Tls(error)
    }
}

/// Connects to the first of `addresses` that answers within `timeout`.
async fn connect(addresses: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = Error::Connect(error),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

/// A response body that fails when its next bytes are late.
struct Timed {
    incoming: hyper::body::Incoming,
    between_bytes: tokio::time::Interval,
}

impl http_body::Body for Timed {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(Some(Ok(frame))) => {
                self.between_bytes.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.between_bytes.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// Sends `request` where `egress` allows, with `tls` and `options`; the
/// response and its connection's I/O.
///
/// # Cancel safety
///
/// Dropping the future drops the connection.
pub async fn send<B>(
    mut request: http::Request<B>,
    options: RequestOptions,
    tls: &Tls,
    egress: &Egress,
) -> Result<(http::Response<ResponseBody>, Connection), SendError>
where
    B: http_body::Body<Data = Bytes, Error = Error> + Send + Unpin + 'static,
{
    let uri = request.uri().clone();
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") | None => false,
        Some(_) => return Err(Error::HttpProtocolError.into()),
    };
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?.clone();
    // User info would make what is sent name another host than the one
    // checked; a port that is not one would be checked as the default.
    if authority.as_str().contains('@')
        || (authority.port().is_some() && authority.port_u16().is_none())
    {
        return Err(Error::HttpRequestUriInvalid.into());
    }
    let bare = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let scheme = if https { "https" } else { "http" };
    egress
        .check(scheme, &bare, port)
        .map_err(SendError::Denied)?;
    let connect_timeout = options.connect_timeout.unwrap_or(Duration::from_secs(600));
    let addresses: Vec<SocketAddr> = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(
            connect_timeout,
            tokio::net::lookup_host((bare.as_str(), port)),
        )
        .await
        .map_err(|_| Error::DnsTimeout)?
        .map_err(|e| Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?
        .collect(),
    };
    if addresses.is_empty() {
        return Err(Error::DestinationNotFound.into());
    }
    let ips: Vec<std::net::IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
    egress
        .check_addresses(scheme, &bare, port, &ips)
        .map_err(SendError::Denied)?;
    let stream = connect(&addresses, connect_timeout).await?;

    // Over TLS, the server's ALPN answer picks the protocol.
    let (io, h2): (Box<dyn IoStream>, bool) = if https {
        let name = rustls_pki_types::ServerName::try_from(bare.clone())
            .map_err(|_| Error::InvalidDnsNameError(rustls_pki_types::InvalidDnsNameError))?;
        let connector = tokio_rustls::TlsConnector::from(tls.0.clone());
        let stream = tokio::time::timeout(connect_timeout, connector.connect(name, stream))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(tls_error)?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        (Box::new(stream), h2)
    } else {
        (Box::new(stream), false)
    };

    // The request line carries the path alone; the checked authority goes
    // in Host (HTTP/1.1), whatever Host the request carried, or in
    // :authority (HTTP/2), which hyper sets from the URI.
    if !h2 {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
        let value = http::HeaderValue::from_str(authority.as_str())
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        request.headers_mut().insert(http::header::HOST, value);
    } else {
        request.headers_mut().remove(http::header::HOST);
        *request.version_mut() = http::Version::HTTP_2;
    }

    let first_byte = options
        .first_byte_timeout
        .unwrap_or(Duration::from_secs(600));
    let between = options
        .between_bytes_timeout
        .unwrap_or(Duration::from_secs(600))
        .max(Duration::from_nanos(1));
    let io = TokioIo::new(io);
    let (response, connection) = if h2 {
        let handshake =
            hyper::client::conn::http2::Builder::new(TokioExecutor::new()).handshake(io);
        let (mut sender, connection) = within(connect_timeout, handshake).await?;
        drive(connection, first_byte, sender.send_request(request)).await?
    } else {
        let handshake = hyper::client::conn::http1::Builder::new().handshake(io);
        let (mut sender, connection) = within(connect_timeout, handshake).await?;
        drive(connection, first_byte, sender.send_request(request)).await?
    };
    let mut between_bytes = tokio::time::interval(between);
    between_bytes.reset();
    Ok((
        response.map(|incoming| {
            Timed {
                incoming,
                between_bytes,
            }
            .boxed_unsync()
        }),
        connection,
    ))
}

/// A handshake that must finish within `limit`.
async fn within<T>(
    limit: Duration,
    handshake: impl Future<Output = Result<T, hyper::Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, handshake)
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::from)
}

/// Waits for `response` within `first_byte` while driving `connection`;
/// the response and what is left of the connection to drive.
async fn drive<F>(
    connection: impl Future<Output = Result<(), hyper::Error>> + Send + 'static,
    first_byte: Duration,
    response: F,
) -> Result<(http::Response<hyper::body::Incoming>, Connection), Error>
where
    F: Future<Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>>,
{
    let connection: Connection = Box::new(async move { connection.await.map_err(Error::from) });
    let mut connection = Box::into_pin(connection);
    let mut response = std::pin::pin!(response);
    let mut done = false;
    let waited = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = response.as_mut().poll(cx) {
            return Poll::Ready(result.map_err(Error::from));
        }
        if !done {
            if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                // Polled no more: a finished future must not be polled.
                done = true;
                if let Err(error) = result {
                    return Poll::Ready(Err(error));
                }
                // The connection ended cleanly: the response is there now,
                // or it never will be.
                return match response.as_mut().poll(cx) {
                    Poll::Ready(result) => Poll::Ready(result.map_err(Error::from)),
                    Poll::Pending => Poll::Ready(Err(Error::ConnectionTerminated)),
                };
            }
        }
        Poll::Pending
    });
    let response = tokio::time::timeout(first_byte, waited)
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let rest: Connection = if done {
        Box::new(async { Ok(()) })
    } else {
        Box::new(connection)
    };
    Ok((response, rest))
}

/// A byte stream a connection runs on: TCP, or TLS over it.
trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> IoStream for T {}
