//! `lattice-provider-messaging-nats`: the messaging provider as its own
//! process on the lattice. Actors publish and make requests through it over
//! consumer links; messages on a handler link's subscriptions are handed to
//! its actor over the lattice. A host starts it and writes its host data on
//! stdin; see `lattice-provider-sdk`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lattice_provider_sdk::main_with(lattice_provider_messaging_nats::MessagingProvider::new).await
}
