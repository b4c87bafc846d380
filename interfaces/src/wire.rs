//! The codec of every contract's wire types: MessagePack with named
//! fields, as calls to providers and their answers cross the lattice.

use crate::{ErrorKind, InvocationError};

/// Decodes the arguments of a call from untrusted bytes; garbage is a
/// `bad_request` naming `what` was malformed.
///
/// # Errors
///
/// When `payload` is not a `T`.
pub fn decode<T: serde::de::DeserializeOwned>(
    payload: &[u8],
    what: &str,
) -> Result<T, InvocationError> {
    rmp_serde::from_slice(payload).map_err(|e| {
        InvocationError::new(ErrorKind::BadRequest, format!("malformed {what} call: {e}"))
    })
}

/// Encodes arguments or an answer.
///
/// # Errors
///
/// When `value` cannot be encoded.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, InvocationError> {
    rmp_serde::to_vec_named(value)
        .map_err(|e| InvocationError::new(ErrorKind::Failed, e.to_string()))
}
