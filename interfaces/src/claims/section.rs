//! Claims inside a component: the `wasmcloud_jwt` custom section.
//!
//! The module hash is taken over the component with every claims section
//! removed, nested modules and components rebuilt section by section, exactly
//! as wascap 0.16 does it, so both compute the same hash for the same file.

use std::borrow::Cow;

use data_encoding::HEXUPPER;
use nkeys::KeyPair;
use sha2::{Digest, Sha256};
use wasm_encoder::{ComponentSectionId, Encode, Section};
use wasmparser::{Encoding, Parser, Payload};

use super::jwt::{unix_now, Claims, ClaimsError, ComponentMetadata, WASCAP_REVISION};
use super::keys::KeyKind;

/// The custom section that holds an actor's JWT.
pub const SECTION: &str = "wasmcloud_jwt";
/// The section name wascap used before 0.9; read, never written.
pub const LEGACY_SECTION: &str = "jwt";

fn is_claims_section(name: &str) -> bool {
    name == SECTION || name == LEGACY_SECTION
}

fn malformed(e: impl std::fmt::Display) -> ClaimsError {
    ClaimsError::unparsable(e)
}

/// The component (or core module) without its claims sections.
pub fn strip(wasm: &[u8]) -> Result<Vec<u8>, ClaimsError> {
    let mut output: Vec<u8> = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(malformed)?;
        match &payload {
            Payload::Version { encoding, .. } => output.extend_from_slice(match encoding {
                Encoding::Component => &wasm_encoder::Component::HEADER,
                Encoding::Module => &wasm_encoder::Module::HEADER,
            }),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                stack.push(std::mem::take(&mut output));
                continue;
            }
            Payload::End(_) => {
                let Some(mut parent) = stack.pop() else { break };
                let id = if output.starts_with(&wasm_encoder::Component::HEADER) {
                    ComponentSectionId::Component
                } else {
                    ComponentSectionId::CoreModule
                };
                parent.push(id as u8);
                output.encode(&mut parent);
                output = parent;
            }
            _ => {}
        }
        match &payload {
            Payload::CustomSection(c) if is_claims_section(c.name()) => {}
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    let data = wasm
                        .get(range)
                        .ok_or_else(|| malformed("a section runs past the end of the file"))?;
                    wasm_encoder::RawSection { id, data }.append_to(&mut output);
                }
            }
        }
    }
    Ok(output)
}

/// Uppercase hex sha256 of the module without its claims: what the claims'
/// `hash` must say.
pub fn module_hash(wasm: &[u8]) -> Result<String, ClaimsError> {
    Ok(HEXUPPER.encode(&Sha256::digest(strip(wasm)?)))
}

/// The JWT in the top-level claims section, if there is one.
pub fn extract_jwt(wasm: &[u8]) -> Result<Option<String>, ClaimsError> {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(malformed)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(c) if depth == 0 && is_claims_section(c.name()) => {
                return String::from_utf8(c.data().to_vec()).map(Some).map_err(|_| {
                    ClaimsError::Malformed(format!("the {} section is not UTF-8 text", c.name()))
                });
            }
            _ => {}
        }
    }
    Ok(None)
}

/// `wasm` without its old claims and with `jwt` in a new claims section.
pub fn embed(wasm: &[u8], jwt: &str) -> Result<Vec<u8>, ClaimsError> {
    let mut out = strip(wasm)?;
    wasm_encoder::CustomSection {
        name: Cow::Borrowed(SECTION),
        data: Cow::Borrowed(jwt.as_bytes()),
    }
    .append_to(&mut out);
    Ok(out)
}

/// What to claim when signing a component.
#[derive(Debug, Default, Clone)]
pub struct ComponentSigning {
    /// A name for people.
    pub name: Option<String>,
    /// Version for people.
    pub ver: Option<String>,
    /// Revision.
    pub rev: Option<i32>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// WIT interfaces the actor may import.
    pub capabilities: Vec<String>,
    /// Valid from (Unix seconds); `None` is at once.
    pub not_before: Option<u64>,
    /// Valid until (Unix seconds); `None` is forever.
    pub expires: Option<u64>,
}

/// A signed component: its bytes and the claims in them.
#[derive(Debug, Clone)]
pub struct SignedComponent {
    /// The component with its claims section.
    pub wasm: Vec<u8>,
    /// The JWT.
    pub jwt: String,
    /// The claims.
    pub claims: Claims<ComponentMetadata>,
}

/// Signs `wasm` as `subject` (a module key), issued by `issuer` (an account
/// key). Existing claims are replaced.
pub fn sign_component(
    wasm: &[u8],
    issuer: &KeyPair,
    subject: &KeyPair,
    what: &ComponentSigning,
) -> Result<SignedComponent, ClaimsError> {
    if KeyKind::of(issuer) != Some(KeyKind::Account) {
        return Err(ClaimsError::Issuer(issuer.public_key()));
    }
    if KeyKind::of(subject) != Some(KeyKind::Module) {
        return Err(ClaimsError::Subject {
            subject: subject.public_key(),
            expected: KeyKind::Module,
        });
    }
    let issued_at = unix_now();
    let module_hash = module_hash(wasm)?;
    let jti = HEXUPPER.encode(&Sha256::digest(format!(
        "{module_hash}{issued_at}{}",
        subject.public_key()
    )));
    let claims = Claims {
        expires: what.expires,
        id: jti.get(..22).unwrap_or(&jti).to_string(),
        issued_at,
        issuer: issuer.public_key(),
        subject: subject.public_key(),
        not_before: what.not_before,
        metadata: Some(ComponentMetadata {
            name: what.name.clone(),
            module_hash,
            tags: (!what.tags.is_empty()).then(|| what.tags.clone()),
            rev: what.rev,
            ver: what.ver.clone(),
            call_alias: None,
            provider: false,
            capabilities: what.capabilities.clone(),
        }),
        revision: Some(WASCAP_REVISION),
    };
    let jwt = claims.encode(issuer)?;
    Ok(SignedComponent {
        wasm: embed(wasm, &jwt)?,
        jwt,
        claims,
    })
}

/// Reads the claims of a component and checks their signature and that the
/// component is the one that was signed. `Ok(None)`: not signed. The
/// validity window is the caller's to check ([`Claims::check_time`]).
pub fn read_component(
    wasm: &[u8],
) -> Result<Option<(String, Claims<ComponentMetadata>)>, ClaimsError> {
    let Some(jwt) = extract_jwt(wasm)? else {
        return Ok(None);
    };
    let claims = Claims::<ComponentMetadata>::decode_verified(&jwt, KeyKind::Module)?;
    let claimed = claims
        .metadata
        .as_ref()
        .map(|m| m.module_hash.clone())
        .ok_or_else(|| ClaimsError::Malformed("the claims have no wascap metadata".into()))?;
    let actual = module_hash(wasm)?;
    if !claimed.eq_ignore_ascii_case(&actual) {
        return Err(ClaimsError::Tampered { claimed, actual });
    }
    Ok(Some((jwt, claims)))
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    fn component() -> Vec<u8> {
        // A component with a nested core module and a custom section of its own.
        let mut wasm = wasm_encoder::Component::new();
        let mut module = wasm_encoder::Module::new();
        module.section(&wasm_encoder::CustomSection {
            name: "note".into(),
            data: b"inner".as_slice().into(),
        });
        wasm.section(&wasm_encoder::ModuleSection(&module));
        wasm.section(&wasm_encoder::CustomSection {
            name: "note".into(),
            data: b"outer".as_slice().into(),
        });
        wasm.finish()
    }

    #[test]
    fn sign_then_read_round_trips_and_resigning_replaces() {
        let account = KeyKind::Account.generate();
        let module = KeyKind::Module.generate();
        let what = ComponentSigning {
            name: Some("demo".into()),
            capabilities: vec!["wasi:keyvalue/store".into()],
            ..Default::default()
        };
        let signed = sign_component(&component(), &account, &module, &what).unwrap();
        let (_, claims) = read_component(&signed.wasm).unwrap().unwrap();
        assert_eq!(claims.issuer, account.public_key());
        assert_eq!(
            claims.metadata.as_ref().unwrap().capabilities,
            ["wasi:keyvalue/store"]
        );
        assert_eq!(strip(&signed.wasm).unwrap(), strip(&component()).unwrap());

        let again = sign_component(
            &signed.wasm,
            &account,
            &module,
            &ComponentSigning::default(),
        )
        .unwrap();
        assert_eq!(
            again.wasm.len() - component().len(),
            again.jwt.len() + SECTION.len() + 1 + leb_len(again.jwt.len() + SECTION.len() + 1) + 1
        );
        let (_, claims) = read_component(&again.wasm).unwrap().unwrap();
        assert!(claims.metadata.unwrap().capabilities.is_empty());
    }

    fn leb_len(mut n: usize) -> usize {
        let mut len = 1;
        while n >= 0x80 {
            n >>= 7;
            len += 1;
        }
        len
    }

    #[test]
    fn a_changed_module_is_tampered() {
        let account = KeyKind::Account.generate();
        let signed = sign_component(
            &component(),
            &account,
            &KeyKind::Module.generate(),
            &ComponentSigning::default(),
        )
        .unwrap();
        let mut changed = signed.wasm.clone();
        wasm_encoder::CustomSection {
            name: "extra".into(),
            data: b"x".as_slice().into(),
        }
        .append_to(&mut changed);
        assert!(matches!(
            read_component(&changed),
            Err(ClaimsError::Tampered { .. })
        ));
    }

    #[test]
    fn unsigned_is_none_and_garbage_sections_are_malformed() {
        assert!(read_component(&component()).unwrap().is_none());
        for data in [&b"\xff\xfe"[..], b"not a jwt", b"a.b.c", b""] {
            let mut wasm = component();
            wasm_encoder::CustomSection {
                name: SECTION.into(),
                data: data.into(),
            }
            .append_to(&mut wasm);
            assert!(
                matches!(read_component(&wasm), Err(ClaimsError::Malformed(_))),
                "{data:?}"
            );
        }
        let mut truncated = component();
        truncated.truncate(truncated.len() - 3);
        assert!(read_component(&truncated).is_err());
    }
}
