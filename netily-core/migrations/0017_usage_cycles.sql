-- Billing cycles roll over by themselves.
--
-- Usage was added to the row of subscriptions.cycle_start, which nothing
-- ever moved: usage grew forever and a fair-use downgrade was permanent.
-- cycle_start is now the anchor of monthly cycles (the start of the first
-- one, netily_core::cycle): every usage row belongs to the cycle of its
-- accounting event's time, and a subscriber's record holds the usage of the
-- cycle of now, so a new cycle starts at zero at its first second, with no
-- job to run. Usage counted before this migration stays in the first
-- cycle's row: a subscriber whose first cycle is over starts afresh.

-- The start of the cycle that holds `at`, for cycles anchored at `anchor`:
-- the anchor's day of month (the month's last day when it is shorter) and
-- time of day, UTC, counted from the anchor. netily_core::cycle::cycle_at is
-- the same rule (a test holds the two together).
CREATE FUNCTION netily_cycle_start(anchor timestamptz, at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    a timestamp := anchor AT TIME ZONE 'UTC';
    t timestamp := at AT TIME ZONE 'UTC';
    -- The cycle starting in at's month, or else the one before it.
    n int := (extract(year FROM t) - extract(year FROM a))::int * 12
             + (extract(month FROM t) - extract(month FROM a))::int;
BEGIN
    IF a + make_interval(months => n) > t THEN
        n := n - 1;
    END IF;
    RETURN (a + make_interval(months => n)) AT TIME ZONE 'UTC';
END
$$;

-- Other writers' usage (stock rlm_sql, netadmin, a hand-written UPDATE)
-- lands in the cycle of the row's latest time (0016 otherwise).
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
                                                NEW.acctstarttime), now()))
      INTO cust, cycle
      FROM customers c JOIN subscriptions s ON s.customer_id = c.id AND s.active
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

-- A cap crossed in any cycle of the active subscription is notified (0006
-- matched only the anchor's).
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
       AND netily_cycle_start(s.cycle_start, NEW.cycle_start) = NEW.cycle_start;
    IF cap IS NOT NULL AND before < cap AND NEW.bytes >= cap THEN
        PERFORM pg_notify('netily_changed', 'usage ' || who);
    END IF;
    RETURN NULL;
END
$$;

-- The record (0007) with the usage of the cycle of now, and which cycle
-- that is ('usage_cycle_start'): a decision after that cycle's end reads 0.
CREATE OR REPLACE FUNCTION netily_subscriber_record(p_username text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    result json;
BEGIN
    SELECT json_build_object(
        'subscriber', json_build_object(
            'id', c.id, 'username', c.username, 'password', c.password,
            'full_name', c.full_name, 'status', c.status, 'mac_binding', c.mac_binding,
            'static_ip', host(c.static_ip)),
        'plan', CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object(
            'id', p.id, 'name', p.name, 'rate', p.rate, 'data_cap_bytes', p.data_cap_bytes,
            'fair_use_rate', p.fair_use_rate, 'session_timeout', p.session_timeout,
            'idle_timeout', p.idle_timeout, 'interim_interval', p.interim_interval,
            'ip_pool', p.ip_pool, 'mikrotik_group', p.mikrotik_group,
            'address_list', p.address_list, 'simultaneous_use', p.simultaneous_use,
            'price_cents', p.price_cents) END,
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
              FROM radreply r WHERE r.username = c.username), '[]'::json))
      INTO result
      FROM customers c
      LEFT JOIN subscriptions s ON s.customer_id = c.id AND s.active
      LEFT JOIN LATERAL (SELECT netily_cycle_start(s.cycle_start, now()) AS start) cy ON true
      LEFT JOIN plans p ON p.id = s.plan_id
     WHERE c.username = p_username;
    RETURN result;
END
$$;
