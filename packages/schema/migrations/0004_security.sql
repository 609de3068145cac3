ALTER TABLE "projects" ADD COLUMN "allow_svn_externals" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "disabled" boolean DEFAULT false NOT NULL;