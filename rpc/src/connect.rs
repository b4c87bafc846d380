//! Connecting to the lattice's NATS with the credentials a host holds:
//! shared by hosts and provider processes so both authenticate the same way.

use std::time::Duration;

use lattice_interfaces::protocol::provider::NatsCredentials;

/// Connects to `url` (comma-separated servers) as `name` with `credentials`,
/// its reply subjects under `inbox_prefix` when given (a provider process
/// gets replies on an inbox prefix of its own, so NATS permissions can keep
/// it out of everyone else's). Fails at once when the server cannot be
/// reached; once connected, the client reconnects by itself.
///
/// # Errors
///
/// One line naming what failed: a credentials file that cannot be read, or
/// the connection itself.
pub async fn connect(
    url: &str,
    credentials: &NatsCredentials,
    name: &str,
    inbox_prefix: Option<&str>,
) -> Result<async_nats::Client, String> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5));
    if let Some(prefix) = inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    if let Some(creds) = &credentials.creds_file {
        options = options
            .credentials_file(creds)
            .await
            .map_err(|e| format!("cannot read credentials file {creds}: {e}"))?;
    }
    if let Some(seed) = &credentials.nkey_seed {
        options = options.nkey(nkey_seed(seed)?);
    }
    if let (Some(user), Some(password)) = (&credentials.user, &credentials.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if credentials.tls {
        options = options.require_tls(true);
    }
    if let Some(ca) = &credentials.ca_file {
        options = options.add_root_certificates(ca.into());
    }
    if let (Some(cert), Some(key)) = (&credentials.tls_cert_file, &credentials.tls_key_file) {
        options = options.add_client_certificate(cert.into(), key.into());
    }
    let servers: Vec<&str> = url.split(',').map(str::trim).collect();
    options
        .connect(servers.as_slice())
        .await
        .map_err(|e| e.to_string())
}

/// A NATS user seed given inline (`SU…`) or a file holding one.
fn nkey_seed(given: &str) -> Result<String, String> {
    let given = given.trim();
    if given.starts_with("SU") {
        return Ok(given.to_string());
    }
    std::fs::read_to_string(given)
        .map(|seed| seed.trim().to_string())
        .map_err(|e| format!("cannot read the nkey seed file {given}: {e}"))
}

pub use lattice_interfaces::redacted;

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn credentials_in_urls_never_reach_messages() {
        assert_eq!(
            redacted("nats://alice:s3cret@10.0.0.1:4222, tls://tok@h:1"),
            "nats://***@10.0.0.1:4222,tls://***@h:1"
        );
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redacted("user:pw@host:4222"), "***@host:4222");
    }
}
