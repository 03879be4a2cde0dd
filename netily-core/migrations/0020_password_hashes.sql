-- A subscriber's password may be known only as a hash (imported from
-- rlm_sql: MD5-Password, SSHA-Password, Crypt-Password, NT-Password, ...),
-- kept in FreeRADIUS's Password-With-Header form ({md5}..., {ssha}...,
-- {crypt}..., {nt}...) and used when `password` is empty: pap checks it.
-- The subscriber record carries it (0018's function restated with one more
-- field).

ALTER TABLE customers ADD COLUMN password_hash text;
ALTER TABLE customers ADD CONSTRAINT customers_some_password
    CHECK (password <> '' OR password_hash IS NOT NULL);

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
      LEFT JOIN LATERAL (SELECT netily_cycle_start(s.cycle_start, now()) AS start) cy ON true
      LEFT JOIN plans p ON p.id = s.plan_id
     WHERE c.username = p_username;
    RETURN result;
END
$$;
