ALTER TABLE "projects" ADD COLUMN "bandwidth_limit" integer;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "pool" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "init_error" text;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "live_release_id" bigint;--> statement-breakpoint
ALTER TABLE "tickets" ADD COLUMN "staged_fingerprint" text;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_live_release_id_releases_id_fk" FOREIGN KEY ("live_release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;