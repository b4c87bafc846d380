//! The test support starts a real `nats-server` with JetStream and stops it.
//!
//! Every lattice test stands on this: if the server did not start, answer,
//! enable JetStream or stop with its handle, every later test would lie. The
//! test reads the server's own `INFO` greeting and whether its port closes.

use std::net::TcpStream;
use std::time::Duration;

use lattice_tests::nats::NatsServer;

#[test]
fn starts_with_jetstream_on_a_free_port_and_stops_on_drop() {
    let server = NatsServer::start();
    let info = server.info().expect("a running server greets clients");
    assert!(info.contains("\"jetstream\":true"), "{info}");
    assert!(server.url().ends_with(&server.port().to_string()));
    let port = server.port();
    drop(server);
    lattice_tests::wait_for("the port to close", Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
}

#[test]
fn two_servers_run_side_by_side() {
    let a = NatsServer::start();
    let b = NatsServer::start();
    assert_ne!(a.port(), b.port());
    assert!(a.info().is_some() && b.info().is_some());
}
