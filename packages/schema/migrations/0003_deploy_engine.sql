CREATE TYPE "public"."change_kind" AS ENUM('ADDED', 'MODIFIED', 'DELETED');--> statement-breakpoint
ALTER TYPE "public"."job_kind" ADD VALUE 'PREVIEW';--> statement-breakpoint
ALTER TYPE "public"."job_kind" ADD VALUE 'WEBHOOK';--> statement-breakpoint
CREATE TABLE "deploy_previews" (
	"job_id" bigint NOT NULL,
	"target_name" text NOT NULL,
	"items" jsonb NOT NULL,
	"error" text,
	CONSTRAINT "deploy_previews_job_id_target_name_pk" PRIMARY KEY("job_id","target_name")
);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "webhooks_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"project_id" bigint NOT NULL,
	"url" text NOT NULL,
	"secret" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ticket_changes" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "ticket_changes_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"ticket_id" bigint NOT NULL,
	"path" text NOT NULL,
	"change" "change_kind" NOT NULL,
	"binary" boolean DEFAULT false NOT NULL,
	"diff" text,
	"truncated" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "serial" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "health_check_timeout_seconds" integer DEFAULT 30 NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "frozen_reason" text;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "frozen_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "frozen_by_id" bigint;--> statement-breakpoint
ALTER TABLE "targets" ADD COLUMN "release_id" bigint;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "rolled_back_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tickets" ADD COLUMN "freeze_override" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "deploy_previews" ADD CONSTRAINT "deploy_previews_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ticket_changes" ADD CONSTRAINT "ticket_changes_ticket_id_tickets_id_fk" FOREIGN KEY ("ticket_id") REFERENCES "public"."tickets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ticket_changes_ticket_idx" ON "ticket_changes" USING btree ("ticket_id","path");--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_frozen_by_id_users_id_fk" FOREIGN KEY ("frozen_by_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "targets" ADD CONSTRAINT "targets_release_id_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_health_check_timeout_range" CHECK ("projects"."health_check_timeout_seconds" between 1 and 600);