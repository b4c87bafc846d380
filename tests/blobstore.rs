//! Blob storage: `wasi:blobstore` in memory and on the filesystem, streamed
//! end to end.
//!
//! Actors store uploads through `wasi:blobstore`; the link's config picks
//! the backend (memory, a directory, a NATS JetStream object store), so
//! containers, objects, ranges, listings and errors must not change with
//! it. One conformance suite runs against each backend.
//! Then the backends' guards: names cannot leave the filesystem root (not
//! through `..`, not through a planted symbolic link), a link's limits
//! refuse the write that would pass them and publish nothing. Then the
//! `blobby` example, a file service built with `wit-bindgen` against the
//! same WIT wasmCloud's components use, stores and serves files with the
//! provider in the host's process and as a process of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use lattice_contract_blobstore::serve::{serve, Sessions};
use lattice_contract_blobstore::wire::{self, BlobOp, BlobReply};
use lattice_contract_blobstore::{BlobError, BlobStore, ObjectId, CHUNK};
use lattice_provider_blobstore::{FsStore, MemoryStore, NatsStore};
use lattice_tests::http_client::HttpClient;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::{fixtures, hosts};

/// `bytes` written as object `name` of `container`, in pieces of `piece`.
async fn put(store: &dyn BlobStore, container: &str, name: &str, bytes: &[u8], piece: usize) {
    let mut writer = store.write(container, name).await.unwrap();
    for chunk in bytes.chunks(piece.max(1)) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    let info = writer.finish().await.unwrap();
    assert_eq!(info.size, bytes.len() as u64);
}

/// Bytes `start..=end` of an object.
async fn get(store: &dyn BlobStore, container: &str, name: &str, start: u64, end: u64) -> Vec<u8> {
    let mut read = store.read(container, name, start, end).await.unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = read.chunks.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= CHUNK, "a chunk of {} bytes", chunk.len());
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body.len() as u64, read.size);
    body
}

/// Every name in `container`, a page of `limit` at a time.
async fn all_names(store: &dyn BlobStore, container: &str, limit: u32) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    loop {
        let page = store
            .list_objects(container, names.last().map(String::as_str), limit)
            .await
            .unwrap();
        assert!(page.names.len() <= limit as usize);
        names.extend(page.names);
        if !page.more {
            return names;
        }
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The conformance suite: what every backend must do alike.
async fn conformance(store: Arc<dyn BlobStore>) {
    let store = store.as_ref();
    // Containers.
    assert!(!store.container_exists("photos").await.unwrap());
    assert!(matches!(
        store.container_info("photos").await,
        Err(BlobError::NotFound(_))
    ));
    let made = store.create_container("photos").await.unwrap();
    assert_eq!(made.name, "photos");
    assert!(matches!(
        store.create_container("photos").await,
        Err(BlobError::Exists(_))
    ));
    assert!(store.container_exists("photos").await.unwrap());
    assert_eq!(store.container_info("photos").await.unwrap().name, "photos");

    // An object of several chunks, written in pieces that are not chunks.
    let big = pattern(3 * CHUNK + 17);
    put(store, "photos", "big.bin", &big, 100_000).await;
    assert_eq!(get(store, "photos", "big.bin", 0, u64::MAX).await, big);
    let info = store.object_info("photos", "big.bin").await.unwrap();
    assert_eq!(
        (info.size, info.container.as_str()),
        (big.len() as u64, "photos")
    );
    // Ranges: both ends included, an end past the object cut to it.
    assert_eq!(get(store, "photos", "big.bin", 10, 20).await, &big[10..=20]);
    let last = big.len() as u64 - 1;
    assert_eq!(
        get(store, "photos", "big.bin", last, last + 1000).await,
        &big[big.len() - 1..]
    );
    assert!(get(store, "photos", "big.bin", last + 5, last + 10)
        .await
        .is_empty());

    // Empty objects, nested names, overwrites.
    put(store, "photos", "empty", b"", 1).await;
    assert!(get(store, "photos", "empty", 0, 0).await.is_empty());
    put(store, "photos", "2026/12/a.png", b"first", 2).await;
    put(store, "photos", "2026/12/a.png", b"second", 3).await;
    assert_eq!(
        get(store, "photos", "2026/12/a.png", 0, u64::MAX).await,
        b"second"
    );

    // A read opened before an overwrite reads what was there.
    let mut before = store
        .read("photos", "2026/12/a.png", 0, u64::MAX)
        .await
        .unwrap();
    put(store, "photos", "2026/12/a.png", b"third!", 6).await;
    let mut seen = Vec::new();
    while let Some(chunk) = before.chunks.next().await {
        seen.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(seen, b"second");

    // An unfinished write publishes nothing.
    let mut abandoned = store.write("photos", "ghost").await.unwrap();
    abandoned.write(Bytes::from_static(b"half")).await.unwrap();
    drop(abandoned);
    assert!(matches!(
        store.object_info("photos", "ghost").await,
        Err(BlobError::NotFound(_))
    ));

    // Listing: sorted, paged, complete.
    for name in ["b", "c", "d"] {
        put(store, "photos", name, name.as_bytes(), 1).await;
    }
    let expected = ["2026/12/a.png", "b", "big.bin", "c", "d", "empty"];
    assert_eq!(all_names(store, "photos", 2).await, expected);
    assert_eq!(all_names(store, "photos", 1000).await, expected);

    // Copy and move, across containers.
    store.create_container("archive").await.unwrap();
    let src = ObjectId {
        container: "photos".into(),
        object: "big.bin".into(),
    };
    let copy = ObjectId {
        container: "archive".into(),
        object: "copy.bin".into(),
    };
    store.copy_object(&src, &copy).await.unwrap();
    assert_eq!(get(store, "archive", "copy.bin", 0, u64::MAX).await, big);
    let moved = ObjectId {
        container: "archive".into(),
        object: "moved/b".into(),
    };
    let b = ObjectId {
        container: "photos".into(),
        object: "b".into(),
    };
    store.move_object(&b, &moved).await.unwrap();
    assert_eq!(get(store, "archive", "moved/b", 0, u64::MAX).await, b"b");
    assert!(matches!(
        store.object_info("photos", "b").await,
        Err(BlobError::NotFound(_))
    ));
    let nowhere = ObjectId {
        container: "missing".into(),
        object: "x".into(),
    };
    assert!(store.copy_object(&src, &nowhere).await.is_err());

    // Deleting: missing objects are no error; clear keeps the container.
    store
        .delete_objects("photos", &["c".into(), "never".into()])
        .await
        .unwrap();
    assert_eq!(
        all_names(store, "photos", 10).await,
        ["2026/12/a.png", "big.bin", "d", "empty"]
    );
    store.clear("photos").await.unwrap();
    assert!(all_names(store, "photos", 10).await.is_empty());
    assert!(store.container_exists("photos").await.unwrap());
    store.delete_container("archive").await.unwrap();
    store.delete_container("archive").await.unwrap();
    assert!(!store.container_exists("archive").await.unwrap());
    assert!(matches!(
        store.write("archive", "x").await.map(drop),
        Err(BlobError::NotFound(_))
    ));
    assert!(matches!(
        store.list_objects("archive", None, 10).await,
        Err(BlobError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_filesystem_backends_behave_alike() {
    conformance(Arc::new(MemoryStore::default())).await;
    let root = tempfile::tempdir().unwrap();
    conformance(Arc::new(FsStore::open(root.path()).await.unwrap())).await;
    // Nothing of the abandoned write or the overwrites is left behind.
    let temporary: Vec<_> = std::fs::read_dir(root.path().join(".lattice-tmp"))
        .unwrap()
        .collect();
    assert!(temporary.is_empty(), "{temporary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_object_store_behaves_alike_and_keeps_no_abandoned_chunks() {
    let nats = NatsServer::start();
    let store = NatsStore::open(&nats.url(), "blobs", None, 1)
        .await
        .unwrap()
        .keeping_replaced_for(Duration::from_secs(2));
    conformance(Arc::new(store.clone())).await;

    // Nothing of the suite's abandoned write, nor of the chunks its
    // overwrites and deletes replaced, is left in the stream.
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("OBJ_blobs").await.unwrap();
    // The abandoned write's chunks, and (2 s after) those its overwrites
    // replaced, are purged in the background.
    lattice_tests::eventually("no chunk left in the object store", async || {
        let chunks: Vec<(String, usize)> = stream
            .info_with_subjects("$O.blobs.C.>")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        chunks.is_empty().then_some(())
    })
    .await;

    // Objects are the object store's own: a plain NATS client reads them.
    put(&store, "photos", "shared.bin", &pattern(300_000), 70_000).await;
    let bucket = js.get_object_store("blobs").await.unwrap();
    let mut object = bucket.get("photos/shared.bin").await.unwrap();
    let mut read = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut object, &mut read)
        .await
        .unwrap();
    assert_eq!(read, pattern(300_000));
}

/// One call through the provider's side of the wire, as another process
/// would make it.
async fn call(store: &dyn BlobStore, sessions: &Sessions, owner: &str, op: &BlobOp) -> BlobReply {
    let answer = serve(store, sessions, owner, &wire::encode(op).unwrap()).await;
    wire::decode(&answer).unwrap()
}

fn refused(reply: BlobReply, part: &str) {
    match reply {
        BlobReply::Error(error) => {
            let text = error.to_string();
            assert!(text.contains(part), "{text:?} lacks {part:?}");
            assert_eq!(text.lines().count(), 1, "{text:?}");
        }
        other => panic!("accepted: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_cannot_leave_the_filesystem_root() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"not yours").unwrap();
    let store = FsStore::open(&root.path().join("blobs")).await.unwrap();
    store.create_container("files").await.unwrap();
    let sessions = Sessions::new();
    let read = |name: &str| BlobOp::ReadOpen {
        container: "files".into(),
        name: name.into(),
        start: 0,
        end: u64::MAX,
    };
    for (name, part) in [
        ("../../secret", "'..'"),
        ("/etc/passwd", "starts with '/'"),
        ("a//b", "empty"),
        ("a\0b", "'\\0'"),
        ("a\\..\\b", "'\\\\'"),
    ] {
        refused(
            call(&store, &sessions, "actor/default", &read(name)).await,
            part,
        );
    }
    for container in ["..", ".lattice-tmp", "a/b", ""] {
        let op = BlobOp::ContainerInfo {
            name: container.into(),
        };
        refused(
            call(&store, &sessions, "actor/default", &op).await,
            "container name",
        );
    }
    refused(
        call(&store, &sessions, "a/default", &read(&"x".repeat(2000))).await,
        "longer than 1024 bytes",
    );

    // A symbolic link planted under the root leads nowhere.
    let files = root.path().join("blobs/files");
    std::os::unix::fs::symlink(outside.path(), files.join("out")).unwrap();
    refused(
        call(&store, &sessions, "a/default", &read("out/secret")).await,
        "symbolic link",
    );
    let write = BlobOp::WriteOpen {
        container: "files".into(),
        name: "out/planted".into(),
    };
    refused(
        call(&store, &sessions, "a/default", &write).await,
        "symbolic link",
    );
    assert!(!outside.path().join("planted").exists());
    // Listing does not follow it either.
    let list = BlobOp::ListObjects {
        container: "files".into(),
        after: None,
        limit: 100,
    };
    assert_eq!(
        call(&store, &sessions, "a/default", &list).await,
        BlobReply::Page(Default::default())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_cross_as_sessions_only_their_link_may_use() {
    let store = MemoryStore::default();
    store.create_container("c").await.unwrap();
    let sessions = Sessions::new();
    let body = pattern(2 * CHUNK + 5);
    let BlobReply::Session { session, .. } = call(
        &store,
        &sessions,
        "alice/default",
        &BlobOp::WriteOpen {
            container: "c".into(),
            name: "o".into(),
        },
    )
    .await
    else {
        panic!("no write session");
    };
    for (seq, piece) in body.chunks(CHUNK).enumerate() {
        let op = BlobOp::WriteChunk {
            session,
            seq: seq as u64,
            bytes: piece.to_vec(),
        };
        // Another actor cannot write into alice's stream.
        refused(
            call(&store, &sessions, "mallory/default", &op).await,
            "another link's",
        );
        assert_eq!(
            call(&store, &sessions, "alice/default", &op).await,
            BlobReply::Done
        );
        // Sent twice (a retry): refused, not appended twice.
        refused(
            call(&store, &sessions, "alice/default", &op).await,
            "was expected",
        );
    }
    let BlobReply::Object(info) = call(
        &store,
        &sessions,
        "alice/default",
        &BlobOp::WriteFinish { session },
    )
    .await
    else {
        panic!("not finished");
    };
    assert_eq!(info.size, body.len() as u64);
    assert!(sessions.is_empty());

    let open = BlobOp::ReadOpen {
        container: "c".into(),
        name: "o".into(),
        start: 0,
        end: u64::MAX,
    };
    let BlobReply::Session { session, size } =
        call(&store, &sessions, "alice/default", &open).await
    else {
        panic!("no read session");
    };
    assert_eq!(size, body.len() as u64);
    refused(
        call(
            &store,
            &sessions,
            "mallory/default",
            &BlobOp::ReadNext { session },
        )
        .await,
        "another link's",
    );
    let mut read = Vec::new();
    loop {
        match call(
            &store,
            &sessions,
            "alice/default",
            &BlobOp::ReadNext { session },
        )
        .await
        {
            BlobReply::Chunk(bytes) if bytes.is_empty() => break,
            BlobReply::Chunk(bytes) => read.extend(bytes),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(read, body);
    assert!(sessions.is_empty(), "a read that ended closes its session");

    // Garbage is an error reply, never a panic.
    for garbage in [&b""[..], b"\x00", &[0xc1; 9], b"\x81\xa8ReadNext\x81"] {
        let answer = serve(&store, &sessions, "a/default", garbage).await;
        refused(wire::decode(&answer).unwrap(), "unreadable blob store call");
    }
}

fn provider_link(config: &[(&str, &str)]) -> lattice_interfaces::Link {
    let mut link = hosts::link("app", "blobs", "wasi:blobstore/blobstore");
    link.target_config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    link
}

/// The store a built-in provider hands out for a link with `config`.
async fn linked_store(config: &[(&str, &str)]) -> Arc<dyn BlobStore> {
    use lattice_interfaces::capability::Capability as _;
    let provider = lattice_provider_blobstore::BlobstoreProvider::new(
        lattice_interfaces::capability::ProviderContext {
            id: hosts::id("blobs"),
            config: Default::default(),
            calls: Arc::new(lattice_tests::hosts::NoCalls),
        },
    );
    let link = provider_link(config);
    provider.put_link(&link).unwrap();
    provider.store(&link).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_links_limits_refuse_the_write_that_passes_them_and_publish_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().display().to_string();
    for backend in [vec![], vec![("root", dir.as_str())]] {
        let mut config = backend.clone();
        config.extend([
            ("max_object_bytes", "1000"),
            ("max_container_bytes", "2500"),
            ("max_objects", "3"),
        ]);
        let store = linked_store(&config).await;
        let store = store.as_ref();
        store.create_container("c").await.unwrap();
        let over = |result: Result<(), BlobError>, part: &str| match result {
            Err(BlobError::OverQuota(why)) => assert!(why.contains(part), "{why}"),
            other => panic!("{config:?}: {other:?}"),
        };
        let try_put = async |name: &str, len: usize| {
            let mut writer = store.write("c", name).await?;
            writer.write(Bytes::from(vec![7u8; len])).await?;
            writer.finish().await.map(drop)
        };
        over(try_put("too-big", 1001).await, "max_object_bytes");
        assert!(matches!(
            store.object_info("c", "too-big").await,
            Err(BlobError::NotFound(_))
        ));
        try_put("a", 1000).await.unwrap();
        try_put("b", 1000).await.unwrap();
        over(try_put("c", 600).await, "max_container_bytes");
        try_put("c", 500).await.unwrap();
        // Replacing an object frees its bytes first; a fourth is refused.
        try_put("c", 400).await.unwrap();
        over(try_put("d", 1).await, "max_objects");
        assert_eq!(all_names(store, "c", 10).await, ["a", "b", "c"]);
    }
    // The in-memory store's own quota.
    let store = linked_store(&[("memory_quota", "100")]).await;
    store.create_container("c").await.unwrap();
    let mut writer = store.write("c", "x").await.unwrap();
    writer.write(Bytes::from(vec![0u8; 60])).await.unwrap();
    let refused = writer.write(Bytes::from(vec![0u8; 60])).await.unwrap_err();
    assert!(refused.to_string().contains("memory_quota"), "{refused}");
    drop(writer);
    // What the abandoned write held is free again.
    put(store.as_ref(), "c", "y", &[1u8; 100], 50).await;
    // A limit that is not a number is refused with the link.
    use lattice_interfaces::capability::Capability as _;
    let provider = lattice_provider_blobstore::BlobstoreProvider::new(
        lattice_interfaces::capability::ProviderContext {
            id: hosts::id("blobs"),
            config: Default::default(),
            calls: Arc::new(lattice_tests::hosts::NoCalls),
        },
    );
    let error = provider
        .put_link(&provider_link(&[("max_objects", "lots")]))
        .unwrap_err();
    assert!(error.contains("max_objects"), "{error}");
}

/// A host running blobby behind HTTP, linked to an in-process blob store
/// with `target_config`.
async fn blobby_host(target_config: &[(&str, &str)]) -> lattice_host::Host {
    let manifest = ManifestBuilder::new()
        .actor("blobby", &fixtures::wasm("blobby"))
        .provider("http", "http-server")
        .provider("blobs", "blobstore")
        .http_link("http", "blobby", "127.0.0.1:0")
        .link("blobby", "blobs", "wasi:blobstore/blobstore")
        .target_config(target_config)
        .build();
    hosts::applied(&manifest).await
}

/// PUTs, GETs, lists and DELETEs through blobby at `url`.
async fn file_service_round_trip(url: &str, size: usize) {
    let client = HttpClient::default();
    let body = pattern(size);
    let put = client
        .request(
            http::Method::PUT,
            &format!("{url}data/big.bin"),
            Bytes::from(body.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        (put.status, put.body.trim()),
        (201, size.to_string().as_str())
    );
    let got = client.get(&format!("{url}data/big.bin")).await.unwrap();
    assert_eq!(got.status, 200);
    assert!(got.bytes == body, "the object read back differs");
    client
        .request(
            http::Method::PUT,
            &format!("{url}note.txt"),
            Bytes::from_static(b"hi"),
        )
        .await
        .unwrap();
    let listing = client.get(url).await.unwrap();
    assert_eq!(listing.body, "data/big.bin\nnote.txt\n");
    let deleted = client
        .request(
            http::Method::DELETE,
            &format!("{url}note.txt"),
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, 204);
    client
        .get_reply(&format!("{url}note.txt"))
        .await
        .assert_error(404, "does not exist");
    client
        .request(
            http::Method::PUT,
            &format!("{url}a//b"),
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap()
        .assert_error(400, "object name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobby_stores_and_serves_files_in_memory_and_on_disk() {
    let host = blobby_host(&[]).await;
    file_service_round_trip(&hosts::first_url(&host), 3 * CHUNK + 1).await;
    host.shutdown(Duration::from_secs(1)).await;

    let root = tempfile::tempdir().unwrap();
    let host = blobby_host(&[
        ("root", &root.path().display().to_string()),
        ("max_object_bytes", &(4 << 20).to_string()),
    ])
    .await;
    let url = hosts::first_url(&host);
    file_service_round_trip(&url, 2 << 20).await;
    assert!(root.path().join("files/data/big.bin").is_file());
    // Over the link's limit: 413, and nothing is published.
    let client = HttpClient::default();
    client
        .request(
            http::Method::PUT,
            &format!("{url}huge"),
            Bytes::from(vec![1u8; 5 << 20]),
        )
        .await
        .unwrap()
        .assert_error(413, "max_object_bytes");
    client
        .get_reply(&format!("{url}huge"))
        .await
        .assert_error(404, "does not exist");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_without_a_blobstore_link_gets_no_storage() {
    let manifest = ManifestBuilder::new()
        .actor("blobby", &fixtures::wasm("blobby"))
        .provider("http", "http-server")
        .provider("blobs", "blobstore")
        .http_link("http", "blobby", "127.0.0.1:0")
        .build();
    let host = hosts::applied(&manifest).await;
    let reply = HttpClient::default()
        .get_reply(&hosts::first_url(&host))
        .await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body.contains("wasi:blobstore"), "{}", reply.body);
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobby_streams_through_a_blobstore_provider_process() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    hosts::start_fixture(&host, "blobby", "blobby").await;
    let url = hosts::serve_http(&host, &lattice, "blobby").await;
    let root = tempfile::tempdir().unwrap();
    hosts::start_provider_process(&lattice, "blobs", "lattice-provider-blobstore", &[]).await;
    let mut link = hosts::link("blobby", "blobs", "wasi:blobstore/blobstore");
    link.target_config
        .insert("root".into(), root.path().display().to_string());
    lattice.put_link(link).await.unwrap();
    // The process starts in the background: list until it answers.
    HttpClient::default()
        .get_until_ok(&url, Duration::from_secs(30))
        .await;
    file_service_round_trip(&url, 5 * CHUNK + 3).await;
    assert!(root.path().join("files/data/big.bin").is_file());
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobby_keeps_files_in_a_nats_object_store() {
    let nats = NatsServer::start();
    let host = blobby_host(&[("bucket", "files"), ("nats_url", &nats.url())]).await;
    file_service_round_trip(&hosts::first_url(&host), 4 * CHUNK + 9).await;
    host.shutdown(Duration::from_secs(1)).await;
    // A second host on the same bucket sees the same files.
    let again = blobby_host(&[("bucket", "files"), ("nats_url", &nats.url())]).await;
    let listing = HttpClient::default()
        .get(&hosts::first_url(&again))
        .await
        .unwrap();
    assert_eq!(listing.body, "data/big.bin\n");
    again.shutdown(Duration::from_secs(1)).await;
}

/// The multi-cluster example's layout: a hub with JetStream in domain
/// `hub` and two leaf clusters, each with a host running blobby on its own
/// server, both storing in one object store bucket in the hub's domain.
/// What is written through east is read through west once east is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_written_through_east_are_read_through_west_after_east_dies() {
    let (hub, leaf_port) = NatsServer::start_hub();
    let mut east_nats = NatsServer::start_leaf("east", leaf_port);
    let west_nats = NatsServer::start_leaf("west", leaf_port);
    let in_hub = |url: &str| {
        let url = url.to_string();
        async move {
            blobby_host(&[
                ("bucket", "files"),
                ("nats_url", &url),
                ("js_domain", "hub"),
            ])
            .await
        }
    };
    let east = in_hub(&east_nats.url()).await;
    let west = in_hub(&west_nats.url()).await;

    let size = 3 * CHUNK + 5;
    let client = HttpClient::default();
    let put = client
        .request(
            http::Method::PUT,
            &format!("{}photos/cat.jpg", hosts::first_url(&east)),
            Bytes::from(pattern(size)),
        )
        .await
        .unwrap();
    assert_eq!(put.status, 201, "{}", put.body);

    east_nats.kill();
    east.shutdown(Duration::ZERO).await;

    let west_url = hosts::first_url(&west);
    let got = client
        .get(&format!("{west_url}photos/cat.jpg"))
        .await
        .unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(
        got.bytes == pattern(size),
        "the object read through west differs"
    );
    assert_eq!(
        client.get(&west_url).await.unwrap().body,
        "photos/cat.jpg\n"
    );
    // And the hub's store is where it lives: not in either leaf's domain.
    let js = async_nats::jetstream::new(hub.client().await);
    let bucket = js.get_object_store("files").await.unwrap();
    assert_eq!(
        bucket.info("files/photos/cat.jpg").await.unwrap().size,
        size,
        "the hub's object store holds the object"
    );
    west.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_mid_stream_holds_nothing_once_gone() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let root = tempfile::tempdir().unwrap();
    let host = blobby_host(&[("root", &root.path().display().to_string())]).await;
    let url = hosts::first_url(&host);
    let size = 24 << 20;
    let put = HttpClient::default()
        .request(
            http::Method::PUT,
            &format!("{url}large"),
            Bytes::from(pattern(size)),
        )
        .await
        .unwrap();
    assert_eq!(put.status, 201, "{}", put.body);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // Readers that take the head and 64 KiB of the body, then go.
    for _ in 0..20 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket
            .write_all(b"GET /large HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut taken = vec![0u8; 64 * 1024];
        socket.read_exact(&mut taken).await.unwrap();
        assert!(taken.starts_with(b"HTTP/1.1 200"));
        drop(socket);
    }
    // Each stalled reader's instance ends (its writes fail), and with it
    // its stream of the object: none is left in use.
    let actor = host.actor(&hosts::id("blobby")).unwrap();
    lattice_tests::eventually("every stalled reader's instance to end", async || {
        (actor.instances_in_use() == 0).then_some(())
    })
    .await;
    // And the object is whole for a reader that reads it all.
    let got = HttpClient::default()
        .get(&format!("{url}large"))
        .await
        .unwrap();
    assert!(got.bytes == pattern(size), "the object read back differs");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_left_idle_is_dropped_and_its_write_publishes_nothing() {
    let store = MemoryStore::default();
    store.create_container("c").await.unwrap();
    let sessions = Sessions::with_idle(Duration::from_millis(200));
    let open = BlobOp::WriteOpen {
        container: "c".into(),
        name: "left".into(),
    };
    let BlobReply::Session { session, .. } = call(&store, &sessions, "a/default", &open).await
    else {
        panic!("no write session");
    };
    let chunk = BlobOp::WriteChunk {
        session,
        seq: 0,
        bytes: vec![1; 1000],
    };
    assert_eq!(
        call(&store, &sessions, "a/default", &chunk).await,
        BlobReply::Done
    );
    // The caller goes away; the provider sweeps.
    lattice_tests::eventually("the idle stream to be dropped", async || {
        sessions.sweep();
        sessions.is_empty().then_some(())
    })
    .await;
    refused(
        call(
            &store,
            &sessions,
            "a/default",
            &BlobOp::WriteFinish { session },
        )
        .await,
        "was idle",
    );
    assert!(matches!(
        store.object_info("c", "left").await,
        Err(BlobError::NotFound(_))
    ));
    // The bytes it held are the store's again: the whole quota is free.
    put(
        &store,
        "c",
        "full",
        &vec![0u8; lattice_provider_blobstore::DEFAULT_QUOTA as usize],
        1 << 20,
    )
    .await;
}
