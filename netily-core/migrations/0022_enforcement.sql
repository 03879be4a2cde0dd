-- Live enforcement (issue 11): what each online session was granted, as
-- far as the enforcer knows, and every CoA/Disconnect-Request it sent.

-- One row per session the enforcer has seen online. `reply` is what the
-- router enforces now ([[name, value], ...]: the login's reply, then each
-- acknowledged CoA folded in); Session-Timeout counts from `granted_at`.
-- `ended_at`: a Disconnect-Request was acknowledged (nothing more is sent
-- for the session; its Stop is on its way). Rows of closed sessions are
-- deleted by the enforcer.
CREATE TABLE session_grants (
    acctuniqueid text PRIMARY KEY,
    username     text NOT NULL,
    reply        jsonb NOT NULL,
    granted_at   timestamptz NOT NULL,
    ended_at     timestamptz
);

-- The outcome of every request sent to a router (the enforcer's and
-- netadmin's), for `netadmin coa-log` and `customer show`.
CREATE TABLE coa_log (
    id            bigserial PRIMARY KEY,
    sent_at       timestamptz NOT NULL DEFAULT now(),
    username      text NOT NULL,
    acctuniqueid  text,
    acctsessionid text,
    nasipaddress  inet,
    router        text,
    -- The address:port it was sent to ('' when there was nowhere to send).
    target        text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('coa', 'disconnect')),
    -- 'Name=value, ...' of a CoA-Request.
    attributes    text NOT NULL DEFAULT '',
    why           text NOT NULL,
    -- ack | nak | no-answer | bad-answer | no-route | error
    outcome       text NOT NULL,
    error_cause   integer,
    attempts      integer NOT NULL DEFAULT 0,
    rtt_ms        integer,
    -- enforcer | netadmin
    origin        text NOT NULL
);
CREATE INDEX coa_log_username_idx ON coa_log (username, id DESC);
CREATE INDEX coa_log_sent_at_idx ON coa_log USING brin (sent_at);
