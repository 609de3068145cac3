-- A membership decides who may read a project's tickets: a change to one ticks the tickets read clock too, so an
-- answer kept for a viewer (the server's answer cache) is not served to them after they lost the project.
CREATE CONSTRAINT TRIGGER memberships_tick_read_clock AFTER INSERT OR UPDATE OR DELETE ON memberships
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slipway_tick_read_clock();
