CREATE TABLE "known_host_keys" (
	"host" text NOT NULL,
	"port" integer NOT NULL,
	"key_type" text NOT NULL,
	"public_key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"trusted_by_id" bigint,
	"trusted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "known_host_keys_host_port_key_type_pk" PRIMARY KEY("host","port","key_type")
);
--> statement-breakpoint
CREATE TABLE "ssh_identities" (
	"pool" text PRIMARY KEY NOT NULL,
	"public_key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "deploy_previews" ADD COLUMN "unknown_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "source_ca_file" text;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "shared_paths" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "init_failure" jsonb;--> statement-breakpoint
ALTER TABLE "known_host_keys" ADD CONSTRAINT "known_host_keys_trusted_by_id_users_id_fk" FOREIGN KEY ("trusted_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;