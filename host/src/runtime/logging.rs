//! `wasi:logging/logging` for every actor: each call becomes a `tracing`
//! event of the host at the guest's level, tagged with the actor and the
//! guest's context, within the same per-actor budget as its stdout and
//! stderr (lines cut at 4 KiB, 200 a second).

use lattice_interfaces::ComponentId;
use wasmtime::component::HasData;

use super::guest_output::{cut, OutputBudget, MAX_LINE};

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../interfaces/wit/logging",
        world: "wasi:logging/imports",
        imports: { default: trappable },
    });
}

use generated::wasi::logging::logging::{self, Level};

/// Longest context kept, in bytes.
const MAX_CONTEXT: usize = 256;

/// The borrowed view the bindings work on.
pub struct LoggingView<'a> {
    pub(crate) actor: &'a ComponentId,
    pub(crate) instance: u64,
    pub(crate) budget: &'a OutputBudget,
}

/// [`HasData`] for the logging bindings.
pub struct WasiLogging;

impl HasData for WasiLogging {
    type Data<'a> = LoggingView<'a>;
}

impl logging::Host for LoggingView<'_> {
    fn log(&mut self, level: Level, context: String, message: String) -> wasmtime::Result<()> {
        if !self.budget.allow(self.actor) {
            return Ok(());
        }
        let (actor, context, message) = (
            self.actor,
            cut(&context, MAX_CONTEXT),
            cut(&message, MAX_LINE),
        );
        let shown = match level {
            Level::Trace => {
                tracing::trace!(%actor, context, "{message}");
                "trace"
            }
            Level::Debug => {
                tracing::debug!(%actor, context, "{message}");
                "debug"
            }
            Level::Info => {
                tracing::info!(%actor, context, "{message}");
                "info"
            }
            Level::Warn => {
                tracing::warn!(%actor, context, "{message}");
                "warn"
            }
            Level::Error => {
                tracing::error!(%actor, context, "{message}");
                "error"
            }
            Level::Critical => {
                tracing::error!(%actor, context, critical = true, "{message}");
                "error"
            }
        };
        self.budget
            .record(actor, self.instance, shown, context, message);
        Ok(())
    }
}

/// Links `wasi:logging/logging` into `linker`, each store's view given by
/// `view`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> LoggingView<'_>,
) -> wasmtime::Result<()> {
    logging::add_to_linker::<T, WasiLogging>(linker, view)
}
