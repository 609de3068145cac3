ALTER TYPE "public"."notification_event" ADD VALUE 'REVERT_REQUESTED';--> statement-breakpoint
ALTER TYPE "public"."ticket_kind" ADD VALUE 'REVERT';--> statement-breakpoint
ALTER TABLE "tickets" ADD COLUMN "reverts_ticket_id" bigint;--> statement-breakpoint
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_reverts_ticket_id_tickets_id_fk" FOREIGN KEY ("reverts_ticket_id") REFERENCES "public"."tickets"("id") ON DELETE no action ON UPDATE no action;