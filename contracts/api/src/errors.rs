//! The refusals every contract words the same way.

use std::fmt::Display;

use lattice_interfaces::{ComponentId, ErrorKind, InvocationError, Link};

/// `target` is `what` ("a provider", "an actor"), which does not serve
/// `interface`.
pub fn cannot_serve(target: &ComponentId, what: &str, interface: impl Display) -> InvocationError {
    InvocationError::new(
        ErrorKind::NotFound,
        format!("\"{target}\" is {what}, which does not serve {interface}"),
    )
}

/// A provider in this process failed the call.
pub fn provider_failed(link: &Link, error: impl Display) -> InvocationError {
    InvocationError::new(
        ErrorKind::Failed,
        format!("provider \"{}\": {error}", link.target),
    )
}
