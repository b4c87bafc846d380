//! TLS for tests: a private CA and a certificate it signs, and a TLS
//! upstream server speaking HTTP/2 and HTTP/1.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A CA, and a certificate for 127.0.0.1 and localhost it signs, as PEM
/// files in `dir`: (ca, cert, key).
pub fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lattice test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("a CA certificate");
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("a certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("written");
    std::fs::write(&paths.1, cert.pem()).expect("written");
    std::fs::write(&paths.2, key.serialize_pem()).expect("written");
    paths
}

/// Starts an HTTPS server on loopback with a certificate for `localhost`
/// and 127.0.0.1 signed by a CA made for it in `dir`, offering HTTP/2 and
/// HTTP/1.1; every request gets `upstream ok over HTTP/2.0` (or the
/// version it came in). Returns its port and the CA's PEM file. It serves
/// until the test's runtime ends.
pub async fn start_upstream(dir: &Path) -> (u16, PathBuf) {
    use rustls_pki_types::pem::PemObject as _;
    let (ca, cert, key) = make_certificates(dir);
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(&cert)
        .expect("the certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&key).expect("the key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("a TLS server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |request: http::Request<hyper::body::Incoming>| async move {
                        let body = format!("upstream ok over {:?}", request.version());
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from(body)),
                        ))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    (port, ca)
}
