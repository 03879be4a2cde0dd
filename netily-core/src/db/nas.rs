//! The FreeRADIUS `nas` table: which clients may talk to the RADIUS server.

use postgres::GenericClient;
use serde::Serialize;

use super::error::{q, Result};

#[derive(Debug, Clone, Serialize)]
pub struct NasRow {
    pub id: i32,
    pub nasname: String,
    pub shortname: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Only filled when the caller asked for secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub router: Option<String>,
    pub description: Option<String>,
}

pub fn list_nas(conn: &mut impl GenericClient, show_secrets: bool) -> Result<Vec<NasRow>> {
    let rows = conn
        .query(
            "SELECT n.id, n.nasname, n.shortname, n.type,
                    CASE WHEN $1 THEN n.secret END, r.name, n.description
               FROM nas n LEFT JOIN routers r ON r.id = n.router_id
              ORDER BY n.shortname, n.id",
            &[&show_secrets],
        )
        .map_err(q("listing NAS entries"))?;
    Ok(rows
        .iter()
        .map(|r| NasRow {
            id: r.get(0),
            nasname: r.get(1),
            shortname: r.get(2),
            kind: r.get(3),
            secret: r.get(4),
            router: r.get(5),
            description: r.get(6),
        })
        .collect())
}
