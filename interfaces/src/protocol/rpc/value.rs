//! Component values as they cross the lattice: arguments and results of
//! calls between actors on different hosts, MessagePack-encoded
//! [`WireVal`]s. Every WIT type crosses but resources, futures and streams,
//! which cannot leave their host.

use serde::{Deserialize, Serialize};

/// A component-model value on the wire: every WIT type but resources,
/// futures and streams, which cannot leave their host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WireVal {
    /// `bool`.
    Bool(bool),
    /// `s8`.
    S8(i8),
    /// `u8`.
    U8(u8),
    /// `s16`.
    S16(i16),
    /// `u16`.
    U16(u16),
    /// `s32`.
    S32(i32),
    /// `u32`.
    U32(u32),
    /// `s64`.
    S64(i64),
    /// `u64`.
    U64(u64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `char`.
    Char(char),
    /// `string`.
    String(String),
    /// `list<T>`.
    List(Vec<WireVal>),
    /// `map<K, V>`.
    Map(Vec<(WireVal, WireVal)>),
    /// A record: fields by name, in order.
    Record(Vec<(String, WireVal)>),
    /// A tuple.
    Tuple(Vec<WireVal>),
    /// A variant case and its payload.
    Variant(String, Option<Box<WireVal>>),
    /// An enum case.
    Enum(String),
    /// `option<T>`.
    Option(Option<Box<WireVal>>),
    /// `result<T, E>`.
    Result(Result<Option<Box<WireVal>>, Option<Box<WireVal>>>),
    /// Flags that are set.
    Flags(Vec<String>),
    /// A fixed-length list.
    FixedList(Vec<WireVal>),
    /// A non-empty `list<u8>`, as bytes: a message body or a blob crosses
    /// at its own size rather than a value per byte.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// Encodes component values for the wire.
///
/// # Errors
///
/// When a value cannot be encoded.
pub fn encode(values: &[WireVal]) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(values).map_err(|e| format!("cannot encode values: {e}"))
}

/// Decodes component values from untrusted bytes.
///
/// # Errors
///
/// When `bytes` are not a list of values.
pub fn decode(bytes: &[u8]) -> Result<Vec<WireVal>, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("malformed values: {e}"))
}
