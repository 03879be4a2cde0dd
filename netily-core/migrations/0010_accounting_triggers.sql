-- Session changes carry the session, and Netily's own accounting writer does
-- the triggers' work itself, once per batch.
--
-- Why: on the benchmark, most of the database's accounting work was the
-- radacct triggers of 0005/0006, run per packet: a PL/pgSQL call and a few
-- queries each (the usage upsert, the cap check), and for every Start and
-- Stop a NOTIFY with only the username, after which every server re-read the
-- whole subscriber record. Now:
-- * the session notifications carry the session itself, which the snapshots
--   apply in memory with no query:
--     'session+ {"username":..,"acct_unique_id":..,"nas_ip":..,"calling_station_id":..,"started_at":..}'
--     'session- {"username":..,"acct_unique_id":..}'
--   (the fields of netily_core::model::OpenSession, as the record loads
--   them). Changes of an open session a login's answer depends on (a
--   Calling-Station-Id or start time learned late, a renamed user) send a
--   fresh 'session+' (and a 'session-' for the old username);
-- * a connection that sets netily.accounting_writer = 'on' (the RADIUS
--   module's writer, see netily_core::db::accounting) skips these triggers:
--   its one statement per batch counts usage, checks the caps and notifies
--   for the whole batch, with the same payloads. Every other writer (netadmin,
--   a hand-written UPDATE, stock rlm_sql) still goes through the triggers.
--
-- NOTIFY payloads stop at 8000 bytes: a longer one (a username no
-- subscriber can have, since netadmin refuses it) is not sent.

CREATE FUNCTION netily_session_opened(username text, unique_id text, nas inet,
                                      calling_station_id text, started timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'session+ ' || json_build_object(
        'username', username, 'acct_unique_id', unique_id, 'nas_ip', host(nas),
        'calling_station_id', calling_station_id,
        'started_at', coalesce(floor(extract(epoch FROM started))::bigint, 0))::text
$$;

CREATE FUNCTION netily_session_closed(username text, unique_id text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'session- ' || json_build_object('username', username, 'acct_unique_id', unique_id)::text
$$;

-- (STABLE like json_build_object, so PostgreSQL inlines them into a query.)

-- Sends a change notification unless it is too long to send.
CREATE FUNCTION netily_send(payload text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('netily_changed', payload) WHERE octet_length(payload) < 8000
$$;

CREATE FUNCTION netily_notify_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.acctstoptime IS NULL AND OLD.username IS NOT NULL
       AND (TG_OP = 'DELETE' OR NEW.acctstoptime IS NOT NULL
            OR NEW.username IS DISTINCT FROM OLD.username
            OR NEW.acctuniqueid IS DISTINCT FROM OLD.acctuniqueid) THEN
        PERFORM netily_send(netily_session_closed(OLD.username, OLD.acctuniqueid));
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.acctstoptime IS NULL AND NEW.username IS NOT NULL THEN
        PERFORM netily_send(netily_session_opened(NEW.username, NEW.acctuniqueid,
            NEW.nasipaddress, NEW.callingstationid, NEW.acctstarttime));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER radacct_open_notify ON radacct;
DROP TRIGGER radacct_close_notify ON radacct;
DROP TRIGGER radacct_delete_notify ON radacct;
DROP TRIGGER radacct_usage ON radacct;
DROP TRIGGER usage_cap_notify ON usage;

CREATE TRIGGER radacct_open_notify AFTER INSERT ON radacct
    FOR EACH ROW WHEN (NEW.acctstoptime IS NULL AND NEW.username IS NOT NULL
                       AND current_setting('netily.accounting_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify_session();

-- Interim-Updates move only counters and times: they match none of this.
CREATE TRIGGER radacct_change_notify
    AFTER UPDATE OF acctstoptime, username, acctuniqueid, nasipaddress, callingstationid,
                    acctstarttime ON radacct
    FOR EACH ROW WHEN (
        ((OLD.acctstoptime IS NULL) <> (NEW.acctstoptime IS NULL)
         OR (NEW.acctstoptime IS NULL
             AND (OLD.username, OLD.acctuniqueid, OLD.nasipaddress, OLD.callingstationid,
                  OLD.acctstarttime)
                 IS DISTINCT FROM
                 (NEW.username, NEW.acctuniqueid, NEW.nasipaddress, NEW.callingstationid,
                  NEW.acctstarttime)))
        AND current_setting('netily.accounting_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify_session();

CREATE TRIGGER radacct_delete_notify AFTER DELETE ON radacct
    FOR EACH ROW WHEN (OLD.acctstoptime IS NULL AND OLD.username IS NOT NULL)
    EXECUTE FUNCTION netily_notify_session();

CREATE TRIGGER radacct_usage AFTER INSERT OR UPDATE OF acctinputoctets, acctoutputoctets ON radacct
    FOR EACH ROW WHEN (current_setting('netily.accounting_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_count_usage();

CREATE TRIGGER usage_cap_notify AFTER INSERT OR UPDATE OF bytes ON usage
    FOR EACH ROW WHEN (current_setting('netily.accounting_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify_cap_crossed();
