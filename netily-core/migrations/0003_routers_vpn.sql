-- Routers (the ISP's MikroTiks) and their management VPN.

CREATE TABLE routers (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    nas_ip      inet NOT NULL UNIQUE,
    secret      text NOT NULL,
    -- Position in the VPN address plan (vpn_plan: id -> address).
    vpn_id      integer NOT NULL UNIQUE CHECK (vpn_id > 0),
    vpn_address inet NOT NULL UNIQUE,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE nas ADD CONSTRAINT nas_router_fk
    FOREIGN KEY (router_id) REFERENCES routers (id) ON DELETE CASCADE;

CREATE TABLE certificate_authority (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    -- The CA private key, encrypted; never leaves the database in clear.
    key_encrypted   bytea NOT NULL,
    cert_pem        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
    id          bigserial PRIMARY KEY,
    serial      text NOT NULL UNIQUE,
    router_id   bigint REFERENCES routers (id) ON DELETE SET NULL,
    common_name text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    not_after   timestamptz NOT NULL,
    pem         text NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificates_router_idx ON certificates (router_id);

CREATE TABLE vpn_servers (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    network     cidr NOT NULL,
    listen      text,
    last_seen   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vpn_connections (
    id              bigserial PRIMARY KEY,
    vpn_server_id   bigint REFERENCES vpn_servers (id) ON DELETE SET NULL,
    router_id       bigint REFERENCES routers (id) ON DELETE CASCADE,
    certificate_id  bigint REFERENCES certificates (id) ON DELETE SET NULL,
    vpn_address     inet,
    real_address    text,
    connected_at    timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    bytes_in        bigint NOT NULL DEFAULT 0,
    bytes_out       bigint NOT NULL DEFAULT 0,
    disconnected_at timestamptz,
    status          text NOT NULL DEFAULT 'connected'
                    CHECK (status IN ('connected', 'stale', 'disconnected'))
);
-- "Routers online" and the plugin's reconnect both read the open connection.
CREATE INDEX vpn_connections_open_idx ON vpn_connections (router_id) WHERE status <> 'disconnected';
