//! `lattice-provider-blobstore`: the blob storage provider as its own
//! process on the lattice. A host starts it and writes its host data on
//! stdin; see `lattice-provider-sdk`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lattice_provider_sdk::main_with(lattice_provider_blobstore::BlobstoreProvider::new).await
}
