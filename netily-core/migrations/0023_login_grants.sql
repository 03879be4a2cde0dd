-- What a login was granted: rlm_netily's Access-Accept reply, the latest per
-- subscriber, NAS and station, written with the authentication log. The
-- enforcer takes it as what the router enforces for a session it did not
-- see start (a session that began while no enforcer ran, or a change
-- committed between the Accept and the Start).
CREATE TABLE login_grants (
    username         text NOT NULL,
    nasipaddress     inet NOT NULL,
    callingstationid text NOT NULL DEFAULT '',
    reply            jsonb NOT NULL,
    granted_at       timestamptz NOT NULL,
    PRIMARY KEY (username, nasipaddress, callingstationid)
);
