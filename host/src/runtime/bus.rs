//! `wasmcloud:bus/lattice@1.0.0` for every actor: `set-link-name` picks the
//! named link an instance's next calls over an interface's package use
//! (`wasi:keyvalue` to a cache, say, where the default link goes to a
//! database). The choice lasts for the instance; each name is checked
//! against the actor's links at call time, as wasmCloud does.

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::calls::LinkNames;

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../interfaces/wit/bus",
        world: "wasmcloud:bus/imports",
        imports: { default: trappable },
        with: {
            "wasmcloud:bus/lattice.call-target-interface": super::CallTargetInterface,
        },
    });
}

use generated::wasmcloud::bus::lattice;

/// An interface an actor names to `set-link-name`.
#[derive(Debug)]
pub struct CallTargetInterface {
    namespace: String,
    package: String,
}

/// The borrowed view the bindings work on.
pub struct BusView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) link_names: &'a LinkNames,
}

/// [`HasData`] for the bus bindings.
pub struct WasmcloudBus;

impl HasData for WasmcloudBus {
    type Data<'a> = BusView<'a>;
}

impl lattice::HostCallTargetInterface for BusView<'_> {
    fn new(
        &mut self,
        namespace: String,
        package: String,
        _interface: String,
    ) -> wasmtime::Result<Resource<CallTargetInterface>> {
        Ok(self
            .table
            .push(CallTargetInterface { namespace, package })?)
    }

    fn drop(&mut self, target: Resource<CallTargetInterface>) -> wasmtime::Result<()> {
        self.table.delete(target)?;
        Ok(())
    }
}

impl lattice::Host for BusView<'_> {
    fn set_link_name(
        &mut self,
        name: String,
        interfaces: Vec<Resource<CallTargetInterface>>,
    ) -> wasmtime::Result<()> {
        for target in interfaces {
            let target = self.table.delete(target)?;
            tracing::debug!(namespace = %target.namespace, package = %target.package, link_name = %name, "link name chosen");
            self.link_names
                .set(&target.namespace, &target.package, &name);
        }
        Ok(())
    }
}

/// Links `wasmcloud:bus/lattice` into `linker`, each store's view given by
/// `view`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> BusView<'_>,
) -> wasmtime::Result<()> {
    lattice::add_to_linker::<T, WasmcloudBus>(linker, view)
}
