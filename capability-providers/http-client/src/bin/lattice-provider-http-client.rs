//! `lattice-provider-http-client`: outgoing HTTP as its own process on the
//! lattice. Actors reach it over `wasi:http/outgoing-handler` links; each
//! link's config sets its timeouts. A host starts it and writes its host
//! data on stdin; see `lattice-provider-sdk`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lattice_provider_sdk::main_with(lattice_provider_http_client::HttpClientProvider::new).await
}
