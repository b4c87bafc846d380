//! `docs/protocol.md` is exact: a client written from it alone works.
//!
//! Clients in other languages are written from that page, not from the
//! Rust types. Every control operation has a documented request and
//! response example, marked `<!-- example: <op> request|response -->`;
//! each request must decode as the operation's request (unknown fields are
//! refused, so a field the code lacks fails), and each response must decode
//! and encode back to exactly the JSON shown (so a field the doc lacks, or
//! one the code never sends, fails). The signed-invocation layout is
//! checked byte for byte against what the RPC layer sends.

use lattice_interfaces::protocol::control::*;
use lattice_interfaces::protocol::rpc::{Invocation, SignedInvocation};
use serde_json::Value;

/// Every `(op, kind, json)` example in the document.
fn examples() -> Vec<(String, String, String)> {
    let doc =
        std::fs::read_to_string(lattice_tests::fixtures::repo_root().join("docs/protocol.md"))
            .unwrap();
    let mut found = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .strip_prefix("<!-- example: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let (op, kind) = marker.split_once(' ').unwrap();
        assert_eq!(lines.next(), Some("```json"), "{marker}: no json block");
        let json: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        found.push((op.to_string(), kind.to_string(), json.join("\n")));
    }
    found
}

fn check<O: Operation>(kind: &str, json: &str) {
    match kind {
        "request" => {
            if let Err(e) = decode_request::<O>(json.as_bytes()) {
                panic!("the documented {} request does not decode: {e}", O::NAME);
            }
        }
        "response" => {
            let decoded: O::Response = serde_json::from_str(json).unwrap_or_else(|e| {
                panic!("the documented {} response does not decode: {e}", O::NAME)
            });
            let documented: Value = serde_json::from_str(json).unwrap();
            assert_eq!(
                serde_json::to_value(&decoded).unwrap(),
                documented,
                "the {} response the code sends differs from the documented one",
                O::NAME
            );
        }
        other => panic!("unknown example kind {other}"),
    }
}

#[test]
fn every_control_operation_is_documented_with_examples_the_code_agrees_with() {
    let examples = examples();
    for name in op::NAMES {
        for kind in ["request", "response"] {
            assert!(
                examples.iter().any(|(o, k, _)| o == name && k == kind),
                "docs/protocol.md has no {name} {kind} example"
            );
        }
    }
    // Every example is of an operation of the table, checked against its
    // types.
    struct CheckExamples<'a> {
        examples: &'a [(String, String, String)],
        checked: usize,
    }
    impl op::Visitor for CheckExamples<'_> {
        fn visit<O: Operation>(&mut self) {
            for (_, kind, json) in self.examples.iter().filter(|(name, _, _)| name == O::NAME) {
                check::<O>(kind, json);
                self.checked += 1;
            }
        }
    }
    let mut checker = CheckExamples {
        examples: &examples,
        checked: 0,
    };
    op::visit_all(&mut checker);
    for (name, _, _) in &examples {
        assert!(
            op::NAMES.contains(&name.as_str()),
            "docs/protocol.md documents an unknown operation {name}"
        );
    }
    assert_eq!(checker.checked, examples.len());
}

#[test]
fn every_event_kind_is_documented() {
    let doc =
        std::fs::read_to_string(lattice_tests::fixtures::repo_root().join("docs/protocol.md"))
            .unwrap();
    let events = doc.split("## Events").nth(1).unwrap();
    for kind in lattice_interfaces::protocol::events::kinds::ALL {
        assert!(
            events.contains(&format!("`{kind}`")),
            "docs/protocol.md's event table does not document {kind}"
        );
    }
}

#[test]
fn requests_are_json_objects_and_errors_repeat_input_in_part_only() {
    for body in [&b"[1, 2, 3]"[..], b"null", b"\"text\"", b"42"] {
        let e = decode_request::<op::GetLinks>(body).unwrap_err();
        assert!(e.reason.contains("JSON object"), "{e}");
    }
    assert!(decode_request::<op::GetLinks>(b"  ").is_ok());
    // Ping and inventory refuse unknown fields like every request.
    assert!(decode_request::<op::Ping>(br#"{"x": 1}"#).is_err());
    assert!(decode_request::<op::Inventory>(br#"{"x": 1}"#).is_err());
    // Stopping an actor needs no reference.
    let stop = decode_request::<op::ScaleActor>(br#"{"actor_id": "a", "max_instances": 0}"#);
    assert_eq!(stop.unwrap().actor_ref, "");
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(400_000));
    let e = decode_request::<op::GetConfig>(huge.as_bytes()).unwrap_err();
    assert!(e.to_string().len() < 1_000, "{} bytes", e.to_string().len());
}

/// An invocation of cluster key `key`, as a host sends one.
fn invocation_of(key: &nkeys::KeyPair) -> Invocation {
    Invocation {
        id: "NHOST-run-1".into(),
        source: "http".into(),
        target: "hello".into(),
        interface: "wasi:http/incoming-handler".into(),
        function: "handle".into(),
        link_name: "default".into(),
        deadline_ms: 1_764_288_000_000,
        traceparent: None,
        origin_host: "NHOST".into(),
        cluster_key: key.public_key(),
        lattice: "default".into(),
        payload: vec![1, 2, 3],
        payload_ref: None,
        grant: None,
    }
}

/// An envelope's field names, in order, and its two binary fields' bytes.
fn two_binary_fields(message: &[u8]) -> (Vec<String>, Vec<u8>, Vec<u8>) {
    let outer: rmpv::Value = rmpv::decode::read_value(&mut &message[..]).unwrap();
    let fields = outer.as_map().unwrap();
    assert_eq!(fields.len(), 2, "{outer}");
    (
        field_names(&outer).into_iter().map(String::from).collect(),
        fields[0].1.as_slice().unwrap().to_vec(),
        fields[1].1.as_slice().unwrap().to_vec(),
    )
}

/// The field names of MessagePack map `value`, in order.
fn field_names(value: &rmpv::Value) -> Vec<&str> {
    value
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap())
        .collect()
}

#[test]
fn a_signed_invocation_is_a_map_of_the_invocation_bytes_and_their_signature() {
    let key = nkeys::KeyPair::new_cluster();
    let invocation = invocation_of(&key);
    let message = invocation.sign(&key).unwrap();
    // As the document says: a two-field map, `invocation` and `signature`,
    // both binary; the signature is Ed25519 over the invocation's bytes.
    let (names, bytes, signature) = two_binary_fields(&message);
    assert_eq!(names, ["invocation", "signature"]);
    assert_eq!(signature.len(), 64);
    key.verify(&bytes, &signature).unwrap();
    // The invocation is a map with the documented field names.
    let inner: rmpv::Value = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
    assert_eq!(
        field_names(&inner),
        [
            "id",
            "source",
            "target",
            "interface",
            "function",
            "link_name",
            "deadline_ms",
            "traceparent",
            "origin_host",
            "cluster_key",
            "lattice",
            "payload",
            "payload_ref",
            "grant"
        ]
    );
    // Another language may order the fields its own way: the receiver
    // verifies the bytes as received.
    let reordered = rmpv::Value::Map(inner.as_map().unwrap().iter().rev().cloned().collect());
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &reordered).unwrap();
    let signed = SignedInvocation {
        signature: key.sign(&bytes).unwrap(),
        invocation: bytes,
        mac: Vec::new(),
    };
    assert_eq!(signed.invocation().unwrap(), invocation);
}

#[test]
fn a_sealed_invocation_carries_the_mac_under_the_key_the_document_derives() {
    use ring::{hkdf, hmac};
    let key = nkeys::KeyPair::new_cluster();
    let invocation = invocation_of(&key);
    let message = invocation
        .seal(&lattice_interfaces::protocol::rpc::MacKey::of(&key).unwrap())
        .unwrap();
    // A two-field map, `invocation` and `mac`, both binary.
    let (names, bytes, mac) = two_binary_fields(&message);
    assert_eq!(names, ["invocation", "mac"]);
    assert_eq!(mac.len(), 32);
    // The MAC key as the document derives it: HKDF-SHA256, salt `lattice`,
    // input the seed's `SC…` text, info `invocation mac v1`, 32 bytes.
    let mut mac_key = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, b"lattice")
        .extract(key.seed().unwrap().as_bytes())
        .expand(&[b"invocation mac v1"], hkdf::HKDF_SHA256)
        .unwrap()
        .fill(&mut mac_key)
        .unwrap();
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), &bytes, &mac)
        .expect("the MAC is HMAC-SHA256 of the invocation bytes under that key");
    assert_eq!(
        SignedInvocation::decode(&message)
            .unwrap()
            .invocation()
            .unwrap(),
        invocation
    );
}
