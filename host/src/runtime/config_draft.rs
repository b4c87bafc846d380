//! `wasi:config@0.2.0-draft`, `runtime` and `store`: the config wasmCloud
//! 1.x components read (its documentation names `runtime`; the
//! `wasmcloud-component` 0.2 crate imports `store`). Both serve the same
//! merged entries and secrets as `wasi:config/store@0.2.0-rc.1`.

use std::collections::BTreeMap;

use wasmtime::component::HasData;

use super::ActorCtx;

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../interfaces/wit/config-draft",
        world: "wasi:config/imports",
        imports: { default: trappable },
    });
}

use generated::wasi::config::{runtime, store};

/// What one instance reads: its actor's merged config.
pub(crate) struct ConfigValues<'a>(&'a BTreeMap<String, String>);

/// [`HasData`] for these bindings.
struct DraftConfig;

impl HasData for DraftConfig {
    type Data<'a> = ConfigValues<'a>;
}

impl ConfigValues<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn all(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl runtime::Host for ConfigValues<'_> {
    fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, runtime::ConfigError>> {
        Ok(Ok(ConfigValues::get(self, &key)))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, runtime::ConfigError>> {
        Ok(Ok(self.all()))
    }
}

impl store::Host for ConfigValues<'_> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::Error>> {
        Ok(Ok(ConfigValues::get(self, &key)))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, store::Error>> {
        Ok(Ok(self.all()))
    }
}

fn values(ctx: &mut ActorCtx) -> ConfigValues<'_> {
    ConfigValues(&ctx.config_values().values)
}

/// Links both interfaces into `linker`.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    runtime::add_to_linker::<ActorCtx, DraftConfig>(linker, values)?;
    store::add_to_linker::<ActorCtx, DraftConfig>(linker, values)
}
