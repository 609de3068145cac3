ALTER TYPE "public"."job_kind" ADD VALUE 'PROMOTE';--> statement-breakpoint
ALTER TYPE "public"."notification_event" ADD VALUE 'PROMOTION_REQUESTED';--> statement-breakpoint
ALTER TYPE "public"."ticket_kind" ADD VALUE 'PROMOTION';--> statement-breakpoint
CREATE TABLE "environments" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "environments_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"project_id" bigint NOT NULL,
	"name" text NOT NULL,
	"position" integer DEFAULT 0 NOT NULL,
	"required_approvals" integer DEFAULT 1 NOT NULL,
	"bake_minutes" integer DEFAULT 0 NOT NULL,
	"frozen_reason" text,
	"frozen_until" timestamp with time zone,
	"frozen_by_id" bigint,
	"live_release_id" bigint,
	"parallelism" integer,
	"batch_size" integer,
	"pre_deploy" text,
	"post_deploy" text,
	"health_check_url" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "environments_required_approvals_range" CHECK ("environments"."required_approvals" between 0 and 10),
	CONSTRAINT "environments_bake_minutes_range" CHECK ("environments"."bake_minutes" between 0 and 43200),
	CONSTRAINT "environments_parallelism_range" CHECK ("environments"."parallelism" between 1 and 100),
	CONSTRAINT "environments_batch_size_range" CHECK ("environments"."batch_size" between 1 and 100)
);
--> statement-breakpoint
-- Every project becomes one environment, "production", holding all its targets, its tickets and its live version.
INSERT INTO "environments" ("project_id", "name", "position", "live_release_id")
  SELECT "id", 'production', 0, "live_release_id" FROM "projects" ORDER BY "id";--> statement-breakpoint
ALTER TABLE "projects" DROP CONSTRAINT "projects_live_release_id_releases_id_fk";
--> statement-breakpoint
ALTER TABLE "targets" ADD COLUMN "environment_id" bigint;--> statement-breakpoint
ALTER TABLE "tickets" ADD COLUMN "environment_id" bigint;--> statement-breakpoint
UPDATE "targets" SET "environment_id" = e."id" FROM "environments" e WHERE e."project_id" = "targets"."project_id";--> statement-breakpoint
UPDATE "tickets" SET "environment_id" = e."id" FROM "environments" e WHERE e."project_id" = "tickets"."project_id";--> statement-breakpoint
-- The tickets' deferred read-clock trigger runs now: a table with trigger events pending cannot be altered.
SET CONSTRAINTS ALL IMMEDIATE;--> statement-breakpoint
ALTER TABLE "targets" ALTER COLUMN "environment_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "tickets" ALTER COLUMN "environment_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "tickets" ADD COLUMN "replaced_release_id" bigint;--> statement-breakpoint
ALTER TABLE "environments" ADD CONSTRAINT "environments_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "environments" ADD CONSTRAINT "environments_frozen_by_id_users_id_fk" FOREIGN KEY ("frozen_by_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "environments" ADD CONSTRAINT "environments_live_release_id_releases_id_fk" FOREIGN KEY ("live_release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "environments_project_name_idx" ON "environments" USING btree ("project_id",lower("name"));--> statement-breakpoint
CREATE INDEX "environments_project_idx" ON "environments" USING btree ("project_id","position");--> statement-breakpoint
ALTER TABLE "targets" ADD CONSTRAINT "targets_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_replaced_release_id_releases_id_fk" FOREIGN KEY ("replaced_release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" DROP COLUMN "live_release_id";--> statement-breakpoint
-- A project always has an environment: a new one starts with "production" (the one its targets go to until an admin
-- adds more).
CREATE FUNCTION "slipway_first_environment"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "environments" ("project_id", "name", "position") VALUES (NEW."id", 'production', 0);
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "projects_first_environment" AFTER INSERT ON "projects"
  FOR EACH ROW EXECUTE FUNCTION "slipway_first_environment"();
