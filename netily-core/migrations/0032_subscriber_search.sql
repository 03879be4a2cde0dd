-- The console's subscriber search: text anywhere in the username, full name,
-- phone or MAC binding (db::customers::list_customers, SEARCH_TEXT). A
-- pattern with a leading % cannot use a b-tree; a trigram index answers it
-- at a million subscribers in milliseconds instead of a scan of them all.
-- pg_trgm ships with PostgreSQL and is a trusted extension: the database's
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX customers_search_idx ON customers USING gin (
    (username || ' ' || full_name || ' ' || coalesce(phone, '') || ' ' || coalesce(mac_binding, ''))
    gin_trgm_ops);

-- A subscriber's current address (search by IP): open sessions only.
CREATE INDEX radacct_open_framed_ip_idx ON radacct (framedipaddress) WHERE acctstoptime IS NULL;
