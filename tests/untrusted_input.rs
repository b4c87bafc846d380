//! Untrusted input never panics and never passes for something it is not.
//!
//! The decoders and checks a host or provider process runs on bytes from
//! the network or from operators (invocation envelopes and their
//! verification, control requests, link entries from the state bucket,
//! claims, components, manifests, HTTP payloads, wire values, the subjects
//! an actor names to the messaging provider, requests to the admin
//! endpoint) are fed arbitrary input with proptest, and signed invocations
//! are changed one byte at a time: nothing but what was signed ever passes. 256 cases per property here; the long run is
//! `PROPTEST_CASES=50000 cargo test -p lattice-tests --test integration
//! untrusted_input` (its result is in BENCHMARKS.md).

use lattice_interfaces::claims::{read_component, Claims, ComponentMetadata, KeyKind};
use lattice_interfaces::protocol::control::{decode_request, op};
use lattice_interfaces::protocol::link_entry::{self, LinkSigners};
use lattice_interfaces::protocol::rpc::{unix_ms, Invocation, MacKey, SignedInvocation};
use lattice_interfaces::Manifest;
use lattice_rpc::Verifier;
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

/// Text that looks a little like the thing (TOML, JSON, JWT), so parsers
/// get past their first byte.
fn text(alphabet: &'static str) -> impl Strategy<Value = String> {
    proptest::string::string_regex(alphabet).expect("a valid regex")
}

/// `message` with the byte at `position` flipped by `flip` is refused by
/// `verifier`, or passes as exactly `original`.
fn passes_only_as(
    original: &Invocation,
    mut message: Vec<u8>,
    position: prop::sample::Index,
    flip: u8,
    verifier: &Verifier,
) -> Result<(), TestCaseError> {
    let at = position.index(message.len());
    message[at] ^= flip;
    if let Ok(envelope) = SignedInvocation::decode(&message) {
        if let Ok(verified) = verifier.verify("hello", &envelope) {
            prop_assert_eq!(&verified, original);
        }
    }
    Ok(())
}

fn invocation(key: &nkeys::KeyPair, payload: Vec<u8>) -> Invocation {
    Invocation {
        id: "i-1".into(),
        source: "http".into(),
        target: "hello".into(),
        interface: "wasi:http/incoming-handler".into(),
        function: "handle".into(),
        link_name: "default".into(),
        deadline_ms: unix_ms() + 60_000,
        traceparent: None,
        origin_host: "NHOST".into(),
        cluster_key: key.public_key(),
        lattice: "default".into(),
        payload,
        payload_ref: None,
        grant: None,
    }
}

proptest! {
    #[test]
    fn arbitrary_envelopes_are_refused_without_a_panic(input in bytes()) {
        let key = nkeys::KeyPair::new_cluster();
        let verifier = Verifier::new(&[key.public_key()]);
        if let Ok(envelope) = SignedInvocation::decode(&input) {
            prop_assert!(verifier.verify("hello", &envelope).is_err());
        }
    }

    /// A change to the signed bytes or the signature is refused; a change
    /// only to the envelope's framing (MessagePack `bin` read as `str`, say)
    /// may pass, but then what passes is exactly what was signed.
    #[test]
    fn a_signed_invocation_changed_in_any_byte_passes_only_as_signed(
        payload in proptest::collection::vec(any::<u8>(), 0..256),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let key = nkeys::KeyPair::new_cluster();
        let verifier = Verifier::new(&[key.public_key()]);
        let original = invocation(&key, payload);
        let message = original.sign(&key).unwrap();
        passes_only_as(&original, message, position, flip, &verifier)?;
    }

    /// The same for an invocation sealed with the MAC of a seed the
    /// receiver holds; and arbitrary envelopes it receives are refused.
    #[test]
    fn a_sealed_invocation_changed_in_any_byte_passes_only_as_sealed(
        payload in proptest::collection::vec(any::<u8>(), 0..256),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        garbage in bytes(),
    ) {
        let key = nkeys::KeyPair::new_cluster();
        let mac = MacKey::of(&key).unwrap();
        let verifier = Verifier::new(&[key.public_key()]).holding(mac.clone());
        let original = invocation(&key, payload);
        let message = original.seal(&mac).unwrap();
        passes_only_as(&original, message, position, flip, &verifier)?;
        if let Ok(envelope) = SignedInvocation::decode(&garbage) {
            prop_assert!(verifier.verify("hello", &envelope).is_err());
        }
    }

    #[test]
    fn arbitrary_control_requests_decode_or_are_refused(input in bytes(), json in text(r#"[{}\[\]":,a-z_0-9 .\-/]{0,300}"#)) {
        for payload in [&input[..], json.as_bytes()] {
            let _ = decode_request::<op::ScaleActor>(payload);
            let _ = decode_request::<op::StartProvider>(payload);
            let _ = decode_request::<op::PutLink>(payload);
            let _ = decode_request::<op::DeleteLink>(payload);
            let _ = decode_request::<op::PutConfig>(payload);
            let _ = decode_request::<op::UpdateActor>(payload);
            let _ = decode_request::<op::CallActor>(payload);
            let _ = decode_request::<op::StopHost>(payload);
        }
    }

    #[test]
    fn arbitrary_link_entries_are_refused(input in bytes(), json in text(r#"[{}\[\]":,a-z_0-9 .\-/]{0,300}"#)) {
        for value in [&input[..], json.as_bytes()] {
            prop_assert!(link_entry::open("link.http.wasi.http.default", value, &LinkSigners::Any).is_err());
        }
    }

    /// A signed link entry or tombstone changed in any byte opens, if at
    /// all, as exactly what was signed at exactly its version: a version
    /// cannot be raised (to outrank a newer entry) nor an entry turned into
    /// a delete.
    #[test]
    fn a_versioned_entry_changed_in_any_byte_opens_only_as_signed(
        version in 1u64..u64::MAX,
        tombstone in any::<bool>(),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let key = nkeys::KeyPair::new_cluster();
        let signers = LinkSigners::Trusted(vec![key.public_key()]);
        let link = lattice_interfaces::Link::new(
            lattice_interfaces::ComponentId::new("http").unwrap(),
            lattice_interfaces::ComponentId::new("hello").unwrap(),
            lattice_interfaces::Contract::parse("wasi:http/incoming-handler").unwrap(),
        );
        let (at, mut value) = link_entry::seal(&link, version, &key).unwrap();
        if tombstone {
            value = link_entry::seal_delete(&at, version, &key).unwrap();
        }
        let index = position.index(value.len());
        value[index] ^= flip;
        if let Ok(opened) = link_entry::open(&at, &value, &signers) {
            prop_assert_eq!(opened.version, version);
            prop_assert_eq!(opened.value, (!tombstone).then(|| link.clone()));
        }
        if let Ok(deleted) = link_entry::open_delete(&at, &value, &signers) {
            prop_assert!(tombstone);
            prop_assert_eq!(deleted, version);
        }
    }

    #[test]
    fn arbitrary_claims_and_components_are_refused(jwt in text(r"[A-Za-z0-9_\-.]{0,400}"), wasm in bytes()) {
        prop_assert!(Claims::<ComponentMetadata>::decode_verified(&jwt, KeyKind::Module).is_err());
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.extend_from_slice(&wasm);
        for candidate in [&wasm[..], &component[..]] {
            let _ = read_component(candidate);
            let _ = lattice_host::component_imports(candidate);
        }
    }

    #[test]
    fn arbitrary_manifests_are_refused_with_a_reason(toml in text(r#"[\[\]a-z_=" \n0-9./{},]{0,400}"#)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.toml");
        std::fs::write(&path, &toml).unwrap();
        if let Err(error) = Manifest::load(&path) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn arbitrary_http_and_wire_payloads_decode_or_are_refused(input in bytes()) {
        let _ = lattice_interfaces::http::wire::decode_request(&input);
        let _ = lattice_interfaces::http::wire::decode_response(&input);
        let _ = lattice_interfaces::protocol::rpc::value::decode(&input);
    }

    #[test]
    fn arbitrary_blobstore_calls_get_an_error_reply_or_an_answer(
        input in bytes(),
        name in text(r"[a-z./\\\x00 -]{0,40}"),
    ) {
        use lattice_contract_blobstore::wire::{self, BlobOp, BlobReply};
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let store = lattice_provider_blobstore::MemoryStore::default();
        let sessions = lattice_contract_blobstore::serve::Sessions::new();
        let serve = |payload: &[u8]| {
            let answer = runtime.block_on(lattice_contract_blobstore::serve::serve(
                &store, &sessions, "a/default", payload,
            ));
            wire::decode::<BlobReply>(&answer)
        };
        // Bytes: an answer (of course an error, for garbage) that decodes.
        prop_assert!(serve(&input).is_ok());
        // A name: accepted only if it stays inside its container.
        let op = BlobOp::WriteOpen { container: "c".into(), name: name.clone() };
        runtime.block_on(lattice_contract_blobstore::BlobStore::create_container(&store, "c")).ok();
        let reply = serve(&wire::encode(&op).unwrap()).unwrap();
        let escapes = name.is_empty()
            || name.starts_with('/')
            || name.contains('\\')
            || name.contains('\0')
            || name.split('/').any(|s| s.is_empty() || s == "." || s == "..");
        prop_assert_eq!(matches!(reply, BlobReply::Error(_)), escapes, "{:?}: {:?}", name, reply);
    }

    #[test]
    fn arbitrary_wave_arguments_are_refused_in_one_line_or_called(
        function in text(r"[a-z:/.@0-9]{0,40}"),
        arg in text(r#"[a-z"{}\[\]():, 0-9\-.]{0,80}"#),
    ) {
        let actor = uppercase();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (function, arg) in [(function.as_str(), arg.clone()), ("example:uppercase/convert.upper", arg)] {
            match runtime.block_on(actor.call_wave(function, std::slice::from_ref(&arg))) {
                Ok(results) => prop_assert_eq!(results.len(), 1),
                Err(error) => prop_assert!(!error.message.is_empty() && !error.message.contains('\n'), "{}", error.message),
            }
        }
    }
}

/// Subjects and patterns, mostly made of the tokens that matter: the
/// reserved prefixes, wildcards, inboxes and empty tokens.
fn subject() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("lattice".to_string()),
        Just("$KV".to_string()),
        Just("$JS".to_string()),
        Just("$SYS".to_string()),
        Just("$O".to_string()),
        Just("_INBOX".to_string()),
        Just("*".to_string()),
        Just(">".to_string()),
        Just(String::new()),
        text(r"[a-zA-Z0-9_$\-* >]{1,8}"),
    ];
    proptest::collection::vec(token, 1..6).prop_map(|tokens| tokens.join("."))
}

proptest! {
    /// Whatever subject an actor names, the messaging provider's policy
    /// answers without a panic, and nothing it lets through for sending is
    /// a reserved subject, a wildcard or (as a reply-to) another client's
    /// inbox; nothing a handler may subscribe to starts with a wildcard or
    /// a reserved word.
    #[test]
    fn arbitrary_subjects_never_reach_the_control_plane(subject in subject()) {
        use lattice_provider_messaging_nats::{check_subscription, SubjectPolicy, RESERVED};
        let policy = SubjectPolicy::default();
        let reserved = RESERVED.iter().any(|prefix| subject.starts_with(prefix));
        if policy.check(&subject).is_ok() {
            prop_assert!(!reserved, "{subject}");
            prop_assert!(!subject.contains('*') && !subject.contains('>'), "{subject}");
            prop_assert!(subject.split('.').all(|t| !t.is_empty()), "{subject}");
        }
        if policy.check_reply_to(&subject).is_ok() {
            prop_assert!(!reserved && !subject.starts_with("_INBOX."), "{subject}");
        }
        if check_subscription(&subject).is_ok() {
            let first = subject.split('.').next().unwrap_or_default();
            prop_assert!(first != "*" && first != ">", "{subject}");
            prop_assert!(
                !RESERVED.iter().chain(&["_INBOX."]).any(|p| p.trim_end_matches('.') == first),
                "{subject}"
            );
        } else {
            prop_assert!(check_subscription(&subject).unwrap_err().contains("refused"));
        }
    }
}

/// The admin endpoint answers arbitrary requests (a request line and
/// headers in roughly HTTP's alphabet, then any bytes) with an HTTP error
/// or by closing, never a panic, and `/livez` still answers after them.
#[test]
fn arbitrary_admin_requests_are_answered_or_closed_and_it_serves_on() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let address = runtime.block_on(async {
        let host = lattice_tests::hosts::dev_host();
        lattice_host::admin::serve(
            "127.0.0.1:0".parse().unwrap(),
            host,
            std::sync::Arc::new(|| Ok(())),
            stop.clone(),
            None,
        )
        .await
        .unwrap()
    });
    let exchange = |request: Vec<u8>, half_close: bool| {
        runtime.block_on(async {
            let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
            let _ = socket.write_all(&request).await;
            // Said all it will: the server need not wait for more (a
            // server that sees the end first may close without answering,
            // so the well-formed request below keeps its side open).
            if half_close {
                let _ = socket.shutdown().await;
            }
            let mut answer = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                socket.read_to_end(&mut answer),
            )
            .await;
            (read.is_ok(), answer)
        })
    };
    proptest!(ProptestConfig::with_cases(128), |(
        head in text(r"(GET|POST|HEAD|PRI|[A-Z]{0,8}) [ -~]{0,40} HTTP/(1\.[01]|2\.0|[0-9.]{0,4})\r\n([ -~]{0,40}\r\n){0,4}(\r\n)?"),
        tail in bytes(),
    )| {
        let mut request = head.into_bytes();
        request.extend_from_slice(&tail);
        let (answered, answer) = exchange(request, true);
        prop_assert!(answered, "the admin endpoint held a closed request");
        prop_assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1."),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    });
    let (_, answer) = exchange(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    stop.cancel();
}

/// The uppercase example, loaded once for the WAVE property.
fn uppercase() -> std::sync::Arc<lattice_host::Actor> {
    static ACTOR: std::sync::OnceLock<std::sync::Arc<lattice_host::Actor>> =
        std::sync::OnceLock::new();
    ACTOR
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let host = lattice_tests::hosts::dev_host();
                lattice_tests::hosts::start_fixture(&host, "uppercase", "uppercase").await
            })
        })
        .clone()
}
