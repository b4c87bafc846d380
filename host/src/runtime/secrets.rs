//! `wasmcloud:secrets@0.1.0-draft`: an actor's secrets (the references of
//! its manifest, resolved by the host when the actor starts) as handles
//! that `reveal` turns into values. A key the actor was not given is
//! `not-found`. The handles are held against the instance's memory
//! allowance.

use std::collections::BTreeMap;

use lattice_contract::Allowance;
use wasmtime::component::{HasData, Resource, ResourceTable};

use super::ActorCtx;

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../interfaces/wit/secrets",
        world: "wasmcloud:secrets/imports",
        imports: { default: trappable },
        with: {
            "wasmcloud:secrets/store.secret": super::Secret,
        },
    });
}

use generated::wasmcloud::secrets::{reveal, store};

/// A handle to one of the actor's secrets: its key.
pub struct Secret {
    key: String,
}

impl Secret {
    fn held(&self) -> usize {
        std::mem::size_of::<Self>() + self.key.len()
    }
}

/// What the bindings work on: the instance's table and allowance, and its
/// actor's secrets.
pub(crate) struct SecretsView<'a> {
    table: &'a mut ResourceTable,
    allowance: &'a mut Allowance,
    secrets: &'a BTreeMap<String, String>,
}

/// [`HasData`] for these bindings.
struct WasmcloudSecrets;

impl HasData for WasmcloudSecrets {
    type Data<'a> = SecretsView<'a>;
}

impl store::Host for SecretsView<'_> {
    fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Secret>, store::SecretsError>> {
        if !self.secrets.contains_key(&key) {
            return Ok(Err(store::SecretsError::NotFound));
        }
        let secret = Secret { key };
        let held = secret.held();
        if let Err(refused) = self.allowance.hold(held) {
            return Ok(Err(store::SecretsError::Io(refused.to_string())));
        }
        match self.table.push(secret) {
            Ok(secret) => Ok(Ok(secret)),
            Err(error) => {
                self.allowance.release(held);
                Err(error.into())
            }
        }
    }
}

impl store::HostSecret for SecretsView<'_> {
    fn drop(&mut self, secret: Resource<Secret>) -> wasmtime::Result<()> {
        let secret = self.table.delete(secret)?;
        self.allowance.release(secret.held());
        Ok(())
    }
}

impl reveal::Host for SecretsView<'_> {
    fn reveal(&mut self, secret: Resource<Secret>) -> wasmtime::Result<store::SecretValue> {
        let key = &self.table.get(&secret)?.key;
        // Present when the handle was made; the actor's secrets do not
        // change while its instance lives.
        let value = self.secrets.get(key).cloned().unwrap_or_default();
        Ok(store::SecretValue::String(value))
    }
}

fn view(ctx: &mut ActorCtx) -> SecretsView<'_> {
    let (table, allowance, merged) = ctx.secrets_parts();
    SecretsView {
        table,
        allowance,
        secrets: &merged.secrets,
    }
}

/// Links `store` and `reveal` into `linker`.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<ActorCtx, WasmcloudSecrets>(linker, view)?;
    reveal::add_to_linker::<ActorCtx, WasmcloudSecrets>(linker, view)
}
