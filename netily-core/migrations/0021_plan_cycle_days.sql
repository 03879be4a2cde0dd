-- A plan may have its own period: cycles of N days (a hotspot day pass: 1,
-- a weekly plan: 7) instead of monthly on the anchor day. NULL is monthly,
-- as before.
--
-- Cycle n of an N-day plan starts n * N * 86400 seconds after the anchor
-- (subscriptions.cycle_start), UTC seconds, never calendar days in a time
-- zone; cycles extend both ways. netily_core::cycle::cycle_of is the same
-- rule (a test holds the two together). Every place that computes a cycle
-- passes the plan's period: the usage trigger, the cap notification, the
-- subscriber record (0020's function restated with the plan's cycle_days),
-- and the accounting writer and the bulk loader in netily-core.

ALTER TABLE plans ADD COLUMN cycle_days integer
    CONSTRAINT plans_cycle_days_range CHECK (cycle_days BETWEEN 1 AND 3660);

-- The start of the cycle that holds `at`: of `days`-day cycles from
-- `anchor`, or monthly ones (0017) when `days` is NULL. NULL when `anchor`
-- or `at` is.
CREATE FUNCTION netily_cycle_start(anchor timestamptz, at timestamptz, days integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN days IS NULL THEN netily_cycle_start(anchor, at)
        ELSE anchor + make_interval(secs => (days::bigint * 86400
                 * floor((extract(epoch FROM at) - extract(epoch FROM anchor))
                         / (days::bigint * 86400)))::double precision)
    END
$$;

-- 0017's trigger functions, with the plan's period.
CREATE OR REPLACE FUNCTION netily_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta numeric;
    cust  bigint;
    cycle timestamptz;
BEGIN
    delta := coalesce(NEW.acctinputoctets, 0)::numeric + coalesce(NEW.acctoutputoctets, 0);
    IF TG_OP = 'UPDATE' THEN
        delta := delta - coalesce(OLD.acctinputoctets, 0) - coalesce(OLD.acctoutputoctets, 0);
    END IF;
    IF delta <= 0 OR NEW.username IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.id,
           netily_cycle_start(s.cycle_start,
                              coalesce(greatest(NEW.acctstoptime, NEW.acctupdatetime,
                                                NEW.acctstarttime), now()),
                              p.cycle_days)
      INTO cust, cycle
      FROM customers c JOIN subscriptions s ON s.customer_id = c.id AND s.active
      LEFT JOIN plans p ON p.id = s.plan_id
     WHERE c.username = NEW.username;
    IF cust IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO usage (customer_id, cycle_start, bytes)
        VALUES (cust, cycle, least(delta, 9223372036854775807)::bigint)
        ON CONFLICT (customer_id, cycle_start)
        DO UPDATE SET bytes = least(usage.bytes::numeric + EXCLUDED.bytes, 9223372036854775807)::bigint;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION netily_notify_cap_crossed() RETURNS trigger LANGUAGE plpgsql AS $$
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
     WHERE c.id = NEW.customer_id
       AND netily_cycle_start(s.cycle_start, NEW.cycle_start, p.cycle_days) = NEW.cycle_start;
    IF cap IS NOT NULL AND before < cap AND NEW.bytes >= cap THEN
        PERFORM pg_notify('netily_changed', 'usage ' || who);
    END IF;
    RETURN NULL;
END
$$;

-- The record with the plan's cycle_days, and the usage of its cycle of now.
CREATE OR REPLACE FUNCTION netily_subscriber_record(p_username text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    result json;
BEGIN
    SELECT json_build_object(
        'subscriber', json_build_object(
            'id', c.id, 'username', c.username, 'password', c.password,
            'password_hash', c.password_hash,
            'full_name', c.full_name, 'status', c.status, 'mac_binding', c.mac_binding,
            'static_ip', host(c.static_ip)),
        'plan', CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object(
            'id', p.id, 'name', p.name, 'rate', p.rate, 'data_cap_bytes', p.data_cap_bytes,
            'fair_use_rate', p.fair_use_rate, 'session_timeout', p.session_timeout,
            'idle_timeout', p.idle_timeout, 'interim_interval', p.interim_interval,
            'ip_pool', p.ip_pool, 'mikrotik_group', p.mikrotik_group,
            'address_list', p.address_list, 'simultaneous_use', p.simultaneous_use,
            'price_cents', p.price_cents, 'cycle_days', p.cycle_days) END,
        'subscription', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object(
            'id', s.id, 'plan_id', s.plan_id,
            'starts_at', floor(extract(epoch from s.starts_at))::bigint,
            'expires_at', floor(extract(epoch from s.expires_at))::bigint,
            'active', s.active,
            'cycle_start', floor(extract(epoch from s.cycle_start))::bigint) END,
        'unpaid_invoices', coalesce((
            SELECT json_agg(json_build_object(
                       'id', i.id, 'number', i.number, 'amount_cents', i.amount_cents,
                       'due_at', floor(extract(epoch from i.due_at))::bigint) ORDER BY i.due_at, i.id)
              FROM invoices i WHERE i.customer_id = c.id AND i.status = 'unpaid'), '[]'::json),
        'cycle_usage_bytes', coalesce((
            SELECT u.bytes FROM usage u
             WHERE u.customer_id = c.id AND u.cycle_start = cy.start), 0),
        'usage_cycle_start', floor(extract(epoch from cy.start))::bigint,
        'open_sessions', coalesce((
            SELECT json_agg(json_build_object(
                       'acct_unique_id', a.acctuniqueid, 'nas_ip', host(a.nasipaddress),
                       'calling_station_id', a.callingstationid,
                       'started_at', coalesce(floor(extract(epoch from a.acctstarttime))::bigint, 0))
                       ORDER BY a.acctstarttime, a.radacctid)
              FROM radacct a WHERE a.username = c.username AND a.acctstoptime IS NULL), '[]'::json),
        'group_replies', coalesce((
            SELECT json_agg(json_build_object('attribute', g.attribute, 'op', g.op, 'value', g.value)
                       ORDER BY ug.priority, ug.id, g.id)
              FROM radusergroup ug JOIN radgroupreply g ON g.groupname = ug.groupname
             WHERE ug.username = c.username), '[]'::json),
        'user_replies', coalesce((
            SELECT json_agg(json_build_object('attribute', r.attribute, 'op', r.op, 'value', r.value)
                       ORDER BY r.id)
              FROM radreply r WHERE r.username = c.username), '[]'::json),
        'user_checks', coalesce((
            SELECT json_agg(json_build_object('attribute', k.attribute, 'op', k.op, 'value', k.value)
                       ORDER BY k.id)
              FROM radcheck k WHERE k.username = c.username), '[]'::json),
        'group_checks', coalesce((
            SELECT json_agg(json_build_object('attribute', g.attribute, 'op', g.op, 'value', g.value)
                       ORDER BY ug.priority, ug.id, g.id)
              FROM radusergroup ug JOIN radgroupcheck g ON g.groupname = ug.groupname
             WHERE ug.username = c.username), '[]'::json))
      INTO result
      FROM customers c
      LEFT JOIN subscriptions s ON s.customer_id = c.id AND s.active
      LEFT JOIN plans p ON p.id = s.plan_id
      LEFT JOIN LATERAL (SELECT netily_cycle_start(s.cycle_start, now(), p.cycle_days) AS start) cy ON true
     WHERE c.username = p_username;
    RETURN result;
END
$$;
