//! Hosts and requests as the tests make them: a small instance pool, the
//! trust policy and compile cache each test chooses.

use std::path::Path;

use lattice_host::{Host, HostConfig, RuntimeConfig, TrustPolicy};
use lattice_interfaces::http::HttpBody;

/// A host with `trust`, a pool of 50 instances and `cache` as its compile
/// cache (`None`: compile every time).
pub fn host(trust: TrustPolicy, cache: Option<&Path>) -> Host {
    Host::new(HostConfig {
        trust,
        identity: Default::default(),
        labels: Default::default(),
        runtime: RuntimeConfig {
            cache_dir: cache.map(Path::to_path_buf),
            pool_instances: 50,
            ..RuntimeConfig::default()
        },
    })
    .expect("a test host starts")
}

/// A development host: runs unsigned actors, no compile cache.
pub fn dev_host() -> Host {
    host(unsigned_allowed(), None)
}

/// The trust policy of development: unsigned actors run.
pub fn unsigned_allowed() -> TrustPolicy {
    TrustPolicy {
        allow_unsigned: true,
        ..TrustPolicy::default()
    }
}

/// `GET uri` with an empty body, ready for `Actor::handle_http`.
pub fn get(uri: &str) -> http::Request<HttpBody> {
    http::Request::builder()
        .uri(uri)
        .body(HttpBody::default())
        .expect("a valid test request")
}

/// A manifest that serves the actor in `wasm` as `hello` over an
/// `http-server` link on `address`.
pub fn hello_manifest(wasm: &Path, address: &str) -> String {
    format!(
        r#"[[actors]]
id = "hello"
path = "{}"

[[providers]]
id = "http"
kind = "http-server"

[[links]]
source = "http"
target = "hello"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "{address}" }}
"#,
        wasm.display()
    )
}

/// A host with `trust` joined to the lattice `default` on the NATS server at
/// `nats_url`, with its own cluster key, 5 s call deadlines and provider
/// health checks every 200 ms.
pub async fn joined(nats_url: &str, trust: TrustPolicy) -> (Host, lattice_host::lattice::Lattice) {
    let keys = lattice_host::lattice::ClusterKeys::new(nkeys::KeyPair::new_cluster(), &[]);
    joined_with_keys(nats_url, trust, keys).await
}

/// Like [`joined`], signing with and trusting `cluster`: hosts given the
/// same keys accept each other's invocations.
pub async fn joined_with_keys(
    nats_url: &str,
    trust: TrustPolicy,
    cluster: lattice_host::lattice::ClusterKeys,
) -> (Host, lattice_host::lattice::Lattice) {
    use lattice_host::lattice::{Lattice, LatticeConfig, NatsArgs};
    let host = host(trust, None);
    let config = LatticeConfig {
        nats: NatsArgs {
            url: Some(nats_url.to_string()),
            ..NatsArgs::default()
        },
        heartbeat: std::time::Duration::from_secs(30),
        kv_replicas: 1,
        cluster,
        call_timeout: std::time::Duration::from_secs(5),
        provider_health: std::time::Duration::from_millis(200),
    };
    let lattice = Lattice::join(host.clone(), &config)
        .await
        .expect("a test host joins the lattice");
    (host, lattice)
}

/// Two development hosts joined to the lattice `default` at `nats_url` that
/// sign with and trust the same cluster key (returned, for the test to sign
/// with too), so each accepts the other's calls.
pub async fn two_hosts_sharing_a_cluster_key(
    nats_url: &str,
) -> (
    nkeys::KeyPair,
    (Host, lattice_host::lattice::Lattice),
    (Host, lattice_host::lattice::Lattice),
) {
    let cluster = nkeys::KeyPair::new_cluster();
    let seed = cluster.seed().expect("a new key has a seed");
    let keys = || {
        lattice_host::lattice::ClusterKeys::new(
            nkeys::KeyPair::from_seed(&seed).expect("the seed just made"),
            &[],
        )
    };
    let a = joined_with_keys(nats_url, unsigned_allowed(), keys()).await;
    let b = joined_with_keys(nats_url, unsigned_allowed(), keys()).await;
    (cluster, a, b)
}

/// Component id `name`, which the test knows is valid.
pub fn id(name: &str) -> lattice_interfaces::ComponentId {
    lattice_interfaces::ComponentId::new(name).expect("a valid test id")
}

/// Starts fixture or example `fixture` (e.g. `kv_counter`) on `host` as
/// actor `actor`.
pub async fn start_fixture(host: &Host, actor: &str, fixture: &str) {
    host.start_actor_from_bytes(
        id(actor),
        &format!("{fixture}.wasm"),
        crate::fixtures::wasm_bytes(fixture),
        Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{fixture} does not start: {e}"));
}

/// A `wasi:http/incoming-handler` link from `source` to `target` listening
/// on `address`.
pub fn http_link(source: &str, target: &str, address: &str) -> lattice_interfaces::Link {
    let mut link = lattice_interfaces::Link::new(
        id(source),
        id(target),
        lattice_interfaces::Contract::parse("wasi:http/incoming-handler").expect("a contract"),
    );
    link.source_config.insert("address".into(), address.into());
    link
}

/// Serves `actor` over HTTP from an in-process `http-server` provider
/// `http` on `host`, its link put through `lattice` on a free port; returns
/// the endpoint's URL (ending in `/`).
pub async fn serve_http(
    host: &Host,
    lattice: &lattice_host::lattice::Lattice,
    actor: &str,
) -> String {
    host.start_provider(&lattice_interfaces::ProviderSpec {
        id: id("http"),
        kind: "http-server".into(),
        config: Default::default(),
    })
    .expect("the HTTP server provider starts");
    lattice
        .put_link(http_link("http", actor, "127.0.0.1:0"))
        .await
        .expect("the HTTP link is stored");
    host.http_endpoints()
        .first()
        .expect("the HTTP link listens")
        .url()
}
