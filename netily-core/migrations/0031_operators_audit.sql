-- Operators (the people and integrations that run the ISP), their console
-- sessions and API tokens, and the audit log of every change they make.
--
-- The audit log is written by triggers on the tables an operator changes,
-- whatever made the change: the console, the API, netadmin, or someone
-- with psql. The writer names itself for its transaction with three
-- settings (netily_core::db::audit::attribute): netily.actor (the
-- operator), netily.via (console, api, netadmin) and netily.action
-- ("customer suspend"). A change made without them is recorded as the
-- database role via 'sql'. Bulk loads that are not an operator's change
-- (synthetic seeding) set netily.audit = off for their transaction.
--
-- Secrets never reach the log: password, password_hash, secret,
-- key_sealed, key_encrypted and token_hash show as "(hidden)", or
-- "(changed)" on the after side when they changed. Certificates' pem is
-- left out (it is public and long).

CREATE TABLE operators (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL UNIQUE
                        CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role                text NOT NULL CHECK (role IN ('admin', 'support', 'readonly')),
    -- An argon2id PHC string; never leaves netily-core.
    password_hash       text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

-- API tokens: only a SHA-256 of the token is kept (tokens are 256 random
-- bits, so no slow hash is needed); `prefix` lets an operator tell them
-- apart in a list.
CREATE TABLE operator_tokens (
    id           bigserial PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    label        text NOT NULL,
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX operator_tokens_operator_idx ON operator_tokens (operator_id);

-- Console logins. The cookie holds a random id; only its SHA-256 is kept,
-- so a copy of this table cannot be replayed. Kept in PostgreSQL so that
-- any console node serves any operator and a removed operator or a
-- password change ends every session at once.
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_operator_idx ON console_sessions (operator_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    -- One operator action changes several rows (a subscriber and their
    -- subscription); they share the transaction id.
    change_id  bigint NOT NULL DEFAULT txid_current(),
    actor      text NOT NULL,
    via        text NOT NULL,
    action     text NOT NULL,
    entity     text NOT NULL,
    entity_key text,
    -- The subscriber a row belongs to, for their page's history.
    subscriber text,
    before     jsonb,
    after      jsonb
);
CREATE INDEX audit_log_subscriber_idx ON audit_log (subscriber, id) WHERE subscriber IS NOT NULL;
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_key, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);

CREATE FUNCTION netily_audit() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD) - 'pem'; END IF;
    IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW) - 'pem'; END IF;
    IF TG_OP = 'UPDATE' AND b = a THEN
        RETURN NULL;
    END IF;
    FOREACH col IN ARRAY ARRAY['password', 'password_hash', 'secret', 'key_sealed',
                               'key_encrypted', 'token_hash'] LOOP
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

CREATE TRIGGER customers_audit AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION netily_audit('username');
CREATE TRIGGER subscriptions_audit AFTER INSERT OR UPDATE OR DELETE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION netily_audit('id');
CREATE TRIGGER plans_audit AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION netily_audit('name');
CREATE TRIGGER invoices_audit AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION netily_audit('number');
CREATE TRIGGER payments_audit AFTER INSERT OR UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION netily_audit('id');
CREATE TRIGGER routers_audit AFTER INSERT OR UPDATE OR DELETE ON routers
    FOR EACH ROW EXECUTE FUNCTION netily_audit('name');
CREATE TRIGGER nas_audit AFTER INSERT OR UPDATE OR DELETE ON nas
    FOR EACH ROW EXECUTE FUNCTION netily_audit('nasname');
CREATE TRIGGER certificates_audit AFTER INSERT OR UPDATE OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION netily_audit('serial');
CREATE TRIGGER certificate_authority_audit AFTER INSERT OR UPDATE OR DELETE ON certificate_authority
    FOR EACH ROW EXECUTE FUNCTION netily_audit('name');
CREATE TRIGGER operators_audit AFTER INSERT OR UPDATE OR DELETE ON operators
    FOR EACH ROW EXECUTE FUNCTION netily_audit('name');
-- Not on last_used_at: using a token is not a change.
CREATE TRIGGER operator_tokens_audit AFTER INSERT OR UPDATE OF revoked_at OR DELETE ON operator_tokens
    FOR EACH ROW EXECUTE FUNCTION netily_audit('label');
