//! Calls from one actor to another over a custom WIT interface.
//!
//! An actor's imports that the host does not provide itself (anything
//! outside `wasi:`) are defined per actor as dynamic functions. When the
//! guest calls one, the host's [`ActorCalls`] router resolves the link from
//! this actor for that interface and calls the target, in-process or on
//! another host. Values cross hosts as [`WireVal`]; resources cannot.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lattice_interfaces::protocol::rpc::WireVal;
use lattice_interfaces::{ComponentId, ErrorKind, InvocationError};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Val};
use wasmtime::Engine;

use super::ctx::ActorCtx;

/// The future of a routed call.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<Val>, InvocationError>> + Send>>;

/// Routes calls from actors to the targets of their links.
pub trait ActorCalls: Send + Sync + 'static {
    /// Calls `function` of `interface` (`ns:pkg/iface`, no version) on the
    /// target of `source`'s link for it.
    fn call(
        &self,
        source: ComponentId,
        interface: String,
        function: String,
        params: Vec<Val>,
    ) -> CallFuture;

    /// The key-value store behind `source`'s link for `wasi:keyvalue`.
    fn keyvalue(&self, source: &ComponentId) -> KeyValueFuture;

    /// The messaging client behind `source`'s link for
    /// `wasmcloud:messaging/consumer`.
    fn messaging(&self, source: &ComponentId) -> MessagingClientFuture;

    /// How `source`'s requests leave over its link for
    /// `wasi:http/outgoing-handler`, or why it may not send any.
    fn outgoing_http(&self, source: &ComponentId) -> Result<super::OutgoingHttp, InvocationError>;
}

/// The future of [`ActorCalls::messaging`].
pub type MessagingClientFuture = Pin<
    Box<
        dyn Future<
                Output = Result<
                    Arc<dyn lattice_interfaces::messaging::MessagingClient>,
                    InvocationError,
                >,
            > + Send,
    >,
>;

/// The future of [`ActorCalls::keyvalue`].
pub type KeyValueFuture = Pin<
    Box<
        dyn Future<
                Output = Result<Arc<dyn lattice_interfaces::keyvalue::KeyValue>, InvocationError>,
            > + Send,
    >,
>;

/// `ns:pkg/iface@1.0` without its version.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(name, _)| name)
}

/// Imports the host implements itself (through providers), by prefix.
const HOST_PROVIDED: [&str; 2] = ["wasi:", "wasmcloud:messaging/"];

/// Defines, in `linker`, every instance import of `component` outside
/// `wasi:` as functions that route through the store's [`ActorCalls`].
pub(crate) fn define_routed_imports(
    linker: &mut Linker<ActorCtx>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        if HOST_PROVIDED.iter().any(|prefix| name.starts_with(prefix)) {
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
                let (interface, function) = (interface.clone(), function_name.clone());
                let params = params.to_vec();
                Box::new(async move {
                    let Some(router) = router else {
                        wasmtime::bail!(
                            "{interface}#{function}: this host routes no calls between actors"
                        );
                    };
                    let values = router
                        .call(source, interface.clone(), function.clone(), params)
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

fn unsupported(what: &str) -> InvocationError {
    InvocationError::new(ErrorKind::BadRequest, format!("{what} cannot cross hosts"))
}

/// A component value for the wire; resources, futures and streams refused.
pub fn to_wire(value: &Val) -> Result<WireVal, InvocationError> {
    let list = |values: &[Val]| values.iter().map(to_wire).collect::<Result<Vec<_>, _>>();
    let boxed = |value: &Option<Box<Val>>| {
        value
            .as_deref()
            .map(to_wire)
            .transpose()
            .map(|v| v.map(Box::new))
    };
    Ok(match value {
        Val::Bool(v) => WireVal::Bool(*v),
        Val::S8(v) => WireVal::S8(*v),
        Val::U8(v) => WireVal::U8(*v),
        Val::S16(v) => WireVal::S16(*v),
        Val::U16(v) => WireVal::U16(*v),
        Val::S32(v) => WireVal::S32(*v),
        Val::U32(v) => WireVal::U32(*v),
        Val::S64(v) => WireVal::S64(*v),
        Val::U64(v) => WireVal::U64(*v),
        Val::Float32(v) => WireVal::F32(*v),
        Val::Float64(v) => WireVal::F64(*v),
        Val::Char(v) => WireVal::Char(*v),
        Val::String(v) => WireVal::String(v.clone()),
        Val::List(v) => match bytes_of(v) {
            Some(bytes) => WireVal::Bytes(bytes),
            None => WireVal::List(list(v)?),
        },
        Val::FixedLengthList(v) => WireVal::FixedList(list(v)?),
        Val::Map(v) => WireVal::Map(
            v.iter()
                .map(|(k, v)| Ok((to_wire(k)?, to_wire(v)?)))
                .collect::<Result<_, InvocationError>>()?,
        ),
        Val::Record(v) => WireVal::Record(
            v.iter()
                .map(|(n, v)| Ok((n.clone(), to_wire(v)?)))
                .collect::<Result<_, InvocationError>>()?,
        ),
        Val::Tuple(v) => WireVal::Tuple(list(v)?),
        Val::Variant(case, v) => WireVal::Variant(case.clone(), boxed(v)?),
        Val::Enum(v) => WireVal::Enum(v.clone()),
        Val::Option(v) => WireVal::Option(boxed(v)?),
        Val::Result(Ok(v)) => WireVal::Result(Ok(boxed(v)?)),
        Val::Result(Err(v)) => WireVal::Result(Err(boxed(v)?)),
        Val::Flags(v) => WireVal::Flags(v.clone()),
        Val::Resource(_) => return Err(unsupported("a resource")),
        Val::Future(_) => return Err(unsupported("a future")),
        Val::Stream(_) => return Err(unsupported("a stream")),
        Val::ErrorContext(_) => return Err(unsupported("an error context")),
    })
}

/// The bytes of a non-empty list whose every element is a `u8`.
fn bytes_of(values: &[Val]) -> Option<Vec<u8>> {
    if values.is_empty() {
        return None;
    }
    values
        .iter()
        .map(|v| match v {
            Val::U8(b) => Some(*b),
            _ => None,
        })
        .collect()
}

/// A component value from the wire. Types are checked by wasmtime when the
/// value is passed to a function.
pub fn from_wire(value: WireVal) -> Val {
    let list = |values: Vec<WireVal>| values.into_iter().map(from_wire).collect::<Vec<_>>();
    let boxed = |value: Option<Box<WireVal>>| value.map(|v| Box::new(from_wire(*v)));
    match value {
        WireVal::Bool(v) => Val::Bool(v),
        WireVal::S8(v) => Val::S8(v),
        WireVal::U8(v) => Val::U8(v),
        WireVal::S16(v) => Val::S16(v),
        WireVal::U16(v) => Val::U16(v),
        WireVal::S32(v) => Val::S32(v),
        WireVal::U32(v) => Val::U32(v),
        WireVal::S64(v) => Val::S64(v),
        WireVal::U64(v) => Val::U64(v),
        WireVal::F32(v) => Val::Float32(v),
        WireVal::F64(v) => Val::Float64(v),
        WireVal::Char(v) => Val::Char(v),
        WireVal::String(v) => Val::String(v),
        WireVal::List(v) => Val::List(list(v)),
        WireVal::FixedList(v) => Val::FixedLengthList(list(v)),
        WireVal::Bytes(v) => Val::List(v.into_iter().map(Val::U8).collect()),
        WireVal::Map(v) => Val::Map(
            v.into_iter()
                .map(|(k, v)| (from_wire(k), from_wire(v)))
                .collect(),
        ),
        WireVal::Record(v) => Val::Record(v.into_iter().map(|(n, v)| (n, from_wire(v))).collect()),
        WireVal::Tuple(v) => Val::Tuple(list(v)),
        WireVal::Variant(case, v) => Val::Variant(case, boxed(v)),
        WireVal::Enum(v) => Val::Enum(v),
        WireVal::Option(v) => Val::Option(boxed(v)),
        WireVal::Result(Ok(v)) => Val::Result(Ok(boxed(v))),
        WireVal::Result(Err(v)) => Val::Result(Err(boxed(v))),
        WireVal::Flags(v) => Val::Flags(v),
    }
}

/// Encodes values for an invocation payload.
pub fn encode_values(values: &[Val]) -> Result<Vec<u8>, InvocationError> {
    let wire = values.iter().map(to_wire).collect::<Result<Vec<_>, _>>()?;
    rmp_serde::to_vec_named(&wire)
        .map_err(|e| InvocationError::new(ErrorKind::Failed, e.to_string()))
}

/// Decodes values from an untrusted invocation payload.
pub fn decode_values(bytes: &[u8]) -> Result<Vec<Val>, InvocationError> {
    let wire: Vec<WireVal> = rmp_serde::from_slice(bytes).map_err(|e| {
        InvocationError::new(
            ErrorKind::BadRequest,
            format!("malformed call arguments: {e}"),
        )
    })?;
    Ok(wire.into_iter().map(from_wire).collect())
}

/// Shares the router between the runtime and each store.
pub(crate) type SharedCalls = Arc<std::sync::OnceLock<Arc<dyn ActorCalls>>>;
