CREATE TABLE "staging_paths" (
	"project_id" bigint NOT NULL,
	"path" text COLLATE "C" NOT NULL,
	"directory" boolean NOT NULL,
	CONSTRAINT "staging_paths_project_id_path_pk" PRIMARY KEY("project_id","path")
);
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "must_change_password" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "staging_paths" ADD CONSTRAINT "staging_paths_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;