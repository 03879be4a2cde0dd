-- Rows `netadmin import` absorbed from this database's own rlm_sql tables
-- into Netily's columns (password, status, expiry, MAC binding, the plan's
-- Simultaneous-Use, a membership of daloRADIUS's disabled group): moved here
-- instead of deleted, so nothing is lost, and they no longer act at login
-- (migration 0018) beside what Netily now holds. Readable like radcheck
-- (it may hold passwords, as radcheck does).
CREATE TABLE rlm_sql_imported (
    id           bigserial PRIMARY KEY,
    source_table text NOT NULL CHECK (source_table IN ('radcheck', 'radusergroup')),
    username     text NOT NULL,
    groupname    text,
    attribute    text,
    op           text,
    value        text,
    priority     integer,
    imported_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rlm_sql_imported_username_idx ON rlm_sql_imported (username);
