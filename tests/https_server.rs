//! HTTPS at the edge: the HTTP server provider speaks TLS itself, no proxy
//! in front. Certificates made in the test by a private CA: HTTP/2 over
//! TLS served; the certificate replaced on disk under a steady load of new
//! connections, with none failing and the new one shown within seconds;
//! client certificates required where a link names their CA, the verified
//! subject handed to the actor and a client's own claim to one dropped;
//! wrong files refused when the link is put, naming the file.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::tls::{https_get, TestCa};
use lattice_tests::{eventually_within, fixtures, hosts};

/// The echo fixture behind HTTPS on a free port, with `tls` settings.
fn manifest(tls: &[(&str, &str)]) -> lattice_interfaces::Manifest {
    let mut config = vec![("address", "127.0.0.1:0")];
    config.extend_from_slice(tls);
    ManifestBuilder::new()
        .actor("echo", &fixtures::wasm("http_echo"))
        .provider("http", "http-server")
        .link("http", "echo", "wasi:http/incoming-handler")
        .source_config(&config)
        .build()
}

fn port_of(host: &lattice_host::Host) -> u16 {
    host.http_endpoints()
        .first()
        .expect("the host listens")
        .address
        .port()
}

/// Writes `text` to `path` whole: to a neighbour first, then renamed over.
fn replace(path: &std::path::Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_h2_and_a_certificate_rotates_under_load_with_no_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("lattice test CA");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert, key) = ca.leaf("first");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let (cert_file, key_file) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let host = hosts::applied(&manifest(&[
        ("tls_cert_file", &cert_file),
        ("tls_key_file", &key_file),
    ]))
    .await;
    let port = port_of(&host);

    // HTTP/2 over TLS; a client's own claim to a certificate subject is
    // dropped before the actor sees the request.
    let reply = https_get(
        port,
        "/hi",
        &ca.pem,
        None,
        &[("x-lattice-client-subject", "CN=mallory")],
    )
    .await
    .unwrap();
    assert_eq!((reply.status, reply.version), (200, http::Version::HTTP_2));
    assert_eq!(reply.headers["x-echo-path"], "/hi");
    assert_eq!(reply.server_cn, "first");
    assert!(
        !reply.headers.contains_key("x-echo-client-subject"),
        "{:?}",
        reply.headers
    );

    // A steady load of new connections while the files are replaced.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (stop, served, failed, ca) =
            (stop.clone(), served.clone(), failed.clone(), ca.pem.clone());
        tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match https_get(port, "/", &ca, None, &[]).await {
                    Ok(reply) if reply.status == 200 => served.fetch_add(1, Ordering::Relaxed),
                    Ok(reply) => {
                        errors.push(format!("status {}", reply.status));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(error) => {
                        errors.push(error);
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            errors
        })
    };
    eventually_within("the load to run", Duration::from_secs(20), async || {
        (served.load(Ordering::Relaxed) >= 20).then_some(())
    })
    .await;
    let (cert, key) = ca.leaf("second");
    replace(&key_path, &key);
    replace(&cert_path, &cert);
    eventually_within(
        "the new certificate on new connections",
        Duration::from_secs(10),
        async || {
            https_get(port, "/", &ca.pem, None, &[])
                .await
                .ok()
                .filter(|reply| reply.server_cn == "second")
                .map(drop)
        },
    )
    .await;
    let before = served.load(Ordering::Relaxed);
    eventually_within(
        "more load after the rotation",
        Duration::from_secs(20),
        async || (served.load(Ordering::Relaxed) >= before + 20).then_some(()),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let errors = load.await.unwrap();
    eprintln!(
        "certificate rotated under load: {} requests on new connections, {} failed",
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{errors:?}");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_where_a_link_names_their_ca() {
    let dir = tempfile::tempdir().unwrap();
    let servers = TestCa::new("server CA");
    let clients = TestCa::new("client CA");
    let (cert, key) = servers.leaf("edge");
    let paths = ["cert.pem", "key.pem", "clients.pem"].map(|name| dir.path().join(name));
    std::fs::write(&paths[0], cert).unwrap();
    std::fs::write(&paths[1], key).unwrap();
    std::fs::write(&paths[2], &clients.pem).unwrap();
    let [cert_file, key_file, client_ca] = paths.map(|p| p.display().to_string());
    let host = hosts::applied(&manifest(&[
        ("tls_cert_file", &cert_file),
        ("tls_key_file", &key_file),
        ("tls_client_ca_file", &client_ca),
    ]))
    .await;
    let port = port_of(&host);

    // No certificate: no request.
    let refused = https_get(port, "/", &servers.pem, None, &[]).await;
    assert!(refused.is_err(), "{refused:?}");
    // One from another CA: none either.
    let (stranger, stranger_key) = servers.leaf("stranger");
    let refused = https_get(
        port,
        "/",
        &servers.pem,
        Some((&stranger, &stranger_key)),
        &[],
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    // One the client CA signed: its subject reaches the actor, whatever
    // the client claims.
    let (alice, alice_key) = clients.leaf("alice");
    let reply = https_get(
        port,
        "/",
        &servers.pem,
        Some((&alice, &alice_key)),
        &[("x-lattice-client-subject", "CN=mallory")],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["x-echo-client-subject"], "CN=alice");
    // As RFC 4514 writes it, the last RDN first and the characters that
    // would end a value escaped: a common name cannot pass for more
    // attributes.
    let (forger, forger_key) = clients.leaf_with("eve,O=admins", |params| {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
    });
    let reply = https_get(port, "/", &servers.pem, Some((&forger, &forger_key)), &[])
        .await
        .unwrap();
    assert_eq!(
        reply.headers["x-echo-client-subject"],
        "O=Acme,CN=eve\\,O=admins"
    );
    // Beyond ASCII, each byte escaped: the subject still reaches the
    // actor (a header value is ASCII).
    let (jose, jose_key) = clients.leaf("José");
    let reply = https_get(port, "/", &servers.pem, Some((&jose, &jose_key)), &[])
        .await
        .unwrap();
    assert_eq!(reply.headers["x-echo-client-subject"], "CN=Jos\\C3\\A9");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tls_files_are_refused_at_link_put_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("lattice test CA");
    let (cert, _) = ca.leaf("one");
    let (_, other_key) = ca.leaf("two");
    let (expired, expired_key) = ca.leaf_with("old", |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (cert, other_key) = (write("cert.pem", &cert), write("other.key", &other_key));
    let (expired, expired_key) = (
        write("expired.pem", &expired),
        write("expired.key", &expired_key),
    );
    let missing = dir.path().join("missing.pem").display().to_string();
    for (tls, expected) in [
        (
            vec![
                ("tls_cert_file", cert.as_str()),
                ("tls_key_file", other_key.as_str()),
            ],
            format!("tls_key_file {other_key}: the key does not match the certificate in {cert}"),
        ),
        (
            vec![
                ("tls_cert_file", expired.as_str()),
                ("tls_key_file", expired_key.as_str()),
            ],
            format!("tls_cert_file {expired}: the certificate is not valid now"),
        ),
        (
            vec![
                ("tls_cert_file", missing.as_str()),
                ("tls_key_file", other_key.as_str()),
            ],
            format!("tls_cert_file {missing}:"),
        ),
        (
            vec![("tls_cert_file", cert.as_str())],
            "TLS needs both tls_cert_file and tls_key_file".to_string(),
        ),
    ] {
        let host = hosts::dev_host();
        let error = host.apply(&manifest(&tls)).await.unwrap_err().to_string();
        assert!(
            error.contains(&expected),
            "expected {expected:?} in: {error}"
        );
        assert!(!error.contains('\n'), "{error}");
        host.shutdown(Duration::ZERO).await;
    }
}
