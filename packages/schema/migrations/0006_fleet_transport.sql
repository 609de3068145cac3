CREATE TYPE "public"."transfer_kind" AS ENUM('INCREMENTAL', 'FULL');--> statement-breakpoint
ALTER TABLE "deploy_previews" ADD COLUMN "transfer" "transfer_kind";--> statement-breakpoint
ALTER TABLE "deploy_results" ADD COLUMN "transfer" "transfer_kind";--> statement-breakpoint
ALTER TABLE "deploy_results" ADD COLUMN "changes" jsonb;--> statement-breakpoint
ALTER TABLE "deploy_results" ADD COLUMN "changes_count" integer;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "always_full_sync" boolean DEFAULT false NOT NULL;