//! The in-process API of `wasi:keyvalue/{store,atomics,batch}`: what a
//! key-value provider implements once, for every backend.
//!
//! Values are bytes. Counters kept by [`KeyValue::increment`] are stored as
//! decimal ASCII (`b"42"`), the same on every backend, so a counter written
//! through one backend reads the same through `get`.

use std::future::Future;
use std::pin::Pin;

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The bucket does not exist.
    #[error("no such bucket")]
    NoSuchStore,
    /// The caller may not use the bucket.
    #[error("access denied")]
    AccessDenied,
    /// The backend failed.
    #[error("{0}")]
    Other(String),
}

/// The future of a key-value operation.
pub type KvFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'a>>;

/// Most keys one `list_keys` page returns.
pub const PAGE_SIZE: usize = 1000;

/// A key-value store of buckets.
pub trait KeyValue: Send + Sync + 'static {
    /// The value at `key`, if any.
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>>;
    /// Stores `value` at `key`.
    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()>;
    /// Removes `key`; removing a missing key succeeds.
    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()>;
    /// Whether `key` has a value.
    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool>;
    /// A page of keys after `cursor` (sorted), and the cursor of the next page.
    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)>;
    /// Adds `delta` to the decimal number at `key` (0 when absent),
    /// atomically, and returns the new value.
    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64>;
}

/// Parses a stored counter.
pub fn parse_counter(value: &[u8]) -> Result<u64, KvError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| KvError::Other("the value is not a decimal counter".into()))
}

/// Pages `keys` (sorted) from `cursor`.
pub fn page(mut keys: Vec<String>, cursor: Option<u64>) -> (Vec<String>, Option<u64>) {
    keys.sort();
    let start = usize::try_from(cursor.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(keys.len());
    let end = start.saturating_add(PAGE_SIZE).min(keys.len());
    let next = (end < keys.len()).then_some(end as u64);
    (keys.drain(start..end).collect(), next)
}

/// Key-value calls to a provider process, as invocation payloads
/// (MessagePack): the function is the operation's name.
pub mod wire {
    use serde::{Deserialize, Serialize};

    /// One operation; fields are the WIT parameters of the same names.
    #[allow(missing_docs)]
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum KvOp {
        /// `get`.
        Get { bucket: String, key: String },
        /// `set`.
        Set {
            bucket: String,
            key: String,
            #[serde(with = "serde_bytes")]
            value: Vec<u8>,
        },
        /// `delete`.
        Delete { bucket: String, key: String },
        /// `exists`.
        Exists { bucket: String, key: String },
        /// `list-keys`.
        ListKeys { bucket: String, cursor: Option<u64> },
        /// `increment`.
        Increment {
            bucket: String,
            key: String,
            delta: u64,
        },
    }

    /// Its result.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum KvReply {
        /// A value or none.
        Value(Option<serde_bytes::ByteBuf>),
        /// Done.
        Done,
        /// Yes or no.
        Bool(bool),
        /// A page of keys.
        Keys(Vec<String>, Option<u64>),
        /// A counter.
        Number(u64),
        /// The operation failed.
        Error(String),
    }
}
