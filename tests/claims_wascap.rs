//! Our claims and wasmCloud's are one format: each side reads the other's.
//!
//! Users bring actors signed by `wash` and tools built on wascap; they must
//! run here, and what `lattice-ctl` signs must read there. wascap 0.16 is the
//! independent oracle: it extracts and validates what we sign, and our host
//! runs what it signs. The tests compare issuer, subject and module hash.

use lattice_interfaces::claims::{
    module_hash, read_component, sign_component, ComponentSigning, KeyKind,
};
use lattice_tests::{fixtures, hosts};

#[test]
fn wascap_extracts_and_validates_what_we_sign() {
    let (account, module) = (KeyKind::Account.generate(), KeyKind::Module.generate());
    let what = ComponentSigning {
        name: Some("hello".into()),
        ver: Some("1.0.0".into()),
        rev: Some(3),
        tags: vec!["demo".into()],
        capabilities: vec!["wasi:keyvalue/store".into()],
        ..Default::default()
    };
    let signed = sign_component(&fixtures::wasm_bytes("hello"), &account, &module, &what).unwrap();

    let token = wascap::wasm::extract_claims(&signed.wasm)
        .unwrap()
        .expect("wascap finds the claims");
    let validation = wascap::jwt::validate_token::<wascap::jwt::Component>(&token.jwt).unwrap();
    assert!(
        validation.signature_valid && !validation.expired && !validation.cannot_use_yet,
        "{validation:?}"
    );
    assert_eq!(token.claims.issuer, account.public_key());
    assert_eq!(token.claims.subject, module.public_key());
    let meta = token.claims.metadata.unwrap();
    assert_eq!(meta.module_hash, module_hash(&signed.wasm).unwrap());
    assert_eq!(meta.name.as_deref(), Some("hello"));
    assert_eq!((meta.ver.as_deref(), meta.rev), (Some("1.0.0"), Some(3)));
    assert_eq!(meta.tags, Some(vec!["demo".to_string()]));
}

#[tokio::test]
async fn our_host_runs_what_wascap_signs() {
    let account = nkeys::KeyPair::new_account();
    let module = nkeys::KeyPair::new_module();
    let signed = wascap::wasm::sign_buffer_with_claims(
        "hello".into(),
        fixtures::wasm_bytes("hello"),
        &module,
        &account,
        Some(30),
        None,
        vec!["wash".into()],
        false,
        Some(1),
        Some("0.1.0".into()),
        None,
    )
    .unwrap();

    let (_, claims) = read_component(&signed)
        .unwrap()
        .expect("we find wascap's claims");
    assert_eq!(claims.issuer, account.public_key());
    assert_eq!(claims.subject, module.public_key());
    assert_eq!(
        claims.metadata.as_ref().unwrap().module_hash,
        module_hash(&signed).unwrap()
    );

    let host = hosts::host(hosts::trusting(account.public_key()), None);
    let actor = hosts::start_bytes(&host, "hello", "wascap-signed.wasm", signed)
        .await
        .unwrap();
    assert_eq!(hosts::status_of_get(&actor).await, 200);
}
