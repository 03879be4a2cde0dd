-- Usage sums never fail. A NAS can report counters up to 2^64 - 1 bytes
-- (Gigawords and Octets at 0xFFFFFFFF): added in bigint, one such row made
-- every later write of that session fail with "bigint out of range", for
-- the module's writer and for any other (stock rlm_sql, a hand-written
-- UPDATE) alike. The trigger now adds in numeric and the usage it stores
-- saturates at the top of bigint. (Netily's own writer does the same in
-- its statement, netily_core::db::accounting, and refuses implausible
-- counters before they reach radacct: netily_core::accounting.)

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
    SELECT c.id, s.cycle_start INTO cust, cycle
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
