-- What netadmin's router PKI stores beyond 0003: enough to hand a router its
-- profile again later, to run the VPN server, and to number CRLs.

-- One CA per installation: a second `ca init` is refused, even when two run
-- at once.
CREATE UNIQUE INDEX certificate_authority_single ON certificate_authority ((true));

ALTER TABLE certificate_authority
    ADD COLUMN serial text,
    ADD COLUMN not_after timestamptz,
    -- The tls-crypt static key shared by the server and every router. It is
    -- a secret, sealed like the CA key (key_encrypted).
    ADD COLUMN tls_crypt_sealed text,
    -- RFC 5280 cRLNumber: grows with every CRL issued.
    ADD COLUMN crl_number bigint NOT NULL DEFAULT 0;

ALTER TABLE certificates
    -- router: a router's client certificate; server: the VPN server's.
    ADD COLUMN kind text NOT NULL DEFAULT 'router' CHECK (kind IN ('router', 'server')),
    -- The certificate's private key, sealed with the config's ca_key_seal, so
    -- `netadmin ovpn` can give the router its profile again.
    ADD COLUMN key_sealed text;
