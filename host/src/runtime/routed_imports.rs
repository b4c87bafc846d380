//! Imports an actor makes of other actors (any instance import outside
//! `wasi:` and the packages of the host's contracts) are defined per actor as dynamic
//! functions. When the guest calls one, the store's
//! [`ActorCalls`](super::calls::ActorCalls) resolves the link from this
//! actor for that interface and calls the target, in-process or on another
//! host. Values cross hosts as `WireVal`s; resources cannot.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

use super::calls::unversioned;
use super::ctx::ActorCtx;

/// Whether the host implements `import` itself: WASI, or a package of a
/// registered contract (`crate::contracts`).
fn host_provided(import: &str) -> bool {
    import.starts_with("wasi:") || crate::contracts::serves_package_of(import)
}

/// Defines, in `linker`, every instance import of `component` outside
/// `wasi:` as functions that route through the store's [`ActorCalls`].
pub(crate) fn define_routed_imports(
    linker: &mut Linker<ActorCtx>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        if host_provided(name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let interface = unversioned(name).to_string();
        let mut defined = linker.instance(name)?;
        for (function, item) in instance.exports(engine) {
            if !matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                continue;
            }
            let (interface, function_name) = (interface.clone(), function.to_string());
            defined.func_new_async(function, move |store, _ty, params, results| {
                let ctx = store.data();
                let router = ctx.calls.clone();
                let source = ctx.actor.clone();
                let link_name = ctx.link_names.of_interface(&interface);
                let (interface, function) = (interface.clone(), function_name.clone());
                let params = params.to_vec();
                Box::new(async move {
                    let Some(router) = router else {
                        wasmtime::bail!(
                            "{interface}#{function}: this host routes no calls between actors"
                        );
                    };
                    let values = router
                        .call(
                            source,
                            link_name,
                            interface.clone(),
                            function.clone(),
                            params,
                        )
                        .await
                        .map_err(|e| {
                            wasmtime::Error::msg(format!(
                                "call to {interface}#{function} failed: {}",
                                e.message
                            ))
                        })?;
                    if values.len() != results.len() {
                        wasmtime::bail!(
                            "{interface}#{function} returned {} values, expected {}",
                            values.len(),
                            results.len()
                        );
                    }
                    for (slot, value) in results.iter_mut().zip(values) {
                        *slot = value;
                    }
                    Ok(())
                })
            })?;
        }
    }
    Ok(())
}

/// Exported interfaces (unversioned) of `component` that define resource
/// types: links to them could not be called from another host.
pub(crate) fn interfaces_with_resources(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::ComponentInstance(instance) => instance
                .exports(engine)
                .any(|(_, inner)| matches!(inner.ty, ComponentItem::Resource(_)))
                .then(|| unversioned(name).to_string()),
            _ => None,
        })
        .collect()
}
