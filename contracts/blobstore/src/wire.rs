//! Blob store calls to a provider in another process or on another host, as
//! invocation payloads (MessagePack, one [`BlobOp`] in, one [`BlobReply`]
//! out): the function of each invocation is [`FUNCTION`].
//!
//! Streams cross as sessions, one chunk ([`crate::CHUNK`] bytes at most)
//! per invocation, so neither side ever holds a whole object:
//!
//! - writing: `WriteOpen` gives a session id; `WriteChunk`s follow in
//!   order (each numbered: a chunk sent twice is refused, not appended
//!   twice); `WriteFinish` publishes the object; `WriteAbort`, or a session
//!   left idle, drops it and nothing is published;
//! - reading: `ReadOpen` gives a session id and the range's size;
//!   `ReadNext` gives the next chunk, empty at the end (which closes the
//!   session); `ReadClose` ends it early.
//!
//! A session belongs to the link it was opened over: another actor cannot
//! write into or read from it.

use serde::{Deserialize, Serialize};

use crate::{BlobError, ContainerInfo, ObjectId, ObjectInfo, ObjectPage};

/// The function of every blob store invocation.
pub const FUNCTION: &str = "blobstore";

/// One operation; fields are the WIT parameters of the same names.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobOp {
    CreateContainer {
        name: String,
    },
    ContainerInfo {
        name: String,
    },
    DeleteContainer {
        name: String,
    },
    ContainerExists {
        name: String,
    },
    ListObjects {
        container: String,
        after: Option<String>,
        limit: u32,
    },
    ObjectInfo {
        container: String,
        name: String,
    },
    DeleteObjects {
        container: String,
        names: Vec<String>,
    },
    Clear {
        container: String,
    },
    CopyObject {
        src: ObjectId,
        dest: ObjectId,
    },
    MoveObject {
        src: ObjectId,
        dest: ObjectId,
    },
    ReadOpen {
        container: String,
        name: String,
        start: u64,
        end: u64,
    },
    ReadNext {
        session: u64,
    },
    ReadClose {
        session: u64,
    },
    WriteOpen {
        container: String,
        name: String,
    },
    WriteChunk {
        session: u64,
        /// 0 for the first chunk, then one more each.
        seq: u64,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    WriteFinish {
        session: u64,
    },
    WriteAbort {
        session: u64,
    },
}

/// Its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobReply {
    /// Done.
    Done,
    /// Yes or no.
    Bool(bool),
    /// A container.
    Container(ContainerInfo),
    /// An object.
    Object(ObjectInfo),
    /// A page of names.
    Page(ObjectPage),
    /// A session opened: its id, and for a read the range's size.
    Session {
        /// The session.
        session: u64,
        /// For a read: how many bytes it will give.
        size: u64,
    },
    /// The next chunk of a read; empty at its end.
    Chunk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The operation failed.
    Error(BlobError),
}

/// `op` as an invocation payload.
///
/// # Errors
///
/// Never for these types; a [`BlobError::Backend`] if the encoder fails.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, BlobError> {
    rmp_serde::to_vec_named(value)
        .map_err(|e| BlobError::Backend(format!("cannot encode a blob store call: {e}")))
}

/// A payload read back.
///
/// # Errors
///
/// [`BlobError::Invalid`] when it is not a `T`.
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, BlobError> {
    rmp_serde::from_slice(payload)
        .map_err(|e| BlobError::Invalid(format!("unreadable blob store call: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_read_back_and_garbage_is_an_error() {
        let ops = [
            BlobOp::WriteChunk {
                session: 7,
                seq: 0,
                bytes: vec![1, 2, 3],
            },
            BlobOp::CopyObject {
                src: ObjectId {
                    container: "a".into(),
                    object: "x".into(),
                },
                dest: ObjectId {
                    container: "b".into(),
                    object: "y".into(),
                },
            },
        ];
        for op in ops {
            assert_eq!(decode::<BlobOp>(&encode(&op).unwrap()).unwrap(), op);
        }
        for garbage in [&b""[..], b"\xc1", b"\x92\x01", &[0xff; 64]] {
            let error = decode::<BlobOp>(garbage).unwrap_err();
            assert!(error.to_string().starts_with("unreadable blob store call"));
        }
    }
}
