CREATE TABLE "agents" (
	"host" text PRIMARY KEY NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"key_id" text NOT NULL,
	"facts" jsonb NOT NULL,
	"enrolled_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "enrollment_tokens" (
	"hash" text PRIMARY KEY NOT NULL,
	"host" text,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"used_by" text
);
--> statement-breakpoint
CREATE TABLE "outages" (
	"id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"outcome" text,
	"sources" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "timeline_events" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"outage_id" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"host" text,
	"source" text,
	"data" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ups_readings" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"outage_id" text NOT NULL,
	"source" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"charge" real,
	"runtime" real,
	"load" real,
	"input_voltage" real
);
--> statement-breakpoint
ALTER TABLE "timeline_events" ADD CONSTRAINT "timeline_events_outage_id_outages_id_fk" FOREIGN KEY ("outage_id") REFERENCES "public"."outages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ups_readings" ADD CONSTRAINT "ups_readings_outage_id_outages_id_fk" FOREIGN KEY ("outage_id") REFERENCES "public"."outages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "timeline_events_outage_at" ON "timeline_events" USING btree ("outage_id","at");--> statement-breakpoint
CREATE INDEX "ups_readings_outage_at" ON "ups_readings" USING btree ("outage_id","at");