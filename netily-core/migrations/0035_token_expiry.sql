-- API tokens may expire: a token made for a short job (a migration, a
-- contractor) stops working by itself. NULL: until revoked.
ALTER TABLE operator_tokens ADD COLUMN expires_at timestamptz;
