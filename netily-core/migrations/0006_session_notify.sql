-- What else changes the next login's answer: a session opening or closing
-- (simultaneous use) and a subscriber's usage crossing the plan's data cap
-- (fair use). Interim updates that only move counters notify nothing, so the
-- accounting hot path stays quiet.

CREATE TRIGGER radacct_open_notify AFTER INSERT ON radacct
    FOR EACH ROW WHEN (NEW.acctstoptime IS NULL AND NEW.username IS NOT NULL)
    EXECUTE FUNCTION netily_notify();

CREATE TRIGGER radacct_close_notify AFTER UPDATE OF acctstoptime ON radacct
    FOR EACH ROW WHEN ((OLD.acctstoptime IS NULL) <> (NEW.acctstoptime IS NULL)
                       AND NEW.username IS NOT NULL)
    EXECUTE FUNCTION netily_notify();

CREATE TRIGGER radacct_delete_notify AFTER DELETE ON radacct
    FOR EACH ROW WHEN (OLD.acctstoptime IS NULL AND OLD.username IS NOT NULL)
    EXECUTE FUNCTION netily_notify();

CREATE FUNCTION netily_notify_cap_crossed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap    bigint;
    who    text;
    before bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        before := OLD.bytes;
    END IF;
    SELECT p.data_cap_bytes, c.username INTO cap, who
      FROM customers c
      JOIN subscriptions s ON s.customer_id = c.id AND s.active
      JOIN plans p ON p.id = s.plan_id
     WHERE c.id = NEW.customer_id AND s.cycle_start = NEW.cycle_start;
    IF cap IS NOT NULL AND before < cap AND NEW.bytes >= cap THEN
        PERFORM pg_notify('netily_changed', 'usage ' || who);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_cap_notify AFTER INSERT OR UPDATE OF bytes ON usage
    FOR EACH ROW EXECUTE FUNCTION netily_notify_cap_crossed();
