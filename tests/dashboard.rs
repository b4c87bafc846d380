//! The dashboard, `lattice-ctl ui`, in a real browser: Debian's chromium
//! driven through chromedriver. Operators watch a lattice there: the page
//! must show the hosts the lattice has, an actor within a second of the
//! event that says it started, a link once `link put` stored it, and stay
//! responsive with 50 hosts and 1,000 links. It is read-only unless started
//! with `--allow-actions`: the page shows its actions disabled and the
//! server refuses them (403); with the flag an action happens only after
//! its confirmation, and only from the page (token, `Host`, `Origin`).
//!
//! Signals read: the page's DOM through WebDriver (elements carry the ids
//! they show: `data-host-id`, `data-actor`, `data-link`), the lattice's
//! events on NATS as the test sees them, what the hosts run, and the
//! dashboard's HTTP answers.
//!
//! `dashboard_screenshot` (ignored; `scripts/dashboard-screenshot` runs it)
//! writes `docs/dashboard.png` from a small realistic lattice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use lattice_host::lattice::{ClusterKeys, Lattice};
use lattice_host::Host;
use lattice_interfaces::protocol::control::op;
use lattice_tests::browser::{Browser, Dashboard, DIALOG_OPEN};
use lattice_tests::hosts::{self, id};
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::{scale, start_provider, Control};
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{ctl_at, succeeded};
use lattice_tests::{eventually, fixtures};
use serde_json::{json, Value};

/// The issue's bound: an actor shows within a second of its start event.
const SHOWS_WITHIN: Duration = Duration::from_secs(1);

/// A main-thread stall this long is a frozen page. Here the page's longest
/// task is 100 to 200 ms with 50 hosts and 1,000 links; redrawing every row
/// on each event took 1 to 2.5 s. The bound leaves room for a machine busy
/// with the rest of the suite.
const FROZEN_MS: f64 = 750.0;

/// A development host labelled `zone` and `hostname`, joined to the
/// lattice at `url` with `cluster`.
async fn host_in(url: &str, zone: &str, name: &str, cluster: ClusterKeys) -> (Host, Lattice) {
    let labels: BTreeMap<String, String> = [
        ("zone".to_string(), zone.to_string()),
        ("hostname".to_string(), name.to_string()),
    ]
    .into();
    let host = hosts::labelled_host(labels, None);
    let config = hosts::lattice_config(url, cluster);
    let lattice = Lattice::join(host.clone(), &config).await.unwrap();
    (host, lattice)
}

/// Cluster keys all the test's hosts share (they call each other).
fn shared_cluster() -> impl Fn() -> ClusterKeys {
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    move || ClusterKeys::new(nkeys::KeyPair::from_seed(&seed).unwrap(), &[])
}

fn actor_row(host: &str, actor: &str) -> String {
    format!(r#"tr[data-host="{host}"][data-actor="{actor}"]"#)
}

/// Waits for the next `actor_scaled` event of `actor` on `nats`; when the
/// test saw it.
async fn seen_scaled(mut events: async_nats::Subscriber, actor: &str) -> Instant {
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let message = tokio::time::timeout_at(until, events.next())
            .await
            .expect("an actor_scaled event within 60 s")
            .expect("the subscription stays open");
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        if event["data"]["actor_id"] == actor {
            return Instant::now();
        }
    }
}

/// POSTs `body` to action `action` from the page itself, as its own
/// script would (with the page's token); the status and the error said.
async fn post_from_page(browser: &Browser, action: &str, body: Value) -> (u64, String) {
    let answer = browser
        .run_async(
            r#"const [action, body, done] = arguments;
            const token = document.querySelector('meta[name="lattice-token"]').content;
            fetch('/api/actions/' + action, {method: 'POST',
                headers: {'content-type': 'application/json', 'x-lattice-token': token},
                body: JSON.stringify(body)})
              .then(r => r.json().then(j => done([r.status, j.error || j.message])))
              .catch(e => done([0, String(e)]));"#,
            vec![json!(action), body],
        )
        .await;
    (
        answer[0].as_u64().unwrap(),
        answer[1].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_hosts_an_actor_within_a_second_and_a_link_and_refuses_actions_read_only() {
    let nats = NatsServer::start();
    let url = nats.url();
    let cluster = shared_cluster();
    let (east, east_lattice) = host_in(&url, "east", "east-1", cluster()).await;
    let (west, west_lattice) = host_in(&url, "west", "west-1", cluster()).await;
    let dashboard = Dashboard::start(&url, &[]);
    let browser = Browser::start(1280, 1000).await;
    browser.open(&dashboard.url).await;

    // The hosts the test started, grouped by zone.
    for host in [&east, &west] {
        browser
            .wait_for(
                &format!(r#"article[data-host-id="{}"]"#, host.id()),
                Duration::from_secs(20),
            )
            .await;
    }
    let groups = browser
        .run(
            "return [...document.querySelectorAll('#host-groups h3')].map(h => h.textContent).join('|')",
            vec![],
        )
        .await;
    let groups = groups.as_str().unwrap();
    assert!(
        groups.contains("zone=east") && groups.contains("zone=west"),
        "{groups}"
    );
    browser
        .wait_until(
            "the page to follow the event stream",
            "return document.body.dataset.live === 'true'",
            Duration::from_secs(20),
        )
        .await;

    // An actor shows within a second of its start event as the test sees
    // it on NATS.
    let control = Control::connect(&url, "default").await;
    let events = control
        .nats()
        .subscribe("lattice.default.evt.actor_scaled")
        .await
        .unwrap();
    control.nats().flush().await.unwrap();
    let seen = tokio::spawn(async move { seen_scaled(events, "hello").await });
    let hello = fixtures::wasm("hello").display().to_string();
    control
        .ok::<op::ScaleActor>(Some(east.id()), scale("hello", &hello, 4))
        .await;
    let event_seen = seen.await.unwrap();
    let (row, _) = browser
        .wait_for(
            &actor_row(east.id().as_str(), "hello"),
            Duration::from_secs(20),
        )
        .await;
    let shown_after = event_seen.elapsed();
    eprintln!("the actor showed {shown_after:?} after the test saw its start event");
    assert!(
        shown_after <= SHOWS_WITHIN,
        "the actor showed {shown_after:?} after its start event"
    );
    let text = row.text().await.unwrap();
    assert!(text.contains("hello") && text.contains("/4"), "{text}");

    // No link yet: the graph is drawn empty, never with a negative width
    // (which the browser logs as an error).
    let widths = browser
        .run(
            "return [...document.querySelectorAll('#link-graph svg')].map(s => Number(s.getAttribute('width')))",
            vec![],
        )
        .await;
    let widths = widths.as_array().unwrap();
    assert!(
        !widths.is_empty() && widths.iter().all(|w| w.as_f64().unwrap() >= 0.0),
        "{widths:?}"
    );

    // A link shows once `link put` stored it, in the table and the graph.
    succeeded(&ctl_at(
        &url,
        &["link", "put", "http", "hello", "wasi:http/incoming-handler"],
    ));
    browser
        .wait_for(
            r#"tr[data-link="http|wasi:http|default"][data-target="hello"]"#,
            Duration::from_secs(5),
        )
        .await;
    browser
        .wait_for(
            r#"#link-graph g.node.actor[data-node="hello"]"#,
            Duration::from_secs(5),
        )
        .await;
    // Nothing runs `http`: the graph says so.
    browser
        .wait_for(
            r#"#link-graph g.node.absent[data-node="http"]"#,
            Duration::from_secs(5),
        )
        .await;

    // Read-only: the page shows its actions disabled, and the server
    // refuses one sent anyway; the actor still runs.
    let mode = browser.wait_for("#mode", Duration::from_secs(1)).await.0;
    assert_eq!(mode.text().await.unwrap(), "read-only");
    let all_disabled = browser
        .run(
            "const buttons = [...document.querySelectorAll('button[data-action], #put-link, #apply-app')];
             return buttons.length >= 4 && buttons.every(b => b.disabled)",
            vec![],
        )
        .await;
    assert_eq!(all_disabled, json!(true));
    let (status, said) = post_from_page(
        &browser,
        "actor.stop",
        json!({ "host": east.id(), "actor": "hello" }),
    )
    .await;
    assert_eq!(status, 403, "{said}");
    assert!(said.contains("--allow-actions"), "{said}");
    assert!(
        east.actor(&id("hello")).is_some(),
        "a refused stop stopped it"
    );

    browser.close().await;
    hosts::leave(east_lattice, east).await;
    hosts::leave(west_lattice, west).await;
}

/// An actor's log lines in the page: its Logs button opens the lines its
/// hosts kept, then each new one as it is logged, each with its host and
/// instance; a malformed actor id gets 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actors_log_lines_stream_into_the_page() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = host_in(&url, "east", "east-1", shared_cluster()()).await;
    let actor = hosts::start_fixture(&host, "logs", "http_logs").await;
    let kept = actor
        .handle_http(hosts::get("http://localhost/before"))
        .await
        .expect("answered");
    assert_eq!(kept.status(), 200);
    let dashboard = Dashboard::start(&url, &[]);
    let browser = Browser::start(1280, 1000).await;
    browser.open(&dashboard.url).await;
    browser
        .wait_for(r#"button[data-logs="logs"]"#, Duration::from_secs(20))
        .await;
    browser.click(r#"button[data-logs="logs"]"#).await;
    let shown = r#"return [...document.querySelectorAll('#log-lines li')].map(li => li.textContent).join('\n')"#;
    let has = |path: &'static str| {
        format!(
            r#"return [...document.querySelectorAll('#log-lines li')].some(li => li.textContent.includes('a request for {path}'))"#
        )
    };
    browser
        .wait_until("the kept line", &has("/before"), Duration::from_secs(20))
        .await;
    // A new line arrives while the page follows.
    let path = "/after";
    let answer = actor
        .handle_http(hosts::get(&format!("http://localhost{path}")))
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    browser
        .wait_until("the new line", &has(path), Duration::from_secs(20))
        .await;
    let text = browser.run(shown, vec![]).await;
    let text = text.as_str().unwrap_or_default();
    let prefix = &host.id().as_str()[..8];
    assert!(
        text.lines().any(|l| l.contains(&format!("{prefix} #"))
            && l.contains("warn http_logs: a request for /before")),
        "{text}"
    );

    let client = HttpClient::default();
    let refused = client
        .get_reply(&format!("{}api/logs/not%20an%20id", dashboard.url))
        .await;
    refused.assert_status(400);
    assert!(refused.body.contains("actor"), "{}", refused.body);
    browser.close().await;
    hosts::leave(lattice, host).await;
}

/// With `--tls-cert` and `--tls-key` the dashboard serves HTTPS with that
/// certificate, and still answers only requests naming its own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_the_dashboard_serves_https() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = lattice_tests::tls::TestCa::new("dashboard CA");
    let (cert, key) = ca.leaf("dashboard");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let (cert_arg, key_arg) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let dashboard = Dashboard::start(
        &nats.url(),
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );
    assert!(
        dashboard.url.starts_with("https://127.0.0.1:"),
        "{}",
        dashboard.url
    );
    let port: u16 = dashboard
        .address()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let own = format!("localhost:{port}");
    let page = lattice_tests::tls::https_get(port, "/", &ca.pem, None, &[("host", &own)])
        .await
        .unwrap();
    assert_eq!((page.status, page.server_cn.as_str()), (200, "dashboard"));
    assert!(
        page.body.contains("name=\"lattice-token\""),
        "{}",
        page.body
    );
    let snapshot =
        lattice_tests::tls::https_get(port, "/api/snapshot", &ca.pem, None, &[("host", &own)])
            .await
            .unwrap();
    assert_eq!(snapshot.status, 200, "{}", snapshot.body);
    let parts: Value = serde_json::from_str(&snapshot.body).unwrap();
    assert!(parts.get("hosts").is_some(), "{parts}");
    // Another name in Host is refused, pointing at the HTTPS address.
    let other = lattice_tests::tls::https_get(port, "/", &ca.pem, None, &[("host", "localhost")])
        .await
        .unwrap();
    assert_eq!(other.status, 403);
    assert!(other.body.contains("https://127.0.0.1:"), "{}", other.body);
    // A key that is not the certificate's is refused before the lattice
    // is contacted, naming the file.
    let (_, other_key) = ca.leaf("other");
    std::fs::write(&key_path, other_key).unwrap();
    let refused = lattice_tests::process::lattice_ctl()
        .args([
            "ui",
            "--listen",
            "127.0.0.1:0",
            "--nats-url",
            "nats://127.0.0.1:1",
        ])
        .args(["--tls-cert", &cert_arg, "--tls-key", &key_arg])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&key_arg) && stderr.contains("does not match the certificate"),
        "{stderr}"
    );
}

/// The token the page carries.
async fn page_token(client: &HttpClient, dashboard: &Dashboard) -> String {
    let page = client.get_reply(&dashboard.url).await;
    page.assert_status(200);
    let (_, rest) = page
        .body
        .split_once(r#"name="lattice-token" content=""#)
        .expect("the page carries its token");
    rest.split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_allow_actions_an_action_needs_its_confirmation_and_the_pages_token() {
    let nats = NatsServer::start();
    let url = nats.url();
    let cluster = shared_cluster();
    let (host, lattice) = host_in(&url, "east", "east-1", cluster()).await;
    let control = Control::connect(&url, "default").await;
    let hello = fixtures::wasm("hello").display().to_string();
    control
        .ok::<op::ScaleActor>(Some(host.id()), scale("hello", &hello, 2))
        .await;
    let dashboard = Dashboard::start(&url, &["--allow-actions"]);
    let browser = Browser::start(1280, 1000).await;
    browser.open(&dashboard.url).await;
    browser
        .wait_for(
            &actor_row(host.id().as_str(), "hello"),
            Duration::from_secs(20),
        )
        .await;
    let mode = browser.wait_for("#mode", Duration::from_secs(1)).await.0;
    assert_eq!(mode.text().await.unwrap(), "actions allowed");

    // Stop: cancelled, nothing happens; confirmed, the actor stops.
    let stop = format!(
        r#"button[data-action="actor.stop"][data-host="{}"][data-actor="hello"]"#,
        host.id()
    );
    browser.open_dialog(&stop).await;
    browser.click("#confirm-cancel").await;
    assert_eq!(browser.run(DIALOG_OPEN, vec![]).await, json!(false));
    assert!(
        host.actor(&id("hello")).is_some(),
        "a cancelled stop stopped it"
    );
    browser.open_dialog(&stop).await;
    browser.click("#confirm-ok").await;
    eventually("hello to stop", async || {
        host.actor(&id("hello")).is_none().then_some(())
    })
    .await;
    browser
        .wait_until(
            "the stopped actor to leave the page",
            &format!(
                "return !document.querySelector('{}')",
                actor_row(host.id().as_str(), "hello")
            ),
            Duration::from_secs(5),
        )
        .await;

    // Put a link through the page's form.
    browser.open_dialog("#put-link").await;
    for (field, value) in [
        ("#link-source", "greeter"),
        ("#link-target", "uppercase"),
        ("#link-contract", "example:uppercase/convert"),
    ] {
        let input = browser.find_now(field).await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    browser.click("#confirm-ok").await;
    browser
        .wait_for(
            r#"tr[data-link="greeter|example:uppercase|default"]"#,
            Duration::from_secs(5),
        )
        .await;
    let links = control
        .ok::<op::GetLinks>(None, lattice_interfaces::protocol::control::Empty {})
        .await;
    assert!(links
        .iter()
        .any(|l| l.source == id("greeter") && l.target == id("uppercase")));

    // From anywhere but the page: refused, each in one line; nothing panics.
    let client = HttpClient::default();
    let token = page_token(&client, &dashboard).await;
    let action = |name: &str| format!("{}/api/actions/{name}", dashboard.origin());
    let post = |name: String, headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let client = client.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client
                .request_with(http::Method::POST, &name, &headers, Bytes::from(body))
                .await
                .unwrap_or_else(|e| panic!("POST {name} got no answer: {e:?}"))
        }
    };
    let stop_body = json!({ "host": host.id(), "actor": "hello" })
        .to_string()
        .into_bytes();
    let with_token = || vec![("x-lattice-token", token.clone())];
    post(action("actor.stop"), vec![], stop_body.clone())
        .await
        .assert_error(403, "X-Lattice-Token");
    post(
        action("actor.stop"),
        vec![("x-lattice-token", "0".repeat(64))],
        stop_body.clone(),
    )
    .await
    .assert_error(403, "X-Lattice-Token");
    let mut from_elsewhere = with_token();
    from_elsewhere.push(("origin", "http://evil.example".into()));
    post(action("actor.stop"), from_elsewhere, stop_body.clone())
        .await
        .assert_error(403, "origin");
    let mut rebound = with_token();
    rebound.push(("host", "evil.example".into()));
    post(action("actor.stop"), rebound, stop_body.clone())
        .await
        .assert_error(403, "evil.example");
    for (name, body, part) in [
        ("actor.stop", b"{".to_vec(), "unreadable request"),
        ("actor.stop", b"[]".to_vec(), "unreadable request"),
        ("actor.stop", br#"{"host":"N.>","actor":"hello"}"#.to_vec(), "not a host id"),
        ("link.put", br#"{"source":"a","target":"b","contract":"nope"}"#.to_vec(), "nope"),
        ("actor.scale", stop_body.clone(), "max_instances"),
        ("app.apply", br#"{"manifest":"[app]\nname = \"x\"\n[[actors]]\nid = \"a\"\nreference = \"a.wasm\"\n"}"#.to_vec(), "relative path"),
    ] {
        let reply = post(action(name), with_token(), body).await;
        reply.assert_error(400, part);
        assert_eq!(reply.body.lines().count(), 1, "{}", reply.body);
    }
    post(action("explode"), with_token(), b"{}".to_vec())
        .await
        .assert_error(404, "no action");
    post(
        action("actor.stop"),
        with_token(),
        vec![b' '; 2 * 1024 * 1024],
    )
    .await
    .assert_status(413);
    // A host that is not there: the lattice's silence, not a panic.
    let ghost = nkeys::KeyPair::new_server().public_key();
    post(
        action("actor.stop"),
        with_token(),
        json!({ "host": ghost, "actor": "hello" })
            .to_string()
            .into_bytes(),
    )
    .await
    .assert_error(504, "did not answer");
    let origin = dashboard.origin().to_string();
    client
        .get_reply(&format!("{origin}/nothing-here"))
        .await
        .assert_status(404);
    client
        .request(
            http::Method::DELETE,
            &format!("{origin}/api/snapshot"),
            Bytes::new(),
        )
        .await
        .unwrap()
        .assert_status(405);
    // Still serving.
    client
        .get_reply(&format!("{origin}/api/snapshot"))
        .await
        .assert_status(200);

    browser.close().await;
    hosts::leave(lattice, host).await;
}

/// The 50 hosts' ids: one real host and `fakes` that answer `host.ping`
/// and `host.inventory` as hosts do (the protocol of `docs/protocol.md`),
/// each with six actors whose counters grow and a provider.
async fn fake_hosts(nats: async_nats::Client, fakes: usize) -> Vec<String> {
    let ids: Vec<String> = (0..fakes)
        .map(|_| nkeys::KeyPair::new_server().public_key())
        .collect();
    let mut pings = nats
        .subscribe("lattice.default.ctl.v1.host.ping")
        .await
        .unwrap();
    let mut inventories = nats
        .subscribe("lattice.default.ctl.v1.host.inventory.*")
        .await
        .unwrap();
    nats.flush().await.unwrap();
    let started = Instant::now();
    let zones = ["east", "west", "north", "south"];
    let info = move |index: usize, id: &str| {
        json!({"host_id": id, "lattice": "default",
            "labels": {"zone": zones[index % zones.len()], "hostname": format!("fake-{index:02}"), "os": "linux", "arch": "x86_64"},
            "version": "0.1.0", "started_at": "2026-11-28T01:00:00Z", "uptime_seconds": 4242,
            "actors": 6, "providers": 1})
    };
    let answers = ids.clone();
    tokio::spawn(async move {
        let reply = |response: Value| {
            Bytes::from(json!({"success": true, "message": "", "response": response}).to_string())
        };
        loop {
            tokio::select! {
                Some(ping) = pings.next() => {
                    let Some(inbox) = ping.reply else { continue };
                    for (index, id) in answers.iter().enumerate() {
                        let _ = nats.publish(inbox.clone(), reply(info(index, id))).await;
                    }
                }
                Some(asked) = inventories.next() => {
                    let Some(inbox) = asked.reply else { continue };
                    let id = asked.subject.rsplit('.').next().unwrap_or_default();
                    let Some(index) = answers.iter().position(|a| a == id) else { continue };
                    let grown = started.elapsed().as_millis() as u64 / 10;
                    let actors: Vec<Value> = (0..6).map(|k| json!({
                        "id": format!("svc-{}", (index * 6 + k) % 100), "reference": "/fake/svc.wasm",
                        "max_instances": 100, "instances_in_use": k % 3, "instance_reuse": 1,
                        "calls": grown * (k as u64 + 1), "failed": grown / 50 * (k as u64 % 2)})).collect();
                    let routing: serde_json::Map<String, Value> = (0..5)
                        .map(|k| (format!("svc-{}", (index + k * 7) % 100), json!({"local": grown, "remote": grown / 3})))
                        .collect();
                    let inventory = json!({"host": info(index, id), "actors": actors,
                        "providers": [{"id": format!("kv-{}", index % 10), "reference": "keyvalue"}],
                        "routing": routing, "artifacts": []});
                    let _ = nats.publish(inbox, reply(inventory)).await;
                }
                else => return,
            }
        }
    });
    ids
}

/// Puts links `from..to`: `svc-(i % 100)` to `kv-(i % 10)` named `n<i>`.
async fn put_links(control: &Control, from: usize, to: usize) {
    futures::stream::iter(from..to)
        .map(|i| {
            let mut link = hosts::link(
                &format!("svc-{}", i % 100),
                &format!("kv-{}", i % 10),
                "wasi:keyvalue/store",
            );
            link.name = format!("n{i}");
            let control = control.clone();
            async move { control.ok::<op::PutLink>(None, link).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_hosts_and_a_thousand_links_stay_responsive() {
    let nats = NatsServer::start();
    let url = nats.url();
    let cluster = shared_cluster();
    let (host, lattice) = host_in(&url, "east", "real-1", cluster()).await;
    let control = Control::connect(&url, "default").await;
    fake_hosts(nats.client().await, 49).await;
    put_links(&control, 0, 1000).await;

    let dashboard = Dashboard::start(&url, &[]);
    let browser = Browser::start(1280, 1000).await;
    // Long tasks (main thread busy over 50 ms), from the page's start.
    browser.open(&dashboard.url).await;
    let loaded = browser
        .wait_until(
            "50 hosts and 1,000 links on the page",
            "return document.querySelectorAll('article.host').length === 50
                && document.querySelectorAll('tr[data-link]').length === 1000",
            Duration::from_secs(30),
        )
        .await;
    // The page's main thread from now on: the longest gap between two
    // timer ticks asked every 10 ms, and the longest task.
    browser
        .run(
            "window.__gaps = {last: performance.now(), worst: 0, longest: 0};
             setInterval(() => { const now = performance.now();
                 window.__gaps.worst = Math.max(window.__gaps.worst, now - window.__gaps.last);
                 window.__gaps.last = now; }, 10);
             new PerformanceObserver(list => { for (const e of list.getEntries())
                 window.__gaps.longest = Math.max(window.__gaps.longest, e.duration); })
               .observe({type: 'longtask'});",
            vec![],
        )
        .await;
    // A burst of live changes: 200 more links, actors starting.
    let hello = fixtures::wasm("hello").display().to_string();
    control
        .ok::<op::ScaleActor>(Some(host.id()), scale("hello", &hello, 1))
        .await;
    put_links(&control, 1000, 1200).await;
    control
        .ok::<op::StartProvider>(Some(host.id()), start_provider("kv-0", "keyvalue"))
        .await;
    browser
        .wait_until(
            "1,200 links and the real host's actor",
            &format!(
                "return document.querySelectorAll('tr[data-link]').length === 1200
                    && !!document.querySelector('{}')",
                actor_row(host.id().as_str(), "hello")
            ),
            Duration::from_secs(30),
        )
        .await;
    let gaps = browser.run("return window.__gaps", vec![]).await;
    let draws = browser.run("return window.latticeDraws", vec![]).await;
    let worst = gaps["worst"].as_f64().unwrap();
    let longest = gaps["longest"].as_f64().unwrap();
    eprintln!(
        "50 hosts and 1,000 links showed in {loaded:?}; then the longest gap {worst:.0} ms, the longest task {longest:.0} ms"
    );
    assert!(
        loaded < Duration::from_secs(15),
        "50 hosts and 1,000 links took {loaded:?} to show"
    );
    assert!(
        worst < FROZEN_MS && longest < FROZEN_MS,
        "the page froze: a {worst:.0} ms gap between ticks, a {longest:.0} ms task; draws: {draws}"
    );
    // The graph is not drawn at this size; the table is, grouped by source.
    let hidden = browser
        .run(
            "return document.querySelector('#link-graph figcaption').textContent",
            vec![],
        )
        .await;
    assert!(hidden.as_str().unwrap().contains("not drawn"), "{hidden}");

    browser.close().await;
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/dashboard.png: scripts/dashboard-screenshot runs it"]
async fn dashboard_screenshot() {
    let nats = NatsServer::start();
    let url = nats.url();
    let cluster = shared_cluster();
    let (edge, edge_lattice) = host_in(&url, "east", "edge-1", cluster()).await;
    let (one, one_lattice) = host_in(&url, "west", "compute-1", cluster()).await;
    let (two, two_lattice) = host_in(&url, "west", "compute-2", cluster()).await;
    let control = Control::connect(&url, "default").await;
    let wasm = |name: &str| fixtures::wasm(name).display().to_string();
    control
        .ok::<op::ScaleActor>(Some(one.id()), scale("hello", &wasm("hello"), 20))
        .await;
    control
        .ok::<op::ScaleActor>(Some(one.id()), scale("greeter", &wasm("greeter"), 20))
        .await;
    control
        .ok::<op::ScaleActor>(Some(two.id()), scale("uppercase", &wasm("uppercase"), 50))
        .await;
    control
        .ok::<op::StartProvider>(Some(edge.id()), start_provider("http", "http-server"))
        .await;
    control
        .ok::<op::StartProvider>(Some(two.id()), start_provider("kv", "keyvalue"))
        .await;
    let hello_port = lattice_tests::free_port();
    let greet_port = lattice_tests::free_port();
    let http_link = |target: &str, name: &str, port: u16| {
        let mut link = hosts::http_link("http", target, &format!("127.0.0.1:{port}"));
        link.name = name.into();
        link
    };
    for link in [
        http_link("hello", "default", hello_port),
        http_link("greeter", "greet", greet_port),
        hosts::link("greeter", "uppercase", "example:uppercase/convert"),
        hosts::kv_link("counter", "kv"),
    ] {
        control.ok::<op::PutLink>(None, link).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("shop.toml");
    std::fs::write(
        &app,
        format!(
            "[app]\nname = \"shop\"\n\n[[actors]]\nid = \"counter\"\nreference = \"{}\"\nplacement = {{ replicas = 2, spread = {{ label = \"zone\", weights = {{ east = 50, west = 50 }} }} }}\n",
            wasm("kv_counter")
        ),
    )
    .unwrap();
    succeeded(&ctl_at(&url, &["apply", &app.display().to_string()]));
    // Traffic, so rates show: local calls to hello, calls to greeter that
    // cross to uppercase on another host, for a while.
    let client = HttpClient::default();
    let traffic = tokio::spawn(async move {
        let until = Instant::now() + Duration::from_secs(14);
        while Instant::now() < until {
            let _ = client.get(&format!("http://127.0.0.1:{hello_port}/")).await;
            let _ = client
                .get(&format!("http://127.0.0.1:{greet_port}/lattice"))
                .await;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    let dashboard = Dashboard::start(&url, &[]);
    let browser = Browser::start(1440, 1800).await;
    browser.open(&dashboard.url).await;
    browser
        .wait_until(
            "the app to converge and rates to show",
            "return !!document.querySelector('article.app.converged')
                && [...document.querySelectorAll('tr[data-actor] td:nth-child(3)')].some(td => td.textContent !== '0')",
            Duration::from_secs(60),
        )
        .await;
    traffic.await.unwrap();
    let png = browser.screenshot().await;
    let path = fixtures::repo_root().join("docs").join("dashboard.png");
    std::fs::write(&path, png).unwrap();
    eprintln!("wrote {}", path.display());
    browser.close().await;
    hosts::leave(edge_lattice, edge).await;
    hosts::leave(one_lattice, one).await;
    hosts::leave(two_lattice, two).await;
}
