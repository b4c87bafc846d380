//! The in-memory backend: the embedded default. Each link has a store of
//! its own (actors do not see each other's keys) holding at most
//! [`MEMORY_QUOTA`] bytes of keys and values.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use lattice_interfaces::keyvalue::{page, parse_counter, KeyValue, KvError, KvFuture};

/// Most bytes of keys and values one in-memory store holds.
pub const MEMORY_QUOTA: usize = 64 << 20;

/// Buckets in memory, and the bytes they hold.
#[derive(Default)]
struct Buckets {
    buckets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    used: usize,
}

impl Buckets {
    /// Puts `value` at `key` of `bucket` if the store stays within its quota.
    fn put(&mut self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let values = self.buckets.entry(bucket.to_string()).or_default();
        let freed = values.get(key).map_or(0, |old| key.len() + old.len());
        let used = self.used - freed + key.len() + value.len();
        if used > MEMORY_QUOTA {
            return Err(KvError::Other(format!(
                "the in-memory store is full ({} MiB); use Redis or NATS KV for more",
                MEMORY_QUOTA >> 20
            )));
        }
        values.insert(key.to_string(), value);
        self.used = used;
        Ok(())
    }
}

/// One link's buckets in memory.
#[derive(Default)]
pub struct MemoryStore {
    buckets: Mutex<Buckets>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut Buckets) -> T) -> T {
        f(&mut self.buckets.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl KeyValue for MemoryStore {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        let value = self.with(|b| b.buckets.get(bucket).and_then(|b| b.get(key)).cloned());
        Box::pin(async move { Ok(value) })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()> {
        let result = self.with(|b| b.put(bucket, key, value));
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        self.with(|b| {
            if let Some(old) = b
                .buckets
                .get_mut(bucket)
                .and_then(|values| values.remove(key))
            {
                b.used -= key.len() + old.len();
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        let exists = self.with(|b| b.buckets.get(bucket).is_some_and(|b| b.contains_key(key)));
        Box::pin(async move { Ok(exists) })
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)> {
        let keys = self.with(|b| {
            b.buckets
                .get(bucket)
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default()
        });
        Box::pin(async move { Ok(page(keys, cursor)) })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64> {
        let result = self.with(|b| {
            let current = b
                .buckets
                .get(bucket)
                .and_then(|values| values.get(key))
                .map(|v| parse_counter(v))
                .transpose()?
                .unwrap_or(0);
            let next = current.saturating_add(delta);
            b.put(bucket, key, next.to_string().into_bytes())?;
            Ok(next)
        });
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build.
    use super::*;

    #[tokio::test]
    async fn a_store_holds_at_most_its_quota_counting_overwrites_and_deletes_once() {
        let store = MemoryStore::default();
        let half = vec![0u8; MEMORY_QUOTA / 2];
        store.set("b", "one", half.clone()).await.unwrap();
        // Overwriting a value frees the old one first.
        store.set("b", "one", half.clone()).await.unwrap();
        let refused = store.set("b", "two", half.clone()).await.unwrap_err();
        assert!(
            refused.to_string().contains("in-memory store is full"),
            "{refused}"
        );
        assert!(!store.exists("b", "two").await.unwrap());
        // A delete gives the room back.
        store.delete("b", "one").await.unwrap();
        store.set("b", "two", half).await.unwrap();
        assert_eq!(store.increment("b", "n", 2).await.unwrap(), 2);
        assert_eq!(store.increment("b", "n", 1).await.unwrap(), 3);
    }
}
