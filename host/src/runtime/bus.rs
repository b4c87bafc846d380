//! `wasmcloud:bus/lattice` 1.0.0 and 2.0.0 for every actor (2.0.0, which
//! components built with the `wasmcloud-component` 0.2 crate import,
//! answers an error where 1.0.0 traps): `set-link-name` picks the
//! named link an instance's next calls over an interface's package use
//! (`wasi:keyvalue` to a cache, say, where the default link goes to a
//! database). The choice lasts for the instance; each name is checked
//! against the actor's links at call time, as wasmCloud does.

use lattice_contract::{ContractHost, ContractView};
use wasmtime::component::{HasData, Resource};

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

mod generated_2 {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../interfaces/wit/bus-2",
        world: "wasmcloud:bus/imports",
        imports: { default: trappable },
        with: {
            "wasmcloud:bus/lattice.call-target-interface": super::CallTargetInterface,
        },
    });
}

use generated::wasmcloud::bus::lattice;
use generated_2::wasmcloud::bus::lattice as lattice_2;

/// An interface an actor names to `set-link-name`.
#[derive(Debug)]
pub struct CallTargetInterface {
    namespace: String,
    package: String,
}

/// Longest namespace, package or interface name an actor may give, in
/// bytes (WIT names are short words).
pub const MAX_NAME: usize = 256;

impl CallTargetInterface {
    /// What the host holds for it, in bytes.
    fn held(&self) -> usize {
        std::mem::size_of::<Self>() + self.namespace.len() + self.package.len()
    }
}

/// [`HasData`] for the bus bindings.
pub struct WasmcloudBus;

impl HasData for WasmcloudBus {
    type Data<'a> = ContractView<'a>;
}

impl lattice::HostCallTargetInterface for ContractView<'_> {
    fn new(
        &mut self,
        namespace: String,
        package: String,
        interface: String,
    ) -> wasmtime::Result<Resource<CallTargetInterface>> {
        for (what, name) in [
            ("namespace", &namespace),
            ("package", &package),
            ("interface", &interface),
        ] {
            if name.len() > MAX_NAME {
                wasmtime::bail!(
                    "wasmcloud:bus: a {what} name of {} bytes is longer than {MAX_NAME}",
                    name.len()
                );
            }
        }
        let target = CallTargetInterface { namespace, package };
        let held = target.held();
        self.allowance
            .hold(held)
            .map_err(|refused| wasmtime::Error::msg(format!("wasmcloud:bus: {refused}")))?;
        self.table.push(target).map_err(|e| {
            self.allowance.release(held);
            e.into()
        })
    }

    fn drop(&mut self, target: Resource<CallTargetInterface>) -> wasmtime::Result<()> {
        let target = self.table.delete(target)?;
        self.allowance.release(target.held());
        Ok(())
    }
}

/// `set-link-name` of either version: `Ok(Err(reason))` when the name is
/// refused, `Err` when the guest's handles are wrong.
fn set_link_name(
    view: &mut ContractView<'_>,
    name: &str,
    interfaces: Vec<Resource<CallTargetInterface>>,
) -> wasmtime::Result<Result<(), String>> {
    if name.len() > MAX_NAME {
        return Ok(Err(format!(
            "wasmcloud:bus: a link name of {} bytes is longer than {MAX_NAME}",
            name.len()
        )));
    }
    for target in interfaces {
        let target = view.table.delete(target)?;
        view.allowance.release(target.held());
        // What the instance's choice for the package holds: its key and
        // name, nothing once it goes back to the default link.
        let entry = |chosen: &str| {
            if chosen == lattice_interfaces::link::DEFAULT_LINK_NAME {
                0
            } else {
                target.namespace.len() + target.package.len() + 1 + chosen.len()
            }
        };
        let before = entry(&view.link_names.of(&target.namespace, &target.package));
        let after = entry(name);
        if after > before {
            if let Err(refused) = view.allowance.hold(after - before) {
                return Ok(Err(format!("wasmcloud:bus: {refused}")));
            }
        } else {
            view.allowance.release(before - after);
        }
        tracing::debug!(namespace = %target.namespace, package = %target.package, link_name = %name, "link name chosen");
        view.link_names
            .set(&target.namespace, &target.package, name);
    }
    Ok(Ok(()))
}

impl lattice::Host for ContractView<'_> {
    fn set_link_name(
        &mut self,
        name: String,
        interfaces: Vec<Resource<CallTargetInterface>>,
    ) -> wasmtime::Result<()> {
        // 1.0.0 has no error to answer: a refusal traps.
        set_link_name(self, &name, interfaces)?.map_err(wasmtime::Error::msg)
    }
}

impl lattice_2::HostCallTargetInterface for ContractView<'_> {
    fn new(
        &mut self,
        namespace: String,
        package: String,
        interface: String,
    ) -> wasmtime::Result<Resource<CallTargetInterface>> {
        lattice::HostCallTargetInterface::new(self, namespace, package, interface)
    }

    fn drop(&mut self, target: Resource<CallTargetInterface>) -> wasmtime::Result<()> {
        lattice::HostCallTargetInterface::drop(self, target)
    }
}

impl lattice_2::Host for ContractView<'_> {
    fn set_link_name(
        &mut self,
        name: String,
        interfaces: Vec<Resource<CallTargetInterface>>,
    ) -> wasmtime::Result<Result<(), String>> {
        set_link_name(self, &name, interfaces)
    }
}

/// Links `wasmcloud:bus/lattice` into `linker`, served on each store's
/// [`ContractView`] (its table, link names and memory allowance).
pub(crate) fn add_to_linker<T: ContractHost>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    lattice::add_to_linker::<T, WasmcloudBus>(linker, T::contract_view)?;
    lattice_2::add_to_linker::<T, WasmcloudBus>(linker, T::contract_view)
}
