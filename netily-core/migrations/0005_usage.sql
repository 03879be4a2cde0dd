-- Keep usage(customer, cycle_start) current from accounting: each radacct
-- insert/update adds its octet delta to the subscriber's current cycle. This
-- moves the cost from every login (sum over history) to each accounting packet
-- (one index probe + one upsert).

CREATE FUNCTION netily_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
    cust  bigint;
    cycle timestamptz;
BEGIN
    delta := coalesce(NEW.acctinputoctets, 0) + coalesce(NEW.acctoutputoctets, 0);
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
    INSERT INTO usage (customer_id, cycle_start, bytes) VALUES (cust, cycle, delta)
        ON CONFLICT (customer_id, cycle_start) DO UPDATE SET bytes = usage.bytes + EXCLUDED.bytes;
    RETURN NULL;
END
$$;

CREATE TRIGGER radacct_usage AFTER INSERT OR UPDATE OF acctinputoctets, acctoutputoctets ON radacct
    FOR EACH ROW EXECUTE FUNCTION netily_count_usage();
