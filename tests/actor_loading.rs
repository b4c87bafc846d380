//! What a host refuses to load, and what it loads without compiling twice.
//!
//! Users hand hosts files by path; a wrong file must be refused with one line
//! naming the actor, the file and the reason, never a panic, and a refused
//! load leaves the host serving what it served. A second start of the same
//! component must come from the compile cache (wasmCloud users complain that
//! every start recompiles). The tests read the error text and the
//! `CompileOutcome` the host reports.

use std::path::Path;

use lattice_host::{ActorLimits, CompileOutcome, Host, HostError, RuntimeConfig};
use lattice_tests::hosts::{self, id, start_fixture, start_fixture_with};

fn host(cache: Option<&Path>) -> Host {
    hosts::host(hosts::unsigned_allowed(), cache)
}

/// A development host with no compile cache and `runtime`'s allocation.
fn host_with(runtime: RuntimeConfig) -> Host {
    hosts::host_with(hosts::unsigned_allowed(), runtime)
}

/// Why `host` refuses to load `wasm` (named `origin`) as actor `a`.
async fn load_error(host: &Host, origin: &str, wasm: Vec<u8>) -> String {
    match hosts::start_bytes(host, "a", origin, wasm).await {
        Ok(_) => panic!("{origin} was loaded"),
        Err(error) => error.to_string(),
    }
}

/// Fails the test unless `error` starts with `prefix` and holds `part`.
fn assert_refusal(error: &str, prefix: &str, part: &str) {
    assert!(error.starts_with(prefix), "{error}");
    assert!(error.contains(part), "{error}");
}

/// The component `wat` writes.
fn component(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap()
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
    let e = load_error(
        &host,
        "core.wasm",
        component("(module (func (export \"run\")))"),
    )
    .await;
    assert_refusal(
        &e,
        "actor \"a\": core.wasm is a core WebAssembly module, not a component",
        "wasm32-wasip2",
    );
}

#[tokio::test]
async fn truncated_and_garbage_components_are_refused_without_panic() {
    let host = host(None);
    let hello = lattice_tests::fixtures::wasm_bytes("hello");
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
    let needs = component(
        r#"(component
            (import "wasi:missing/thing@0.1.0" (instance (export "f" (func))))
        )"#,
    );
    let e = load_error(&host, "needs.wasm", needs).await;
    assert_refusal(
        &e,
        "actor \"a\": needs.wasm cannot be linked: ",
        "wasi:missing/thing",
    );
}

#[tokio::test]
async fn a_link_to_an_actor_without_the_export_is_refused() {
    let host = host(None);
    hosts::start_bytes(&host, "quiet", "empty.wasm", component("(component)"))
        .await
        .unwrap();
    hosts::start_provider(&host, "http", "http-server");
    let e = host
        .put_link(hosts::http_link("http", "quiet", "127.0.0.1:0"))
        .unwrap_err()
        .to_string();
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
    let spec = lattice_interfaces::ActorSpec::new(id("ghost"), "/nonexistent/ghost.wasm");
    let e = host.start_actor(&spec).await.unwrap_err().to_string();
    assert!(
        e.starts_with("actor \"ghost\": cannot read /nonexistent/ghost.wasm: "),
        "{e}"
    );

    start_fixture(&host, "a", "hello").await;
    let again = start_fixture_with(&host, "a", "hello", ActorLimits::default()).await;
    assert!(matches!(
        again,
        Err(HostError::AlreadyRunning { kind: "actor", .. })
    ));
}

#[tokio::test]
async fn a_memory_limit_above_the_host_cap_is_refused() {
    let host = host_with(RuntimeConfig {
        cache_dir: None,
        pool_instances: 10,
        max_memory: 32 << 20,
        ..RuntimeConfig::default()
    });
    let limits = ActorLimits {
        memory_limit: 64 << 20,
        ..ActorLimits::default()
    };
    let e = start_fixture_with(&host, "big", "hello", limits)
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
    let start = || async {
        start_fixture(&host(Some(cache.path())), "hello", "hello")
            .await
            .compile_outcome()
    };
    assert_eq!(start().await, CompileOutcome::Compiled);
    assert_eq!(start().await, CompileOutcome::CacheHit);

    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    std::fs::write(&entries[0], b"damaged").unwrap();
    assert_eq!(start().await, CompileOutcome::Compiled);
    assert_eq!(start().await, CompileOutcome::CacheHit);
}

#[tokio::test]
async fn on_demand_allocation_serves_when_pooling_is_off() {
    let host = host_with(RuntimeConfig {
        cache_dir: None,
        pool_instances: 0,
        ..RuntimeConfig::default()
    });
    assert_eq!(
        host.runtime().allocator(),
        lattice_host::AllocatorKind::OnDemand
    );
    let actor = start_fixture(&host, "hello", "hello").await;
    let response = actor
        .handle_http(hosts::get("http://localhost/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_link_to_an_interface_with_resources_is_refused() {
    let host = host(None);
    let resources = component(
        r#"(component
            (type $r (resource (rep i32)))
            (core module $m (func (export "f") (param i32) (result i32) local.get 0))
            (core instance $i (instantiate $m))
            (func $f (param "x" (borrow $r)) (result u32) (canon lift (core func $i "f")))
            (instance $inst (export "r" (type $r)) (export "f" (func $f)))
            (export "example:res/thing" (instance $inst))
        )"#,
    );
    hosts::start_bytes(&host, "res", "res.wasm", resources)
        .await
        .unwrap();
    start_fixture(&host, "caller", "hello").await;
    let link = hosts::link("caller", "res", "example:res/thing");
    let e = host.put_link(link).unwrap_err().to_string();
    assert!(
        e.contains(
            "example:res/thing of actor \"res\" has resource types, which cannot cross hosts"
        ),
        "{e}"
    );
    assert!(host.links().is_empty());
}

#[tokio::test]
async fn actors_of_one_component_share_its_compiled_code_on_a_host() {
    let host = host(None);
    let one = start_fixture(&host, "one", "hello").await;
    let two = start_fixture(&host, "two", "hello").await;
    assert_eq!(one.compile_outcome(), CompileOutcome::CompiledUncached);
    // The second is neither read from disk nor linked again.
    assert_eq!(two.compile_outcome(), CompileOutcome::Shared);
    for actor in [&one, &two] {
        assert_eq!(hosts::status_of_get(actor).await, 200);
    }
    // Shared code, separate actors: each counts its own calls.
    assert_eq!((one.stats().calls, two.stats().calls), (1, 1));
}

#[tokio::test]
async fn an_actor_that_scales_from_zero_is_checked_at_start_and_linked_at_its_first_call() {
    let cache = tempfile::tempdir().unwrap();
    let host = host(Some(cache.path()));
    let from_zero = ActorLimits {
        min_instances: 0,
        ..ActorLimits::default()
    };
    let actor = start_fixture_with(&host, "lazy", "hello", from_zero)
        .await
        .unwrap();
    // Compiled (and cached) at start, but nothing linked or held yet.
    assert_eq!(actor.compile_outcome(), CompileOutcome::Compiled);
    assert!(!actor.is_linked());
    assert!(actor.serves("wasi:http/incoming-handler"));
    // A second actor of the component starts linked: the first held no code
    // for it to share, so it comes from the cache.
    let eager = start_fixture(&host, "eager", "hello").await;
    assert_eq!(eager.compile_outcome(), CompileOutcome::CacheHit);
    assert!(eager.is_linked());

    // Two first calls at once: both served, linked once.
    let (one, two) = tokio::join!(hosts::status_of_get(&actor), hosts::status_of_get(&actor));
    assert_eq!((one.as_u16(), two.as_u16()), (200, 200));
    assert!(actor.is_linked());
    assert_eq!(actor.stats().calls, 2);

    // What cannot run is still refused at start, not at the first call.
    let refused = host
        .start_actor_from_bytes(
            id("broken"),
            "broken.wasm",
            b"\0asm\x0d\0\x01\0garbage".to_vec(),
            from_zero,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("broken"), "{refused}");
}
