-- The event id comes from tenants.last_event_id in the same INSERT that stores the event (one
-- statement instead of two on the hottest write path); this trigger moves the counter along.
CREATE TRIGGER events_advance_tenant_counter AFTER INSERT ON events
BEGIN
    UPDATE tenants SET last_event_id = NEW.id WHERE id = NEW.tenant_id;
END;
