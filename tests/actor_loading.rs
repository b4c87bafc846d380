//! What a host refuses to load, and what it loads without compiling twice.
//!
//! Users hand hosts files by path; a wrong file must be refused with one line
//! naming the actor, the file and the reason, never a panic, and a refused
//! load leaves the host serving what it served. A second start of the same
//! component must come from the compile cache (wasmCloud users complain that
//! every start recompiles). The tests read the error text and the
//! `CompileOutcome` the host reports.

use std::path::Path;

use lattice_host::{ActorLimits, CompileOutcome, Host, HostConfig, HostError, RuntimeConfig};
use lattice_interfaces::{ComponentId, Link};
use lattice_tests::{fixtures, hosts};

fn host(cache: Option<&Path>) -> Host {
    hosts::host(hosts::unsigned_allowed(), cache)
}

fn id(s: &str) -> ComponentId {
    ComponentId::new(s).unwrap()
}

async fn load_error(host: &Host, origin: &str, wasm: Vec<u8>) -> String {
    match host
        .start_actor_from_bytes(id("a"), origin, wasm, ActorLimits::default())
        .await
    {
        Ok(_) => panic!("{origin} was loaded"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn a_file_that_is_not_wasm_is_refused_by_name() {
    let host = host(None);
    let e = load_error(&host, "notes.txt", b"hello, I am text".to_vec()).await;
    assert_eq!(e, "actor \"a\": notes.txt is not a WebAssembly file");
}

#[tokio::test]
async fn a_core_module_is_refused_with_the_fix() {
    let host = host(None);
    let core = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let e = load_error(&host, "core.wasm", core).await;
    assert!(
        e.starts_with("actor \"a\": core.wasm is a core WebAssembly module, not a component"),
        "{e}"
    );
    assert!(e.contains("wasm32-wasip2"), "{e}");
}

#[tokio::test]
async fn truncated_and_garbage_components_are_refused_without_panic() {
    let host = host(None);
    let hello = fixtures::wasm_bytes("hello");
    // Eight bytes are the preamble alone: a valid empty component. Any cut past it is not.
    for cut in [9, 10, 100, hello.len() / 2, hello.len() - 1] {
        let e = load_error(&host, "cut.wasm", hello[..cut].to_vec()).await;
        assert!(
            e.starts_with("actor \"a\": cut.wasm does not compile: "),
            "{cut}: {e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
    // The component preamble followed by noise.
    let mut garbage = hello[..8].to_vec();
    garbage.extend((0u8..=255).cycle().take(4096));
    let e = load_error(&host, "noise.wasm", garbage).await;
    assert!(e.contains("does not compile"), "{e}");
    for tiny in [vec![], vec![0], b"\0asm".to_vec()] {
        let e = load_error(&host, "tiny.wasm", tiny).await;
        assert!(
            e.contains("not a WebAssembly file") || e.contains("does not compile"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_component_with_wasi_imports_the_host_lacks_is_refused_naming_them() {
    // Imports outside wasi: are routed to linked actors; a wasi: interface
    // this host does not implement cannot be satisfied at all.
    let host = host(None);
    let component = wat::parse_str(
        r#"(component
            (import "wasi:missing/thing@0.1.0" (instance (export "f" (func))))
        )"#,
    )
    .unwrap();
    let e = load_error(&host, "needs.wasm", component).await;
    assert!(
        e.starts_with("actor \"a\": needs.wasm cannot be linked: "),
        "{e}"
    );
    assert!(e.contains("wasi:missing/thing"), "{e}");
}

#[tokio::test]
async fn a_link_to_an_actor_without_the_export_is_refused() {
    let host = host(None);
    let empty = wat::parse_str("(component)").unwrap();
    host.start_actor_from_bytes(id("quiet"), "empty.wasm", empty, ActorLimits::default())
        .await
        .unwrap();
    host.start_provider(&lattice_interfaces::ProviderSpec {
        id: id("http"),
        kind: "http-server".into(),
        config: Default::default(),
    })
    .unwrap();
    let mut link = Link::new(
        id("http"),
        id("quiet"),
        lattice_interfaces::Contract::parse("wasi:http/incoming-handler").unwrap(),
    );
    link.source_config
        .insert("address".into(), "127.0.0.1:0".into());
    let e = host.put_link(link).unwrap_err().to_string();
    assert_eq!(
        e,
        "link http -> quiet wasi:http/incoming-handler: actor \"quiet\" does not export wasi:http/incoming-handler, which this link needs"
    );
    assert!(host.links().is_empty(), "a refused link must not be stored");
    assert!(host.http_endpoints().is_empty());
}

#[tokio::test]
async fn a_missing_file_and_a_duplicate_id_are_refused() {
    let host = host(None);
    let spec = lattice_interfaces::ActorSpec {
        id: id("ghost"),
        path: "/nonexistent/ghost.wasm".into(),
        max_instances: None,
        memory_limit_mib: None,
        timeout_ms: None,
        instance_reuse: None,
    };
    let e = host.start_actor(&spec).await.unwrap_err().to_string();
    assert!(
        e.starts_with("actor \"ghost\": cannot read /nonexistent/ghost.wasm: "),
        "{e}"
    );

    host.start_actor_from_bytes(
        id("a"),
        "hello.wasm",
        fixtures::wasm_bytes("hello"),
        ActorLimits::default(),
    )
    .await
    .unwrap();
    let again = host
        .start_actor_from_bytes(
            id("a"),
            "hello.wasm",
            fixtures::wasm_bytes("hello"),
            ActorLimits::default(),
        )
        .await;
    assert!(matches!(
        again,
        Err(HostError::AlreadyRunning { kind: "actor", .. })
    ));
}

#[tokio::test]
async fn a_memory_limit_above_the_host_cap_is_refused() {
    let host = Host::new(HostConfig {
        trust: hosts::unsigned_allowed(),
        identity: Default::default(),
        labels: Default::default(),
        runtime: RuntimeConfig {
            cache_dir: None,
            pool_instances: 10,
            max_memory: 32 << 20,
            ..RuntimeConfig::default()
        },
    })
    .unwrap();
    let limits = ActorLimits {
        memory_limit: 64 << 20,
        ..ActorLimits::default()
    };
    let e = host
        .start_actor_from_bytes(
            id("big"),
            "hello.wasm",
            fixtures::wasm_bytes("hello"),
            limits,
        )
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "actor \"big\": memory limit of 64 MiB exceeds this host's cap of 32 MiB"
    );
}

#[tokio::test]
async fn a_second_start_takes_the_compile_cache_and_a_damaged_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm_bytes("hello");
    let start = |host: Host, bytes: Vec<u8>| async move {
        host.start_actor_from_bytes(id("hello"), "hello.wasm", bytes, ActorLimits::default())
            .await
            .unwrap()
            .compile_outcome()
    };
    assert_eq!(
        start(host(Some(cache.path())), hello.clone()).await,
        CompileOutcome::Compiled
    );
    assert_eq!(
        start(host(Some(cache.path())), hello.clone()).await,
        CompileOutcome::CacheHit
    );

    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    std::fs::write(&entries[0], b"damaged").unwrap();
    assert_eq!(
        start(host(Some(cache.path())), hello.clone()).await,
        CompileOutcome::Compiled
    );
    assert_eq!(
        start(host(Some(cache.path())), hello).await,
        CompileOutcome::CacheHit
    );
}

#[tokio::test]
async fn on_demand_allocation_serves_when_pooling_is_off() {
    let host = Host::new(HostConfig {
        trust: hosts::unsigned_allowed(),
        identity: Default::default(),
        labels: Default::default(),
        runtime: RuntimeConfig {
            cache_dir: None,
            pool_instances: 0,
            ..RuntimeConfig::default()
        },
    })
    .unwrap();
    assert_eq!(
        host.runtime().allocator(),
        lattice_host::runtime::AllocatorKind::OnDemand
    );
    let actor = host
        .start_actor_from_bytes(
            id("hello"),
            "hello.wasm",
            fixtures::wasm_bytes("hello"),
            ActorLimits::default(),
        )
        .await
        .unwrap();
    let response = actor
        .handle_http(hosts::get("http://localhost/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_link_to_an_interface_with_resources_is_refused() {
    let host = host(None);
    let component = wat::parse_str(
        r#"(component
            (type $r (resource (rep i32)))
            (core module $m (func (export "f") (param i32) (result i32) local.get 0))
            (core instance $i (instantiate $m))
            (func $f (param "x" (borrow $r)) (result u32) (canon lift (core func $i "f")))
            (instance $inst (export "r" (type $r)) (export "f" (func $f)))
            (export "example:res/thing" (instance $inst))
        )"#,
    )
    .unwrap();
    host.start_actor_from_bytes(id("res"), "res.wasm", component, ActorLimits::default())
        .await
        .unwrap();
    host.start_actor_from_bytes(
        id("caller"),
        "hello.wasm",
        fixtures::wasm_bytes("hello"),
        ActorLimits::default(),
    )
    .await
    .unwrap();
    let link = Link::new(
        id("caller"),
        id("res"),
        lattice_interfaces::Contract::parse("example:res/thing").unwrap(),
    );
    let e = host.put_link(link).unwrap_err().to_string();
    assert!(
        e.contains(
            "example:res/thing of actor \"res\" has resource types, which cannot cross hosts"
        ),
        "{e}"
    );
    assert!(host.links().is_empty());
}
