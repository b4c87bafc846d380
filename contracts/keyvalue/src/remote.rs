//! A key-value store behind a provider that is not in this process (a
//! provider process, or another host), reached with one sealed or signed
//! invocation per operation.

use std::sync::Arc;

use lattice_interfaces::keyvalue::wire::{KvOp, KvReply};
use lattice_interfaces::keyvalue::{KeyValue, KvError, KvFuture};
use lattice_interfaces::Link;

use lattice_contract::RemoteInvoke;

/// The interface key-value calls travel as.
const INTERFACE: &str = "wasi:keyvalue/store";

/// A key-value provider process, as a [`KeyValue`].
pub(crate) struct RemoteKeyValue {
    pub(crate) remote: Arc<dyn RemoteInvoke>,
    pub(crate) link: Link,
}

impl RemoteKeyValue {
    async fn call(&self, function: &str, op: KvOp) -> Result<KvReply, KvError> {
        let payload = rmp_serde::to_vec_named(&op).map_err(|e| KvError::Other(e.to_string()))?;
        let answer = self
            .remote
            .call_raw(
                self.link.clone(),
                INTERFACE.to_string(),
                function.to_string(),
                payload,
            )
            .await
            .map_err(|e| KvError::Other(e.message))?;
        match rmp_serde::from_slice(&answer) {
            Ok(KvReply::Error(reason)) => Err(KvError::Other(reason)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(KvError::Other(format!(
                "malformed answer from {}: {e}",
                self.link.target
            ))),
        }
    }
}

fn unexpected(reply: KvReply) -> KvError {
    KvError::Other(format!("unexpected answer {reply:?}"))
}

impl KeyValue for RemoteKeyValue {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match self
                .call(
                    "get",
                    KvOp::Get {
                        bucket: bucket.into(),
                        key: key.into(),
                    },
                )
                .await?
            {
                KvReply::Value(value) => Ok(value.map(serde_bytes::ByteBuf::into_vec)),
                other => Err(unexpected(other)),
            }
        })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()> {
        Box::pin(async move {
            match self
                .call(
                    "set",
                    KvOp::Set {
                        bucket: bucket.into(),
                        key: key.into(),
                        value,
                    },
                )
                .await?
            {
                KvReply::Done => Ok(()),
                other => Err(unexpected(other)),
            }
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        Box::pin(async move {
            match self
                .call(
                    "delete",
                    KvOp::Delete {
                        bucket: bucket.into(),
                        key: key.into(),
                    },
                )
                .await?
            {
                KvReply::Done => Ok(()),
                other => Err(unexpected(other)),
            }
        })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        Box::pin(async move {
            match self
                .call(
                    "exists",
                    KvOp::Exists {
                        bucket: bucket.into(),
                        key: key.into(),
                    },
                )
                .await?
            {
                KvReply::Bool(b) => Ok(b),
                other => Err(unexpected(other)),
            }
        })
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)> {
        Box::pin(async move {
            match self
                .call(
                    "list-keys",
                    KvOp::ListKeys {
                        bucket: bucket.into(),
                        cursor,
                    },
                )
                .await?
            {
                KvReply::Keys(keys, cursor) => Ok((keys, cursor)),
                other => Err(unexpected(other)),
            }
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64> {
        Box::pin(async move {
            match self
                .call(
                    "increment",
                    KvOp::Increment {
                        bucket: bucket.into(),
                        key: key.into(),
                        delta,
                    },
                )
                .await?
            {
                KvReply::Number(n) => Ok(n),
                other => Err(unexpected(other)),
            }
        })
    }
}
