-- How far each RADIUS node's local journal has been applied, stored in the
-- same transaction as what was applied: after a crash the node replays
-- from here, so nothing is written twice even where the rows have no key
-- to deduplicate on (radpostauth). One row per journal (its random id, kept
-- in the journal directory), so several nodes never share a row.
CREATE TABLE journal_positions (
    journal_id text PRIMARY KEY,
    segment bigint NOT NULL CHECK (segment >= 0),
    "offset" bigint NOT NULL CHECK ("offset" >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
