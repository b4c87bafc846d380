//! Hosts and requests as the tests make them: a small instance pool, the
//! trust policy and compile cache each test chooses; the actors, providers
//! and links they start, alone or joined to a lattice.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lattice_host::lattice::Lattice;
use lattice_host::Actor;
use lattice_host::{ActorLimits, Host, HostConfig, HostError, RuntimeConfig, TrustPolicy};
use lattice_interfaces::http::HttpBody;
use lattice_interfaces::{Contract, Link, Manifest, ProviderSpec};

/// A host with `trust`, a pool of 50 instances and `cache` as its compile
/// cache (`None`: compile every time).
pub fn host(trust: TrustPolicy, cache: Option<&Path>) -> Host {
    let runtime = RuntimeConfig {
        cache_dir: cache.map(Path::to_path_buf),
        pool_instances: 50,
        ..RuntimeConfig::default()
    };
    host_with(trust, runtime)
}

/// A host with `trust` and `runtime`, no identity or labels of its own.
pub fn host_with(trust: TrustPolicy, runtime: RuntimeConfig) -> Host {
    Host::new(config_with(trust, runtime)).expect("a test host starts")
}

/// The configuration [`host_with`] starts a host with.
pub fn config_with(trust: TrustPolicy, runtime: RuntimeConfig) -> HostConfig {
    HostConfig {
        trust,
        identity: Default::default(),
        labels: Default::default(),
        registries: Default::default(),
        runtime,
        secret_dirs: Vec::new(),
        payload_budget: None,
        egress_allow: false,
        http_ca_file: None,
    }
}

/// A host with `trust` that pulls from registries as `registries` says,
/// keeping compiled components and pulled artifacts under `cache`
/// (`None`: a temporary folder for artifacts, no compile cache).
pub fn host_with_registry(
    trust: TrustPolicy,
    registries: lattice_oci::RegistryOptions,
    cache: Option<&Path>,
) -> Host {
    Host::new(HostConfig {
        trust,
        registries,
        runtime: RuntimeConfig {
            cache_dir: cache.map(Path::to_path_buf),
            pool_instances: 200,
            ..RuntimeConfig::default()
        },
        ..HostConfig::default()
    })
    .expect("a test host starts")
}

/// A development host with `labels` and `identity` (none: a new key), a
/// pool of 50 instances and no compile cache, not joined to any lattice.
pub fn labelled_host(
    labels: std::collections::BTreeMap<String, String>,
    identity: Option<lattice_host::HostIdentity>,
) -> Host {
    Host::new(HostConfig {
        trust: unsigned_allowed(),
        identity: identity.unwrap_or_else(lattice_host::HostIdentity::generate),
        labels,
        runtime: RuntimeConfig {
            cache_dir: None,
            pool_instances: 50,
            ..RuntimeConfig::default()
        },
        ..HostConfig::default()
    })
    .expect("a test host starts")
}

/// Registry options that reach `registry` over plain HTTP, anonymously.
pub fn plain_http(registry: &crate::registry::RegistryServer) -> lattice_oci::RegistryOptions {
    lattice_oci::RegistryOptions {
        insecure: vec![registry.address()],
        ..lattice_oci::RegistryOptions::default()
    }
}

/// A development host: runs unsigned actors, no compile cache.
pub fn dev_host() -> Host {
    host(unsigned_allowed(), None)
}

/// The trust policy of development: unsigned actors and provider binaries
/// run.
pub fn unsigned_allowed() -> TrustPolicy {
    TrustPolicy {
        allow_unsigned: true,
        allow_unsigned_providers: true,
        ..TrustPolicy::default()
    }
}

/// The trust policy that runs only what `issuer` (an account public key)
/// signed.
pub fn trusting(issuer: String) -> TrustPolicy {
    TrustPolicy {
        allowed_issuers: vec![issuer],
        ..TrustPolicy::default()
    }
}

/// The status `actor` answers to `GET /`, called in-process.
pub async fn status_of_get(actor: &Actor) -> http::StatusCode {
    actor
        .handle_http(get("http://localhost/"))
        .await
        .unwrap_or_else(|e| panic!("GET / failed: {e}"))
        .status()
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
    crate::manifest::ManifestBuilder::new()
        .actor("hello", wasm)
        .provider("http", "http-server")
        .http_link("http", "hello", address)
        .toml()
}

/// A host with `trust` joined to the lattice `default` on the NATS server at
/// `nats_url`, with a cluster key of its own (a development host: it takes
/// link entries signed by any cluster key), 5 s call deadlines and provider
/// health checks every 200 ms.
pub async fn joined(nats_url: &str, trust: TrustPolicy) -> (Host, Lattice) {
    let keys = lattice_host::lattice::ClusterKeys::development();
    joined_with_keys(nats_url, trust, keys).await
}

/// Like [`joined`], signing with and trusting `cluster`: hosts given the
/// same keys accept each other's invocations.
pub async fn joined_with_keys(
    nats_url: &str,
    trust: TrustPolicy,
    cluster: lattice_host::lattice::ClusterKeys,
) -> (Host, Lattice) {
    joined_with_config(trust, &lattice_config(nats_url, cluster)).await
}

/// The lattice settings of the tests' hosts: lattice `default` at
/// `nats_url`, signing with and trusting `cluster`, 5 s call deadlines,
/// provider health checks every 200 ms.
pub fn lattice_config(
    nats_url: &str,
    cluster: lattice_host::lattice::ClusterKeys,
) -> lattice_host::lattice::LatticeConfig {
    use lattice_host::lattice::{LatticeConfig, NatsArgs};
    LatticeConfig {
        nats: NatsArgs {
            url: Some(nats_url.to_string()),
            ..NatsArgs::default()
        },
        heartbeat: Duration::from_secs(30),
        kv_replicas: 1,
        cluster,
        call_timeout: Duration::from_secs(5),
        provider_health: Duration::from_millis(200),
        provider_grant: Duration::from_secs(3600),
        provider_credentials: None,
        reconcile: lattice_host::lattice::ReconcilerTiming::every(Duration::from_millis(300)),
    }
}

/// A host with `trust` joined as `config` says.
pub async fn joined_with_config(
    trust: TrustPolicy,
    config: &lattice_host::lattice::LatticeConfig,
) -> (Host, Lattice) {
    let host = host(trust, None);
    let lattice = Lattice::join(host.clone(), config)
        .await
        .expect("a test host joins the lattice");
    (host, lattice)
}

/// Two development hosts joined to the lattice `default` at `nats_url` that
/// sign with and trust the same cluster key (returned, for the test to sign
/// with too), so each accepts the other's calls.
pub async fn two_hosts_sharing_a_cluster_key(
    nats_url: &str,
) -> (nkeys::KeyPair, (Host, Lattice), (Host, Lattice)) {
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
pub async fn start_fixture(host: &Host, actor: &str, fixture: &str) -> Arc<Actor> {
    start_fixture_with(host, actor, fixture, ActorLimits::default())
        .await
        .unwrap_or_else(|e| panic!("{fixture} does not start: {e}"))
}

/// The spec that runs fixture or example `fixture` from its file as actor
/// `actor`, with the host's defaults.
pub fn fixture_spec(actor: &str, fixture: &str) -> lattice_interfaces::ActorSpec {
    lattice_interfaces::ActorSpec::new(
        id(actor),
        crate::fixtures::wasm(fixture).display().to_string(),
    )
}

/// Starts `fixture` on `host` as actor `actor` with `limits`; the actor,
/// or the host's refusal.
pub async fn start_fixture_with(
    host: &Host,
    actor: &str,
    fixture: &str,
    limits: ActorLimits,
) -> Result<Arc<Actor>, HostError> {
    let origin = format!("{fixture}.wasm");
    let wasm = crate::fixtures::wasm_bytes(fixture);
    host.start_actor_from_bytes(id(actor), &origin, wasm, limits)
        .await
}

/// A link from `source` to `target` for `contract` (e.g.
/// `wasi:keyvalue/store,atomics`), named `default`, with no config.
pub fn link(source: &str, target: &str, contract: &str) -> Link {
    let contract = Contract::parse(contract).unwrap_or_else(|e| panic!("{contract}: {e}"));
    Link::new(id(source), id(target), contract)
}

/// A `wasi:http/incoming-handler` link from `source` to `target` listening
/// on `address`.
pub fn http_link(source: &str, target: &str, address: &str) -> Link {
    let mut link = link(source, target, "wasi:http/incoming-handler");
    link.source_config.insert("address".into(), address.into());
    link
}

/// A `wasi:keyvalue/store,atomics` link from `source` to provider `kv`.
pub fn kv_link(source: &str, kv: &str) -> Link {
    link(source, kv, "wasi:keyvalue/store,atomics")
}

/// Built-in provider `kind` as `name`, with no config.
pub fn provider(name: &str, kind: &str) -> ProviderSpec {
    ProviderSpec {
        id: id(name),
        reference: kind.into(),
        config: Default::default(),
        placement: None,
    }
}

/// Starts built-in provider `kind` on `host` as `id`, with no config.
pub fn start_provider(host: &Host, id: &str, kind: &str) {
    host.start_provider(&provider(id, kind))
        .unwrap_or_else(|e| panic!("provider {id} ({kind}) does not start: {e}"));
}

/// Starts `wasm` on `host` as actor `actor` with default limits, `origin`
/// naming the file; the actor, or the host's refusal.
pub async fn start_bytes(
    host: &Host,
    actor: &str,
    origin: &str,
    wasm: Vec<u8>,
) -> Result<Arc<Actor>, HostError> {
    host.start_actor_from_bytes(id(actor), origin, wasm, ActorLimits::default())
        .await
}

/// A development host that applied `manifest`.
pub async fn applied(manifest: &Manifest) -> Host {
    let host = dev_host();
    host.apply(manifest)
        .await
        .unwrap_or_else(|e| panic!("the test manifest does not apply: {e}"));
    host
}

/// The URL (ending in `/`) of the first HTTP endpoint `host` listens on.
pub fn first_url(host: &Host) -> String {
    host.http_endpoints()
        .first()
        .expect("the host listens for HTTP")
        .url()
}

/// A development host joined to the lattice `default` at `nats_url` (see
/// [`joined`]).
pub async fn dev_lattice(nats_url: &str) -> (Host, Lattice) {
    joined(nats_url, unsigned_allowed()).await
}

/// Starts workspace provider binary `binary` (e.g.
/// `lattice-provider-keyvalue`) as provider `name` through `lattice`, with
/// `config`, supervised by its host.
pub async fn start_provider_process(
    lattice: &Lattice,
    name: &str,
    binary: &str,
    config: &[(&str, &str)],
) {
    let config = config
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    lattice
        .start_provider_process(&id(name), &crate::fixtures::binary(binary), config)
        .await
        .unwrap_or_else(|e| panic!("{binary} does not start as {name}: {e}"));
}

/// Starts an executable `/bin/sh` script (`body` after the shebang) as
/// provider process `name` through `lattice`: a provider that misbehaves as
/// a test needs (hangs, keeps what its host tells it). The script lives in
/// `dir`.
pub async fn start_script_provider(lattice: &Lattice, dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join(name);
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("the script is written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("the script is made executable");
    lattice
        .start_provider_process(&id(name), &script.display().to_string(), Default::default())
        .await
        .unwrap_or_else(|e| panic!("script provider {name} does not start: {e}"));
}

/// Leaves `lattice`, then shuts `host` down with a second's grace.
pub async fn leave(lattice: Lattice, host: Host) {
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

/// Starts `fixture` on `host` as actor `actor` and serves it as
/// [`serve_http`] does; the endpoint's URL (ending in `/`).
pub async fn serve_fixture(host: &Host, lattice: &Lattice, actor: &str, fixture: &str) -> String {
    start_fixture(host, actor, fixture).await;
    serve_http(host, lattice, actor).await
}

/// Serves `actor` over HTTP from an in-process `http-server` provider
/// `http` on `host`, its link put through `lattice` on a free port; returns
/// the endpoint's URL (ending in `/`).
pub async fn serve_http(host: &Host, lattice: &Lattice, actor: &str) -> String {
    start_provider(host, "http", "http-server");
    lattice
        .put_link(http_link("http", actor, "127.0.0.1:0"))
        .await
        .expect("the HTTP link is stored");
    first_url(host)
}

/// Provider calls that reach no actor: for a provider built alone in a
/// test, which calls nothing.
pub struct NoCalls;

impl lattice_interfaces::capability::ProviderCalls for NoCalls {
    fn handle_http(
        &self,
        link: &Link,
        _request: http::Request<HttpBody>,
    ) -> lattice_interfaces::http::HandleFuture {
        let error = lattice_interfaces::InvocationError::new(
            lattice_interfaces::ErrorKind::NotFound,
            format!("no actor here for {link}"),
        );
        Box::pin(async move { Err(error) })
    }

    fn deliver_message(
        &self,
        link: &Link,
        _message: lattice_interfaces::messaging::Message,
    ) -> lattice_interfaces::messaging::MessagingFuture<'static, ()> {
        let error = lattice_interfaces::messaging::MessagingError::Failed(format!(
            "no actor here for {link}"
        ));
        Box::pin(async move { Err(error) })
    }

    fn report_error(&self, _link: &Link, _error: &str) {}
}
