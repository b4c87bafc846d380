//! wadm manifests in the forms wasmCloud's examples write them, mapped
//! onto Lattice apps; each refusal names its field in one line; garbage
//! and cut-off documents are refused, never a panic.

// Assertions on values the tests build: a failure fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use lattice_interfaces::{ComponentId, Manifest};

use super::document::Application;
use super::from_lattice::from_lattice;
use super::to_lattice::{to_lattice, Converted};

/// An HTTP counter as wasmCloud's keyvalue example deploys it.
const COUNTER: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: kv-counter
  annotations:
    version: v0.0.1
    description: 'HTTP counter'
spec:
  components:
    - name: counter
      type: component
      properties:
        image: ghcr.io/example/counter:0.1.0
      traits:
        - type: spreadscaler
          properties:
            instances: 4
        - type: link
          properties:
            target:
              name: kvredis
              config:
                - name: redis-url
                  properties:
                    url: redis://127.0.0.1:6379
            namespace: wasi
            package: keyvalue
            interfaces: [atomics, store]
    - name: kvredis
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.27.0
      traits:
        - type: link
          properties:
            target:
              name: counter
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: default-http
                  properties:
                    address: 0.0.0.0:8000
"#;

fn converted(text: &str) -> Result<Converted, String> {
    let application: Application =
        serde_yaml_ng::from_str(text).map_err(|e| format!("yaml: {e}"))?;
    to_lattice(&application)
}

fn manifest(text: &str) -> Manifest {
    let converted = converted(text).expect("the wadm manifest maps");
    Manifest::from_spec(converted.spec, "test").expect("the mapped app passes the manifest checks")
}

fn refusal(text: &str) -> String {
    match converted(text)
        .and_then(|c| Manifest::from_spec(c.spec, "test").map_err(|e| e.to_string()))
    {
        Ok(m) => panic!("unexpectedly accepted: {m:?}"),
        Err(e) => {
            assert!(!e.contains('\n'), "not one line: {e}");
            e
        }
    }
}

fn id(text: &str) -> ComponentId {
    ComponentId::new(text).expect("a valid component id")
}

#[test]
fn wasmclouds_counter_becomes_actors_built_in_providers_and_links() {
    let c = converted(COUNTER).expect("the counter maps");
    let m = Manifest::from_spec(c.spec, "test").expect("the counter passes the checks");
    assert_eq!(m.app.as_ref().map(|a| a.name.as_str()), Some("kv-counter"));
    let counter = &m.actors[0];
    assert_eq!(counter.id, id("counter"));
    assert_eq!(counter.reference, "ghcr.io/example/counter:0.1.0");
    assert_eq!(counter.max_instances, Some(4));
    assert_eq!(counter.placement.as_ref().map(|p| p.replicas()), Some(1));
    let kinds: Vec<(&str, &str)> = m
        .providers
        .iter()
        .map(|p| (p.id.as_str(), p.reference.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("kvredis", "keyvalue"), ("httpserver", "http-server")]
    );

    let kv = &m.links[0];
    assert_eq!(
        (kv.source.as_str(), kv.target.as_str()),
        ("counter", "kvredis")
    );
    assert_eq!(
        (kv.namespace.as_str(), kv.package.as_str()),
        ("wasi", "keyvalue")
    );
    assert_eq!(kv.interfaces, ["atomics", "store"]);
    assert_eq!(kv.target_config["url"], "redis://127.0.0.1:6379");
    // Keys as wasmCloud's Redis provider writes them.
    assert_eq!(kv.target_config["key_prefix"], "none");
    let http = &m.links[1];
    assert_eq!(
        (http.source.as_str(), http.target.as_str()),
        ("httpserver", "counter")
    );
    assert_eq!(http.source_config["address"], "0.0.0.0:8000");

    let notices = c.notices.join("\n");
    assert!(
        notices.contains("keyvalue-redis:0.30.0 runs as Lattice's built-in keyvalue provider"),
        "{notices}"
    );
    assert!(notices.contains("v0.0.1"), "{notices}");
}

#[test]
fn the_old_link_form_and_wasmclouds_defaults_are_read() {
    let m = manifest(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: files, annotations: {} }
spec:
  components:
    - name: blobby
      type: actor
      properties: { image: "file://./build/blobby.wasm", id: blobby-1 }
      traits:
        - type: link
          properties:
            target: blobstore-fs
            namespace: wasi
            package: blobstore
            interfaces: [blobstore]
            target_config:
              - name: root-directory
                properties: { root: /srv/blobs, max_objects: 100 }
    - name: blobstore-fs
      type: capability
      properties: { image: "ghcr.io/wasmcloud/blobstore-fs:0.11.1" }
    - name: http
      type: capability
      properties: { image: "wasmcloud+builtin://http-server" }
      traits:
        - type: daemonscaler
          properties: { replicas: 1, spread: [{ name: edge, requirements: { role: edge } }] }
        - type: link
          properties:
            target: blobby
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: { name: http }
"#,
    );
    assert_eq!(m.actors[0].id, id("blobby-1"));
    assert_eq!(m.actors[0].reference, "./build/blobby.wasm");
    assert!(m.actors[0].placement.is_none());
    let files = &m.links[0];
    assert_eq!(files.target_config["root"], "/srv/blobs");
    // A number where a string is meant is read as its text.
    assert_eq!(files.target_config["max_objects"], "100");
    let http = &m.providers[1];
    let placement = http
        .placement
        .as_ref()
        .expect("the daemonscaler gives a placement");
    assert!(placement.daemon);
    assert_eq!(placement.constraints["role"], "edge");
    // wasmCloud's http-server listens on 0.0.0.0:8000 unless told.
    assert_eq!(m.links[1].source_config["address"], "0.0.0.0:8000");
}

#[test]
fn spreads_over_one_label_become_a_spread_and_shared_requirements_constraints() {
    let m = manifest(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: shop, annotations: {} }
spec:
  components:
    - name: hello
      type: component
      properties: { image: "ghcr.io/example/hello:1" }
      traits:
        - type: spreadscaler
          properties:
            instances: 10
            spread:
              - { name: east, requirements: { zone: east, tier: web }, weight: 40 }
              - { name: west, requirements: { zone: west, tier: web }, weight: 60 }
    - name: http
      type: capability
      properties: { image: "ghcr.io/wasmcloud/http-server:0.27.0" }
      traits:
        - type: spreadscaler
          properties:
            instances: 3
            spread: [{ name: a, requirements: { zone: east } }, { name: b, requirements: { zone: west } }]
"#,
    );
    let hello = m.actors[0]
        .placement
        .as_ref()
        .expect("the spreadscaler gives a placement");
    assert_eq!(hello.replicas, Some(2.into()));
    assert_eq!(hello.constraints["tier"], "web");
    let spread = hello
        .spread
        .as_ref()
        .expect("two spreads over zone make a spread");
    assert_eq!(spread.label, "zone");
    assert_eq!((spread.weights["east"], spread.weights["west"]), (40, 60));
    assert_eq!(m.actors[0].max_instances, Some(10));
    let http = m.providers[0]
        .placement
        .as_ref()
        .expect("the provider's spreadscaler gives a placement");
    assert_eq!(http.replicas, Some(3.into()));
    assert_eq!(http.spread.as_ref().map(|s| s.weights["west"]), Some(100));
}

#[test]
fn config_and_env_secrets_become_named_config_and_secret_references() {
    let m = manifest(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: auth, annotations: {} }
spec:
  policies:
    - { name: from-env, type: policy.secret.wasmcloud.dev/v1alpha1, properties: { backend: env } }
  components:
    - name: counter
      type: component
      properties:
        image: ghcr.io/example/counter:1
        config:
          - { name: greeting, properties: { greeting: hi, port: 8080 } }
          - { name: shared-settings }
        secrets:
          - { name: api_password, properties: { policy: from-env, key: LATTICE_SECRET_API_PASSWORD } }
"#,
    );
    let counter = &m.actors[0];
    assert_eq!(counter.config, [id("greeting"), id("shared-settings")]);
    assert_eq!(m.config[&id("greeting")]["port"], "8080");
    assert!(!m.config.contains_key(&id("shared-settings")));
    assert_eq!(
        counter.secrets["api_password"],
        "env:LATTICE_SECRET_API_PASSWORD"
    );
}

/// `COUNTER` with `from` replaced by `to`.
fn counter_with(from: &str, to: &str) -> String {
    assert!(COUNTER.contains(from), "{from}");
    COUNTER.replacen(from, to, 1)
}

#[test]
fn what_lattice_cannot_honour_is_refused_in_one_line_naming_the_field() {
    let cases: &[(String, &str)] = &[
        (counter_with("image: ghcr.io/example", "imagee: ghcr.io/example"), "unknown field `imagee`"),
        (counter_with("type: spreadscaler", "type: autoscaler"), "traits[0] (autoscaler): trait type \"autoscaler\" is not supported"),
        (counter_with("instances: 4", "instances: 0"), "traits[0] (spreadscaler): instances 0 runs nothing"),
        (counter_with("instances: 4", "instances: 4\n            colour: red"), "unknown field `colour`"),
        (counter_with("name: kvredis\n              config", "name: kvmissing\n              config"), "target \"kvmissing\" is not a component of this manifest"),
        (counter_with("  annotations:", "  labels: { team: a }\n  annotations:"), "metadata.labels"),
        (counter_with("apiVersion: core.oam.dev/v1beta1", "apiVersion: core.oam.dev/v1"), "apiVersion \"core.oam.dev/v1\""),
        (counter_with("kind: Application", "kind: Deployment"), "kind \"Deployment\""),
        (counter_with("                - name: redis-url\n                  properties:\n                    url: redis://127.0.0.1:6379\n", "                - name: redis-url\n"), "target.config[0] (\"redis-url\") has no properties"),
        (counter_with("        image: ghcr.io/example/counter:0.1.0", "        application: { name: shared, component: c }"), "properties.application"),
        (counter_with("    - name: kvredis\n      type: capability\n      properties:\n        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0\n", "    - name: kvredis\n      type: capability\n      properties:\n        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0\n      traits:\n        - type: link\n          properties: { target: httpserver, namespace: wasi, package: http, interfaces: [incoming-handler] }\n"), "a provider cannot link to a provider"),
        (counter_with("spec:\n", "spec:\n  policies:\n    - { name: nats-kv, type: policy.secret.wasmcloud.dev/v1alpha1, properties: { backend: nats-kv } }\n"), "backend Some(\"nats-kv\") is not one Lattice reads"),
        (counter_with("            instances: 4", "            instances: 4\n            spread:\n              - { name: a, requirements: { zone: east } }\n              - { name: b, requirements: { region: west } }"), "Lattice spreads over one label"),
        (counter_with("  name: kv-counter", "  name: kv.counter"), "app name \"kv.counter\""),
        (counter_with("type: component", "type: service"), "unknown variant `service`"),
        (counter_with("            namespace: wasi\n            package: keyvalue", "            package: keyvalue"), "missing field `namespace`"),
        (counter_with("keyvalue-redis:0.30.0", "keyvalue-nats:0.4.1"), "keyvalue-nats needs a bucket"),
        (counter_with("url: redis://127.0.0.1:6379", "bucket: counts\n                    js_domain: hub").replace("keyvalue-redis:0.30.0", "keyvalue-nats:0.4.1"), "js_domain is not read"),
        (counter_with("      traits:\n        - type: spreadscaler", "        config:\n          - { name: greeting, properties: { text: hi } }\n      traits:\n        - type: spreadscaler").replacen("    - name: kvredis\n", "    - name: other\n      type: component\n      properties:\n        image: ghcr.io/example/other:1\n        config:\n          - { name: greeting, properties: { text: hello } }\n    - name: kvredis\n", 1), "config \"greeting\" is given other properties"),
    ];
    for (text, expected) in cases {
        let error = refusal(text);
        assert!(
            error.contains(expected),
            "expected {expected:?} in: {error}"
        );
    }
}

#[test]
fn garbage_and_cut_off_documents_are_refused_without_a_panic() {
    for garbage in [
        "",
        "\0\0\0",
        "apiVersion: [",
        "- - - -",
        "{\"apiVersion\": 1}",
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\n",
        &"[".repeat(10_000),
    ] {
        assert!(converted(garbage).is_err(), "{garbage:?}");
    }
    // Every prefix of a valid manifest: parsed or refused, never a panic.
    for end in (0..COUNTER.len()).filter(|end| COUNTER.is_char_boundary(*end)) {
        let _ = converted(&COUNTER[..end]).map(|c| Manifest::from_spec(c.spec, "test"));
    }
}

#[test]
fn an_app_written_back_as_wadm_reads_as_the_same_app() {
    let first = manifest(COUNTER);
    let written = from_lattice("kv-counter", &first).expect("the app has a wadm form");
    let text = serde_yaml_ng::to_string(&written).expect("the wadm form serializes");
    let again = manifest(&text);
    assert_eq!(again, first, "as wadm:\n{text}");
    assert!(text.contains("wasmcloud+builtin://keyvalue"), "{text}");
}

#[test]
fn the_example_wadm_manifest_maps() {
    let text = include_str!("../../../examples/wadm/counter.wadm.yaml");
    let m = manifest(text);
    assert_eq!(m.actors.len(), 2);
    assert_eq!(m.links.len(), 3);
}

#[test]
fn a_providers_own_config_is_each_links_default_and_no_default_overrides_it() {
    let text = counter_with(
        "        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0\n",
        "        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0\n        config:\n          - { name: redis-default, properties: { URL: \"redis://10.0.0.5:6379\" } }\n",
    )
    .replace(
        "                - name: redis-url\n                  properties:\n                    url: redis://127.0.0.1:6379\n",
        "                - name: unrelated\n                  properties:\n                    note: x\n",
    );
    let m = manifest(&text);
    let kv = &m.links[0];
    assert_eq!(
        kv.target_config.get("URL").map(String::as_str),
        Some("redis://10.0.0.5:6379")
    );
    assert!(
        !kv.target_config.contains_key("url"),
        "{:?}",
        kv.target_config
    );

    // An address given on the other end is not overridden by the default.
    let text = COUNTER.replace(
        "            source:\n              config:\n                - name: default-http\n                  properties:\n                    address: 0.0.0.0:8000\n",
        "            target:\n              name: counter\n              config:\n                - { name: on-target, properties: { address: 127.0.0.1:9000 } }\n",
    ).replacen("            target:\n              name: counter\n            namespace: wasi\n            package: http", "            namespace: wasi\n            package: http", 1);
    let m = manifest(&text);
    let http = &m.links[1];
    assert_eq!(http.config("address"), Some("127.0.0.1:9000"));
}

#[test]
fn a_file_image_is_read_as_a_path_whatever_its_name() {
    let text = COUNTER.replace(
        "image: ghcr.io/example/counter:0.1.0",
        "image: file://my.dir/counter.wasm",
    );
    assert_eq!(manifest(&text).actors[0].reference, "./my.dir/counter.wasm");
}
