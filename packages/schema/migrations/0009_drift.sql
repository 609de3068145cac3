CREATE TYPE "public"."verification_state" AS ENUM('IN_SYNC', 'DRIFTED', 'UNREACHABLE', 'UNKNOWN');--> statement-breakpoint
ALTER TYPE "public"."job_kind" ADD VALUE 'VERIFY';--> statement-breakpoint
ALTER TYPE "public"."job_kind" ADD VALUE 'REPAIR';--> statement-breakpoint
ALTER TYPE "public"."ticket_kind" ADD VALUE 'REPAIR';--> statement-breakpoint
CREATE TABLE "target_verifications" (
	"target_id" bigint PRIMARY KEY NOT NULL,
	"job_id" bigint,
	"state" "verification_state" NOT NULL,
	"release_id" bigint,
	"current_release" text,
	"drifted" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"drifted_count" integer DEFAULT 0 NOT NULL,
	"error" text,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "verify_interval_minutes" integer DEFAULT 15 NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "verify_before_deploy" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "tickets" ADD COLUMN "repair_target_ids" bigint[];--> statement-breakpoint
ALTER TABLE "target_verifications" ADD CONSTRAINT "target_verifications_target_id_targets_id_fk" FOREIGN KEY ("target_id") REFERENCES "public"."targets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "target_verifications" ADD CONSTRAINT "target_verifications_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_verify_interval_range" CHECK ("projects"."verify_interval_minutes" between 0 and 10080);