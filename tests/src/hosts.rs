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
