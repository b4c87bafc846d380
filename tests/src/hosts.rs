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
