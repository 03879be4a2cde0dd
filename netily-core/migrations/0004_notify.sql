-- Change notification: NOTIFY netily_changed with payload '<table> <key>',
-- key being the subscriber's username where the row belongs to one, else the
-- row id. Server plugins LISTEN and refresh their in-memory snapshots.
-- Bulk loads set netily.bulk = 'on' and send one '<table> *' at the end
-- instead of a million notifications; the WHEN clause skips the function
-- call entirely then, which keeps a 1,000,000-row load fast.

CREATE FUNCTION netily_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r   jsonb;
    key text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    key := r ->> 'username';
    IF key IS NULL AND r ? 'customer_id' THEN
        SELECT c.username INTO key FROM customers c WHERE c.id = (r ->> 'customer_id')::bigint;
    END IF;
    IF key IS NULL AND TG_TABLE_NAME = 'radgroupreply' THEN
        key := 'group:' || (r ->> 'groupname');
    END IF;
    IF key IS NULL AND TG_TABLE_NAME = 'nas' THEN
        key := r ->> 'nasname';
    END IF;
    IF key IS NULL THEN
        key := r ->> 'id';
    END IF;
    PERFORM pg_notify('netily_changed', TG_TABLE_NAME || ' ' || coalesce(key, '*'));
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_notify AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER subscriptions_notify AFTER INSERT OR UPDATE OR DELETE ON subscriptions
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER invoices_notify AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER plans_notify AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER radreply_notify AFTER INSERT OR UPDATE OR DELETE ON radreply
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER radgroupreply_notify AFTER INSERT OR UPDATE OR DELETE ON radgroupreply
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER radusergroup_notify AFTER INSERT OR UPDATE OR DELETE ON radusergroup
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER nas_notify AFTER INSERT OR UPDATE OR DELETE ON nas
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
CREATE TRIGGER certificates_notify AFTER INSERT OR UPDATE OR DELETE ON certificates
    FOR EACH ROW WHEN (current_setting('netily.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify();
