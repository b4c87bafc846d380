//! Calls between lattice processes on `lattice.<L>.rpc.<target>`.
//!
//! - [`envelope`]: the signed invocation, its answer and large-payload
//!   references, byte for byte as they cross NATS;
//! - [`seal`]: the MAC hosts that share a cluster seed seal invocations
//!   with instead of signing them;
//! - [`value`]: component values as arguments and results.
//!
//! Verification, replay memory, chunked payloads, the caller and the callee
//! loop live in the `lattice-rpc` crate.

pub mod envelope;
pub mod seal;
pub mod value;

pub use envelope::{
    unix_ms, BodyRef, EnvelopeError, GrantRevocation, GrantTerms, Invocation, InvocationResponse,
    ProviderGrant, SignedInvocation, CHUNK_SIZE, INLINE_LIMIT, MAX_PAYLOAD_BYTES,
};
pub use seal::{MacKey, MAC_LEN};
pub use value::WireVal;
