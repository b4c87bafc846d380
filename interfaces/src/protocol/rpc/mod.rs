//! Calls between lattice processes on `lattice.<L>.rpc.<target>`.
//!
//! - [`envelope`]: the signed invocation, its answer and large-payload
//!   references, byte for byte as they cross NATS;
//! - [`value`]: component values as arguments and results.
//!
//! Verification, replay memory, chunked payloads, the caller and the callee
//! loop live in the `lattice-rpc` crate.

pub mod envelope;
pub mod value;

pub use envelope::{
    unix_ms, BodyRef, EnvelopeError, GrantRevocation, GrantTerms, Invocation, InvocationResponse,
    ProviderGrant, SignedInvocation, CHUNK_SIZE, INLINE_LIMIT, MAX_PAYLOAD_BYTES,
};
pub use value::WireVal;
