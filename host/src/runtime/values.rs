//! Component values as they cross hosts: [`Val`] to and from the wire's
//! `WireVal`, every WIT type but resources, futures and streams.

use lattice_interfaces::protocol::rpc::WireVal;
use lattice_interfaces::{ErrorKind, InvocationError};
use wasmtime::component::Val;

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

/// Decodes wire values from an untrusted invocation payload.
pub fn decode_wire(bytes: &[u8]) -> Result<Vec<WireVal>, InvocationError> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        InvocationError::new(
            ErrorKind::BadRequest,
            format!("malformed call arguments: {e}"),
        )
    })
}

/// Decodes values from an untrusted invocation payload, holding room in
/// `budget` for what they take in memory (`what` names them in a refusal):
/// every wire value while decoding, then every component value (one per
/// byte of a `list<u8>`) for as long as the caller keeps the reservation.
///
/// # Errors
///
/// The payload is malformed, or the budget has no room for it.
pub fn decode_values_within(
    bytes: &[u8],
    budget: &crate::budget::PayloadBudget,
    what: &str,
) -> Result<(Vec<Val>, crate::budget::Reserved), InvocationError> {
    // At worst one wire value per byte of the payload.
    let decoding = budget.reserve(
        bytes.len().saturating_mul(std::mem::size_of::<WireVal>()),
        what,
    )?;
    let wire = decode_wire(bytes)?;
    let held = budget.reserve(
        wire.iter().map(value_bytes).fold(0, usize::saturating_add),
        what,
    )?;
    let values = wire.into_iter().map(from_wire).collect();
    drop(decoding);
    Ok((values, held))
}

/// What `value` takes in memory as a component value.
fn value_bytes(value: &WireVal) -> usize {
    const VAL: usize = std::mem::size_of::<Val>();
    let sum = |values: &[WireVal]| {
        values
            .iter()
            .map(value_bytes)
            .fold(0, usize::saturating_add)
    };
    let boxed = |value: &Option<Box<WireVal>>| value.as_deref().map_or(0, value_bytes);
    let inner = match value {
        WireVal::String(text) | WireVal::Enum(text) => text.len(),
        WireVal::List(values) | WireVal::FixedList(values) | WireVal::Tuple(values) => sum(values),
        WireVal::Bytes(bytes) => bytes.len().saturating_mul(VAL),
        WireVal::Map(entries) => entries
            .iter()
            .map(|(k, v)| value_bytes(k).saturating_add(value_bytes(v)))
            .fold(0, usize::saturating_add),
        WireVal::Record(fields) => fields
            .iter()
            .map(|(name, v)| name.len().saturating_add(value_bytes(v)))
            .fold(0, usize::saturating_add),
        WireVal::Variant(case, v) => case.len().saturating_add(boxed(v)),
        WireVal::Option(v) | WireVal::Result(Ok(v) | Err(v)) => boxed(v),
        WireVal::Flags(flags) => flags
            .iter()
            .map(|flag| flag.len().saturating_add(std::mem::size_of::<String>()))
            .fold(0, usize::saturating_add),
        _ => 0,
    };
    VAL.saturating_add(inner)
}
