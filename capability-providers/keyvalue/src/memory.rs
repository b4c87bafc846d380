//! The in-memory backend: the embedded default. Each link has a store of
//! its own (actors do not see each other's keys) holding at most
//! [`MEMORY_QUOTA`] bytes of bucket names, keys and values (each bucket
//! counted with [`BUCKET_OVERHEAD`] bytes beside its name).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use lattice_interfaces::keyvalue::{page, parse_counter, KeyValue, KvError, KvFuture};

/// Most bytes of keys and values one in-memory store holds.
pub const MEMORY_QUOTA: usize = 64 << 20;

/// What one bucket costs beside its name and contents, as the quota counts
/// it (its map and its entry in the store's).
pub const BUCKET_OVERHEAD: usize = 128;

/// Buckets in memory, and the bytes they hold.
#[derive(Default)]
struct Buckets {
    buckets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    used: usize,
}

impl Buckets {
    /// Puts `value` at `key` of `bucket` if the store stays within its quota.
    /// Checked before anything is created: a refused put leaves no empty
    /// bucket behind.
    fn put(&mut self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let (freed, new_bucket) = match self.buckets.get(bucket) {
            Some(values) => (values.get(key).map_or(0, |old| key.len() + old.len()), 0),
            None => (0, bucket.len() + BUCKET_OVERHEAD),
        };
        let used = self.used - freed + new_bucket + key.len() + value.len();
        if used > MEMORY_QUOTA {
            return Err(KvError::Other(format!(
                "the in-memory store is full ({} MiB); use Redis or NATS KV for more",
                MEMORY_QUOTA >> 20
            )));
        }
        self.buckets
            .entry(bucket.to_string())
            .or_default()
            .insert(key.to_string(), value);
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
            let Some(values) = b.buckets.get_mut(bucket) else {
                return;
            };
            if let Some(old) = values.remove(key) {
                b.used = b.used.saturating_sub(key.len() + old.len());
            }
            // An emptied bucket goes, and its name with it.
            if values.is_empty() {
                b.buckets.remove(bucket);
                b.used = b.used.saturating_sub(bucket.len() + BUCKET_OVERHEAD);
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

    #[tokio::test]
    async fn bucket_names_count_and_a_refused_put_creates_no_bucket() {
        let store = MemoryStore::default();
        // Names alone fill the store: empty keys and values in buckets of
        // 1 MiB names.
        let mut made = 0;
        loop {
            let name = format!("{made:08}{}", "n".repeat((1 << 20) - 8));
            if store.set(&name, "", Vec::new()).await.is_err() {
                assert!(!store.exists(&name, "").await.unwrap());
                break;
            }
            made += 1;
            assert!(made <= MEMORY_QUOTA >> 20, "names are not counted");
        }
        assert_eq!(
            made,
            (MEMORY_QUOTA >> 20) - 1,
            "the overheads fill the last MiB"
        );
        let held = store.with(|b| b.buckets.len());
        assert_eq!(held, made, "the refused put left a bucket behind");
        // Emptying a bucket gives its name's room back.
        store
            .delete(&format!("{:08}{}", 0, "n".repeat((1 << 20) - 8)), "")
            .await
            .unwrap();
        store.set("again", "", Vec::new()).await.unwrap();
    }
}
