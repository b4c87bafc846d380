//! `msg pub` and `msg request`: plain NATS on the lattice's server.

use anyhow::Context as _;

use crate::client::{ConnArgs, LatticeClient};
use crate::output::Format;

/// `msg pub SUBJECT BODY`: one message on the lattice's NATS.
pub async fn publish(conn: &ConnArgs, subject: &str, body: &str) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    client
        .nats()
        .publish(subject.to_string(), body.to_string().into())
        .await
        .with_context(|| format!("cannot publish on {subject}"))?;
    client.nats().flush().await?;
    Ok(())
}

/// `msg request SUBJECT BODY`: prints the reply's body (JSON: subject and
/// body), or says that nobody answered.
pub async fn request(
    conn: &ConnArgs,
    subject: &str,
    body: &str,
    format: Format,
) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let timeout = conn.answer_timeout();
    let reply = tokio::time::timeout(
        timeout,
        client
            .nats()
            .request(subject.to_string(), body.to_string().into()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no reply on {subject} within {timeout:?}"))?
    .map_err(|e| anyhow::anyhow!("request on {subject} failed: {e}"))?;
    let text = String::from_utf8_lossy(&reply.payload).into_owned();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "subject": reply.subject.as_str(), "body": text })
        ),
        Format::Table | Format::Wadm => println!("{text}"),
    }
    Ok(())
}
