//! Why an actor could not be loaded: one line naming the actor, the file
//! and the reason.

/// Why an actor could not be loaded. Each names the actor, the file and the
/// reason in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorLoadError {
    /// The file could not be read.
    #[error("actor \"{id}\": cannot read {origin}: {reason}")]
    Read {
        /// Actor id.
        id: String,
        /// Where the component was to come from.
        origin: String,
        /// What the OS said.
        reason: String,
    },
    /// The host may not read the file: outside its allowed directories,
    /// not a regular file, or over its size limit.
    #[error("actor \"{id}\": {reason}")]
    Reference {
        /// Actor id.
        id: String,
        /// Why, naming the file.
        reason: String,
    },
    /// It reads named config that does not exist.
    #[error("actor \"{id}\": named config \"{name}\" does not exist (write it with `lattice-ctl config put {name} KEY=VALUE`, or in a manifest's [config.{name}] table)")]
    MissingConfig {
        /// Actor id.
        id: String,
        /// The entry's name.
        name: String,
    },
    /// The bytes are not WebAssembly at all.
    #[error("actor \"{id}\": {origin} is not a WebAssembly file")]
    NotWasm {
        /// Actor id.
        id: String,
        /// Where the component came from.
        origin: String,
    },
    /// A core module where a component is needed.
    #[error("actor \"{id}\": {origin} is a core WebAssembly module, not a component: build it for wasm32-wasip2 or wrap it with `wasm-tools component new`")]
    CoreModule {
        /// Actor id.
        id: String,
        /// Where the module came from.
        origin: String,
    },
    /// Wasmtime refused to compile it.
    #[error("actor \"{id}\": {origin} does not compile: {reason}")]
    Compile {
        /// Actor id.
        id: String,
        /// Where the component came from.
        origin: String,
        /// What wasmtime said.
        reason: String,
    },
    /// It imports something this host does not provide.
    #[error("actor \"{id}\": {origin} cannot be linked: {reason}")]
    Imports {
        /// Actor id.
        id: String,
        /// Where the component came from.
        origin: String,
        /// What wasmtime said.
        reason: String,
    },
    /// Its claims do not satisfy the host's trust policy.
    #[error("actor \"{id}\": {origin} refused: {reason}")]
    Refused {
        /// Actor id.
        id: String,
        /// Where the component came from.
        origin: String,
        /// Why, e.g. `not signed` or `hash mismatch`.
        reason: String,
    },
    /// Its limits exceed what the host allows.
    #[error("actor \"{id}\": {reason}")]
    Limits {
        /// Actor id.
        id: String,
        /// Which limit and the host's cap.
        reason: String,
    },
}
