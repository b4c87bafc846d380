//! The in-memory backend: the embedded default.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use lattice_interfaces::keyvalue::{page, parse_counter, KeyValue, KvFuture};

/// Buckets in memory.
#[derive(Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, BTreeMap<String, Vec<u8>>>) -> T) -> T {
        f(&mut self.buckets.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl KeyValue for MemoryStore {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        let value = self.with(|b| b.get(bucket).and_then(|b| b.get(key)).cloned());
        Box::pin(async move { Ok(value) })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()> {
        self.with(|b| {
            b.entry(bucket.to_string())
                .or_default()
                .insert(key.to_string(), value)
        });
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        self.with(|b| b.get_mut(bucket).map(|b| b.remove(key)));
        Box::pin(async { Ok(()) })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        let exists = self.with(|b| b.get(bucket).is_some_and(|b| b.contains_key(key)));
        Box::pin(async move { Ok(exists) })
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)> {
        let keys = self.with(|b| {
            b.get(bucket)
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default()
        });
        Box::pin(async move { Ok(page(keys, cursor)) })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64> {
        let result = self.with(|b| {
            let values = b.entry(bucket.to_string()).or_default();
            let current = values
                .get(key)
                .map(|v| parse_counter(v))
                .transpose()?
                .unwrap_or(0);
            let next = current.saturating_add(delta);
            values.insert(key.to_string(), next.to_string().into_bytes());
            Ok(next)
        });
        Box::pin(async move { result })
    }
}
