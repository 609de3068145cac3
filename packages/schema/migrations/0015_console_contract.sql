ALTER TYPE "public"."job_kind" ADD VALUE 'TEST_TARGET';--> statement-breakpoint
ALTER TYPE "public"."job_kind" ADD VALUE 'REVERT';--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "result" jsonb;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "allow_author_pass_test" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "archived_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "targets" ADD COLUMN "position" integer DEFAULT 0 NOT NULL;