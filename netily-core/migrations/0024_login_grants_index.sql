-- Pruning old login grants reads them by age; the enforcer's CoA targets
-- find a router's NAS rows by router.
CREATE INDEX login_grants_granted_at_idx ON login_grants (granted_at);
CREATE INDEX nas_router_id_idx ON nas (router_id) WHERE router_id IS NOT NULL;
