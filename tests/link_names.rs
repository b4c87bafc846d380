//! Link names chosen by the actor: one actor linked to two key-value stores
//! (the default link, and one named `cache`) picks `cache` with
//! `wasmcloud:bus/lattice.set-link-name` and counts there, apart from the
//! default store; a name it has no link for fails the call, naming it.

use lattice_tests::hosts::{self, kv_link};
use lattice_tests::http_client::HttpClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_picks_its_named_link_and_counts_in_that_store() {
    let host = hosts::dev_host();
    hosts::start_fixture(&host, "counter", "kv_link_names").await;
    hosts::start_provider(&host, "main", "keyvalue");
    hosts::start_provider(&host, "cache", "keyvalue");
    host.put_link(kv_link("counter", "main")).unwrap();
    let mut cache = kv_link("counter", "cache");
    cache.name = "cache".into();
    host.put_link(cache).unwrap();
    hosts::start_provider(&host, "http", "http-server");
    host.put_link(hosts::http_link("http", "counter", "127.0.0.1:0"))
        .unwrap();
    let url = hosts::first_url(&host);
    let client = HttpClient::default();
    let count = async |path: &str| client.get_reply(&format!("{url}{path}")).await;

    for (path, expected) in [
        ("", "1"),
        ("", "2"),
        ("cache", "1"),
        ("cache", "2"),
        ("", "3"),
    ] {
        count(path)
            .await
            .assert_answer(200, &format!("{expected}\n"));
    }
    let missing = count("archive").await;
    missing.assert_status(500);
    assert!(
        missing.body.contains("archive") && missing.body.contains("counter"),
        "{}",
        missing.body
    );
    // The default link still serves after a failed choice elsewhere.
    count("").await.assert_answer(200, "4\n");
    host.shutdown(std::time::Duration::from_secs(1)).await;
}
