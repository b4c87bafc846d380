//! A backend's URL may carry its password (`redis://user:password@host`);
//! the password stays between the link and the backend. Events that show
//! the link, the `provider_error` a provider raises when it cannot reach
//! the backend, and the error the actor gets all name the server with
//! `***` in place of the credentials.
//!
//! The signal: everything on the lattice's event subjects and the actor's
//! answer, searched for the password (issue 29, finding 12; before the fix
//! `link_set` carried the URL whole and the errors repeated it).

use std::time::Duration;

use futures::StreamExt as _;
use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::{self, NatsServer};
use lattice_tests::{free_port, hosts};

const PASSWORD: &str = "hunter2-backend-password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_password_reaches_no_event_and_no_actor() {
    let nats = NatsServer::start();
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.>").await;
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    hosts::start_provider(&host, "kv", "keyvalue");
    hosts::start_fixture(&host, "kv-counter", "kv_counter").await;
    // Nothing listens there: every call fails to reach it.
    let url = format!("redis://lattice:{PASSWORD}@127.0.0.1:{}/0", free_port());
    let mut link = hosts::kv_link("kv-counter", "kv");
    link.target_config.insert("url".into(), url);
    lattice.put_link(link).await.expect("the link is stored");
    let endpoint = hosts::serve_http(&host, &lattice, "kv-counter").await;

    let answer = HttpClient::default()
        .get_reply(&format!("{endpoint}n"))
        .await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(answer.body.contains("***@127.0.0.1"), "{}", answer.body);
    assert!(
        !answer.body.contains(PASSWORD),
        "the actor saw it: {}",
        answer.body
    );

    // Every event up to the provider's report of the outage.
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let Ok(Some(event)) = tokio::time::timeout_at(until, events.next()).await else {
            panic!("no provider_error within 20 s; saw {seen:#?}");
        };
        let text = String::from_utf8_lossy(&event.payload).into_owned();
        let done = event.subject.as_str().ends_with(".provider_error");
        seen.push(text);
        if done {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|e| e.contains("link_set") && e.contains("***@127.0.0.1")),
        "{seen:#?}"
    );
    for event in &seen {
        assert!(!event.contains(PASSWORD), "an event carries it: {event}");
    }
    hosts::leave(lattice, host).await;
}
