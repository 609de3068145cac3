CREATE TYPE "public"."message_language" AS ENUM('EN', 'ZH_CN');--> statement-breakpoint
CREATE TYPE "public"."notification_event" AS ENUM('SUBMITTED', 'STAGED', 'STAGING_FAILED', 'RETURNED', 'TEST_PASSED', 'APPROVED', 'REJECTED', 'DEPLOYING', 'DEPLOYED', 'DEPLOY_FAILED', 'ROLLBACK_REQUESTED', 'FREEZE_STARTED', 'FREEZE_ENDED', 'DRIFT_DETECTED', 'DRIFT_RESOLVED');--> statement-breakpoint
CREATE TYPE "public"."notification_kind" AS ENUM('DINGTALK', 'FEISHU', 'WECOM', 'SLACK', 'WEBHOOK', 'EMAIL');--> statement-breakpoint
CREATE TABLE "notification_channels" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "notification_channels_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"project_id" bigint NOT NULL,
	"kind" "notification_kind" NOT NULL,
	"name" text NOT NULL,
	"url" text,
	"secret" text,
	"events" "notification_event"[] NOT NULL,
	"language" "message_language" DEFAULT 'EN' NOT NULL,
	"email_to" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notification_channels" ADD CONSTRAINT "notification_channels_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;