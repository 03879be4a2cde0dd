-- Plans, subscribers, subscriptions and billing.

CREATE TABLE plans (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    -- Canonical Mikrotik-Rate-Limit string; bursts live inside it.
    rate                text NOT NULL,
    data_cap_bytes      bigint CHECK (data_cap_bytes IS NULL OR data_cap_bytes > 0),
    fair_use_rate       text,
    session_timeout     integer CHECK (session_timeout IS NULL OR session_timeout > 0),
    idle_timeout        integer CHECK (idle_timeout IS NULL OR idle_timeout > 0),
    interim_interval    integer CHECK (interim_interval IS NULL OR interim_interval > 0),
    ip_pool             text,
    mikrotik_group      text,
    address_list        text,
    simultaneous_use    integer CHECK (simultaneous_use IS NULL OR simultaneous_use > 0),
    price_cents         bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (data_cap_bytes IS NULL OR fair_use_rate IS NOT NULL)
);

CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    -- Looked up on every Access-Request: the UNIQUE index is the hot path.
    username    text NOT NULL UNIQUE,
    password    text NOT NULL,
    full_name   text NOT NULL DEFAULT '',
    phone       text,
    email       text,
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended', 'terminated')),
    mac_binding text,
    static_ip   inet,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_static_ip_key ON customers (static_ip) WHERE static_ip IS NOT NULL;

CREATE TABLE subscriptions (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    plan_id     bigint NOT NULL REFERENCES plans (id),
    starts_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    active      boolean NOT NULL DEFAULT true,
    cycle_start timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at IS NULL OR expires_at > starts_at)
);
-- At most one active subscription per subscriber.
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (customer_id) WHERE active;
CREATE INDEX subscriptions_plan_idx ON subscriptions (plan_id);

CREATE TABLE invoices (
    id           bigserial PRIMARY KEY,
    number       text NOT NULL UNIQUE,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    due_at       timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'unpaid' CHECK (status IN ('unpaid', 'paid', 'void')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- The subscriber record reads only unpaid invoices.
CREATE INDEX invoices_unpaid_idx ON invoices (customer_id) WHERE status = 'unpaid';
CREATE INDEX invoices_customer_idx ON invoices (customer_id);

CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    invoice_id   bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    paid_at      timestamptz NOT NULL DEFAULT now(),
    method       text NOT NULL DEFAULT 'cash',
    reference    text
);
CREATE INDEX payments_invoice_idx ON payments (invoice_id);

-- Usage per subscriber and billing cycle, kept current by a trigger on radacct
-- (0005). Why not sum radacct at login: a subscriber's history grows without
-- bound, and the login hot path should cost one primary-key probe, not a scan.
-- The trigger adds each accounting packet's octet delta to the cycle current
-- at that moment, which also splits a session that spans a cycle boundary.
CREATE TABLE usage (
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    cycle_start timestamptz NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, cycle_start)
);
