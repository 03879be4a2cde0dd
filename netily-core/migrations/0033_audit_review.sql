-- The audit log, corrected (review of 0031), and two indexes the console needs:
-- * the CA row's sealed tls-crypt key (tls_crypt_sealed) is hidden like the
--   other secrets, and its certificate (cert_pem, public and long) left out
--   like certificates' pem;
-- * a write that changes nothing but updated_at (suspending a subscriber
--   who is suspended already) is not logged as a change;
-- * the log filtered by table alone (netadmin audit --entity) reads an
--   index instead of the whole log.
-- Events that change no row (a router's profile downloaded: it holds the
-- router's key) are recorded by netily_core::db::audit::record.

CREATE OR REPLACE FUNCTION netily_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- TG_ARGV[0]: the column naming the row (username, name, number...).
    key_col constant text := TG_ARGV[0];
    b jsonb;
    a jsonb;
    col text;
    who text;
    customer bigint;
BEGIN
    IF current_setting('netily.audit', true) = 'off' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD) - 'pem' - 'cert_pem'; END IF;
    IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW) - 'pem' - 'cert_pem'; END IF;
    -- A write that changed nothing but its timestamp is no change.
    IF TG_OP = 'UPDATE' AND b - 'updated_at' = a - 'updated_at' THEN
        RETURN NULL;
    END IF;
    FOREACH col IN ARRAY ARRAY['password', 'password_hash', 'secret', 'key_sealed',
                               'key_encrypted', 'token_hash', 'tls_crypt_sealed'] LOOP
        IF b ? col AND b -> col <> 'null'::jsonb THEN
            IF a ? col AND a -> col IS DISTINCT FROM b -> col THEN
                a := jsonb_set(a, ARRAY[col], '"(changed)"');
            ELSIF a ? col THEN
                a := jsonb_set(a, ARRAY[col], '"(hidden)"');
            END IF;
            b := jsonb_set(b, ARRAY[col], '"(hidden)"');
        ELSIF a ? col AND a -> col <> 'null'::jsonb THEN
            a := jsonb_set(a, ARRAY[col], '"(hidden)"');
        END IF;
    END LOOP;

    IF TG_TABLE_NAME = 'customers' THEN
        who := coalesce(a ->> 'username', b ->> 'username');
    ELSE
        customer := coalesce(a ->> 'customer_id', b ->> 'customer_id')::bigint;
        IF customer IS NULL AND TG_TABLE_NAME = 'payments' THEN
            SELECT i.customer_id INTO customer FROM invoices i
             WHERE i.id = coalesce(a ->> 'invoice_id', b ->> 'invoice_id')::bigint;
        END IF;
        IF customer IS NOT NULL THEN
            SELECT c.username INTO who FROM customers c WHERE c.id = customer;
        END IF;
    END IF;

    INSERT INTO audit_log (actor, via, action, entity, entity_key, subscriber, before, after)
    VALUES (coalesce(nullif(current_setting('netily.actor', true), ''), session_user),
            coalesce(nullif(current_setting('netily.via', true), ''), 'sql'),
            coalesce(nullif(current_setting('netily.action', true), ''),
                     lower(TG_OP) || ' ' || TG_TABLE_NAME),
            TG_TABLE_NAME,
            coalesce(a ->> key_col, b ->> key_col),
            who, b, a);
    RETURN NULL;
END $$;

CREATE INDEX audit_log_entity_id_idx ON audit_log (entity, id);

-- Pages at a million subscribers (make bench-web): a subscriber's
-- subscriptions (all of them, not only the active one) and the newest
-- invoices first were full scans; counting each plan's subscribers read
-- every subscription row (now an index-only count).
CREATE INDEX subscriptions_customer_idx ON subscriptions (customer_id);
CREATE INDEX subscriptions_active_plan_idx ON subscriptions (plan_id) WHERE active;
CREATE INDEX invoices_due_idx ON invoices (due_at, id);
