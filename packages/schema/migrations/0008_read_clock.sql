CREATE TABLE "read_clock" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"tickets" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "read_clock_single_row" CHECK ("read_clock"."id" = 1)
);
--> statement-breakpoint
INSERT INTO "read_clock" ("id", "tickets") VALUES (1, 0);
--> statement-breakpoint
-- Ticks the clock once per transaction that changed tickets or users, at its commit: the row is locked only between
-- the tick and the commit (so two writers never wait on each other in a cycle), and a reader whose statement began
-- after the commit reads the new value together with the new rows.
CREATE FUNCTION slipway_tick_read_clock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('slipway.read_clock_ticked', true) IS DISTINCT FROM 'on' THEN
    UPDATE read_clock SET tickets = tickets + 1 WHERE id = 1;
    PERFORM set_config('slipway.read_clock_ticked', 'on', true);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER tickets_tick_read_clock AFTER INSERT OR UPDATE OR DELETE ON tickets
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slipway_tick_read_clock();
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER users_tick_read_clock AFTER UPDATE OR DELETE ON users
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slipway_tick_read_clock();
