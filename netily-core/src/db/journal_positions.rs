//! How far a node's journal is applied, kept in PostgreSQL with what was
//! applied (migration 0025): the same transaction writes both, so a replay
//! after a crash starts exactly after the last rows stored.

use postgres::GenericClient;

use super::error::{q, Result};
use crate::journal::Position;

/// The position saved for `journal_id`, if any.
pub fn load(conn: &mut impl GenericClient, journal_id: &str) -> Result<Option<Position>> {
    let row = conn
        .query_opt(
            "SELECT segment, \"offset\" FROM journal_positions WHERE journal_id = $1",
            &[&journal_id],
        )
        .map_err(q("reading the journal's applied position"))?;
    Ok(row.map(|r| Position {
        segment: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
        offset: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
    }))
}

/// Saves `at` for `journal_id`; call it in the transaction that stored
/// the records up to `at`.
pub fn save(conn: &mut impl GenericClient, journal_id: &str, at: Position) -> Result<()> {
    let segment = i64::try_from(at.segment).unwrap_or(i64::MAX);
    let offset = i64::try_from(at.offset).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO journal_positions (journal_id, segment, \"offset\")
         VALUES ($1, $2, $3)
         ON CONFLICT (journal_id) DO UPDATE
            SET segment = EXCLUDED.segment, \"offset\" = EXCLUDED.\"offset\", updated_at = now()",
        &[&journal_id, &segment, &offset],
    )
    .map_err(q("saving the journal's applied position"))?;
    Ok(())
}
