//! `lattice-provider-http-server`: the HTTP server provider as its own
//! process on the lattice. It listens where its links say and hands each
//! request to the link's actor, on whichever host runs it. A host starts it
//! and writes its host data on stdin; see `lattice-provider-sdk`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lattice_provider_sdk::main_with(lattice_provider_http_server::HttpServerProvider::new).await
}
