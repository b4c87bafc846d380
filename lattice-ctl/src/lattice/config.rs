//! Named config: `config put`, `config get` and `config del`.

use lattice_interfaces::protocol::control::*;
use lattice_interfaces::ComponentId;

use super::send;
use crate::client::{ConnArgs, LatticeClient};
use crate::output::{print_list, Format};

/// `config put NAME KEY=VALUE...`.
pub async fn put_config(
    conn: &ConnArgs,
    name: &ComponentId,
    values: &[(String, String)],
    format: Format,
) -> anyhow::Result<()> {
    let request = ConfigPut {
        name: name.clone(),
        values: values.iter().cloned().collect(),
    };
    send::<op::PutConfig>(
        conn,
        None,
        &request,
        format,
        &format!("config {name} stored"),
    )
    .await
}

/// `config get NAME`.
pub async fn get_config(conn: &ConnArgs, name: &ComponentId, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let values = client
        .request::<op::GetConfig>(None, &ConfigName { name: name.clone() })
        .await?;
    let rows = values
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    print_list(format, &values, (&["KEY", "VALUE"], "values"), rows)
}

/// `config del NAME`.
pub async fn delete_config(
    conn: &ConnArgs,
    name: &ComponentId,
    format: Format,
) -> anyhow::Result<()> {
    let request = ConfigName { name: name.clone() };
    send::<op::DeleteConfig>(
        conn,
        None,
        &request,
        format,
        &format!("config {name} deleted"),
    )
    .await
}
