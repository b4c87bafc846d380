//! A host runs only what a trusted issuer signed, unchanged, with the
//! capabilities it was granted.
//!
//! Actors come from many teams; deny by default is the point. Each test
//! makes a module (signed well, signed and then changed, expired, from the
//! wrong issuer, with garbage claims...) and reads the one-line refusal the
//! host gives, or, for the good ones, the response the actor serves.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use lattice_host::{Host, TrustPolicy};
use lattice_interfaces::claims::{embed, sign_component, strip, ComponentSigning, KeyKind};
use lattice_tests::fixtures;
use lattice_tests::hosts::{self, id, trusting, unsigned_allowed};
use wasm_encoder::Section as _;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(wasm: &[u8], issuer: &nkeys::KeyPair, what: ComponentSigning) -> Vec<u8> {
    sign_component(wasm, issuer, &KeyKind::Module.generate(), &what)
        .unwrap()
        .wasm
}

/// The hello example signed by `issuer` with `what`.
fn signed_hello(issuer: &nkeys::KeyPair, what: ComponentSigning) -> Vec<u8> {
    sign(&fixtures::wasm_bytes("hello"), issuer, what)
}

/// Starts `wasm` as actor `a` on a host with `trust`; the refusal, if any.
async fn start(trust: TrustPolicy, wasm: Vec<u8>) -> Result<Host, String> {
    let host = hosts::host(trust, None);
    match hosts::start_bytes(&host, "a", "a.wasm", wasm).await {
        Ok(_) => Ok(host),
        Err(e) => Err(e.to_string()),
    }
}

async fn refusal(trust: TrustPolicy, wasm: Vec<u8>) -> String {
    match start(trust, wasm).await {
        Ok(_) => panic!("the host ran a module it should refuse"),
        Err(e) => {
            assert!(e.starts_with("actor \"a\": a.wasm refused: "), "{e}");
            assert!(!e.contains('\n'), "{e}");
            e.trim_start_matches("actor \"a\": a.wasm refused: ")
                .to_string()
        }
    }
}

fn strict() -> TrustPolicy {
    TrustPolicy::default()
}

/// `wasm` with a custom section `name` holding `data` appended.
fn with_section(mut wasm: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    wasm_encoder::CustomSection {
        name: Cow::Borrowed(name),
        data: Cow::Borrowed(data),
    }
    .append_to(&mut wasm);
    wasm
}

#[tokio::test]
async fn a_signed_actor_runs_and_keeps_its_claims() {
    let account = KeyKind::Account.generate();
    let what = ComponentSigning {
        name: Some("hello".into()),
        ..Default::default()
    };
    let signed = signed_hello(&account, what);
    let host = start(trusting(account.public_key()), signed).await.unwrap();
    let actor = host.actor(&id("a")).unwrap();
    assert_eq!(actor.claims().unwrap().issuer, account.public_key());
    assert_eq!(hosts::status_of_get(&actor).await, 200);
}

#[tokio::test]
async fn an_unsigned_actor_is_refused_unless_the_dev_flag_is_set() {
    let hello = fixtures::wasm_bytes("hello");
    let e = refusal(strict(), hello.clone()).await;
    assert!(
        e.starts_with("not signed: sign it with `lattice-ctl claims sign`"),
        "{e}"
    );
    assert!(start(unsigned_allowed(), hello).await.is_ok());
}

#[tokio::test]
async fn a_changed_module_is_refused_as_tampered_even_in_dev_mode() {
    let signed = signed_hello(&KeyKind::Account.generate(), ComponentSigning::default());
    let tampered = with_section(signed, "extra", b"payload");
    let e = refusal(unsigned_allowed(), tampered).await;
    assert!(
        e.starts_with("hash mismatch: the module was changed after it was signed (tampered)"),
        "{e}"
    );
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let account = KeyKind::Account.generate();
    let signed = sign_component(
        &fixtures::wasm_bytes("hello"),
        &account,
        &KeyKind::Module.generate(),
        &ComponentSigning::default(),
    )
    .unwrap();
    // Same header and claims, the signature of other bytes by the same key.
    let (signed_part, _) = signed.jwt.rsplit_once('.').unwrap();
    let other = data_encoding::BASE64URL_NOPAD.encode(&account.sign(b"something else").unwrap());
    let forged = embed(
        &strip(&signed.wasm).unwrap(),
        &format!("{signed_part}.{other}"),
    )
    .unwrap();
    let e = refusal(strict(), forged).await;
    assert_eq!(
        e,
        format!(
            "bad signature: the claims were not signed by their issuer {}",
            account.public_key()
        )
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_claims_are_refused_with_the_time() {
    let account = KeyKind::Account.generate();
    let expired = ComponentSigning {
        expires: Some(now() - 60),
        ..Default::default()
    };
    let early = ComponentSigning {
        not_before: Some(now() + 3600),
        ..Default::default()
    };
    for (what, reason) in [
        (expired, "claims expired since 20"),
        (early, "claims are not valid before 20"),
    ] {
        let e = refusal(strict(), signed_hello(&account, what)).await;
        assert!(e.starts_with(reason), "{e}");
    }
}

#[tokio::test]
async fn an_issuer_off_the_allow_list_is_refused_by_key() {
    let (account, trusted) = (KeyKind::Account.generate(), KeyKind::Account.generate());
    let wasm = signed_hello(&account, ComponentSigning::default());
    let e = refusal(trusting(trusted.public_key()), wasm).await;
    assert_eq!(
        e,
        format!(
            "issuer {} is not allowed on this host (allowed: {})",
            account.public_key(),
            trusted.public_key()
        )
    );
}

#[tokio::test]
async fn an_import_beyond_the_basic_set_needs_a_claimed_capability() {
    let account = KeyKind::Account.generate();
    let needs_kv = wat::parse_str(
        r#"(component
            (import "wasi:keyvalue/store@0.2.0-draft" (instance (export "f" (func))))
        )"#,
    )
    .unwrap();
    let e = refusal(
        strict(),
        sign(&needs_kv, &account, ComponentSigning::default()),
    )
    .await;
    assert_eq!(e, "import wasi:keyvalue/store is not claimed (claimed: none); re-sign with --cap wasi:keyvalue/store");

    // Every import missing from the claims is named at once.
    let needs_two = wat::parse_str(
        r#"(component
            (import "wasi:keyvalue/store@0.2.0-draft" (instance (export "f" (func))))
            (import "wasmcloud:messaging/consumer@0.2.0" (instance (export "g" (func))))
        )"#,
    )
    .unwrap();
    let e = refusal(
        strict(),
        sign(&needs_two, &account, ComponentSigning::default()),
    )
    .await;
    assert_eq!(e, "imports wasi:keyvalue/store, wasmcloud:messaging/consumer are not claimed (claimed: none); re-sign with --cap wasi:keyvalue/store --cap wasmcloud:messaging/consumer");

    // Claimed, the claims check passes; this host has no key-value provider,
    // so linking is what fails next.
    let claimed = sign(
        &needs_kv,
        &account,
        ComponentSigning {
            capabilities: vec!["wasi:keyvalue/store".into()],
            ..Default::default()
        },
    );
    let e = start(strict(), claimed).await.err().unwrap();
    assert!(
        e.starts_with("actor \"a\": a.wasm cannot be linked: "),
        "{e}"
    );
}

#[tokio::test]
async fn garbage_claims_sections_are_refused_never_a_panic() {
    let (account, module) = (KeyKind::Account.generate(), KeyKind::Module.generate());
    let stripped = strip(&fixtures::wasm_bytes("hello")).unwrap();
    let valid = sign_component(&stripped, &account, &module, &ComponentSigning::default())
        .unwrap()
        .jwt;
    let (header, rest) = valid.split_once('.').unwrap();
    let (body, signature) = rest.split_once('.').unwrap();
    let jwts: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00],
        b"".to_vec(),
        b"not a jwt".to_vec(),
        valid.as_bytes()[..valid.len() / 2].to_vec(),
        format!("{header}.{body}").into_bytes(),
        format!("eyJ0eXAiOiJqd3QiLCJhbGciOiJIUzI1NiJ9.{body}.{signature}").into_bytes(),
        format!("{header}.e30.{signature}").into_bytes(),
        format!("{header}.{body}.!!!").into_bytes(),
        format!("{header}.{body}.{signature}.extra").into_bytes(),
    ];
    for jwt in jwts {
        let wasm = with_section(stripped.clone(), "wasmcloud_jwt", &jwt);
        let e = refusal(unsigned_allowed(), wasm).await;
        assert!(
            e.starts_with("malformed claims")
                || e.starts_with("claims use algorithm")
                || e.starts_with("bad signature"),
            "{:?}: {e}",
            String::from_utf8_lossy(&jwt)
        );
    }
    // A module key as issuer is refused by kind.
    let mut claims = sign_component(&stripped, &account, &module, &ComponentSigning::default())
        .unwrap()
        .claims;
    claims.issuer = module.public_key();
    let jwt = claims.encode(&module).unwrap();
    let e = refusal(strict(), embed(&stripped, &jwt).unwrap()).await;
    assert!(e.starts_with("issuer \"M"), "{e}");
}
