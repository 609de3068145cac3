-- Whoever can change a user's access (sign-out, token revocation, membership, disabling, admin rights) tells every
-- server replica at once, so open websockets re-check their credentials: payload = the user's id.
CREATE FUNCTION slipway_notify_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  affected bigint;
BEGIN
  IF TG_TABLE_NAME = 'users' THEN
    affected := COALESCE(NEW.id, OLD.id);
  ELSIF TG_OP = 'DELETE' THEN
    affected := OLD.user_id;
  ELSE
    affected := NEW.user_id;
  END IF;
  PERFORM pg_notify('slipway_access_changed', affected::text);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_access_changed AFTER DELETE OR UPDATE OF expires_at ON sessions
  FOR EACH ROW EXECUTE FUNCTION slipway_notify_access_changed();
--> statement-breakpoint
CREATE TRIGGER api_tokens_access_changed AFTER DELETE OR UPDATE OF revoked_at ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION slipway_notify_access_changed();
--> statement-breakpoint
CREATE TRIGGER memberships_access_changed AFTER INSERT OR UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION slipway_notify_access_changed();
--> statement-breakpoint
CREATE TRIGGER users_access_changed AFTER DELETE OR UPDATE OF is_admin, disabled, password_hash ON users
  FOR EACH ROW EXECUTE FUNCTION slipway_notify_access_changed();
--> statement-breakpoint
-- A release is history: its row stays, and its number, tag commit and project never change (the rollback mark may).
CREATE FUNCTION slipway_refuse_release_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.project_id = OLD.project_id AND NEW.number = OLD.number
     AND NEW.commit = OLD.commit AND NEW.ticket_id IS NOT DISTINCT FROM OLD.ticket_id
     AND NEW.created_at = OLD.created_at THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'releases are permanent: % of a release refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
--> statement-breakpoint
CREATE TRIGGER releases_permanent BEFORE UPDATE OR DELETE ON releases
  FOR EACH ROW EXECUTE FUNCTION slipway_refuse_release_change();
--> statement-breakpoint
CREATE TRIGGER releases_no_truncate BEFORE TRUNCATE ON releases
  FOR EACH STATEMENT EXECUTE FUNCTION slipway_refuse_release_change();
