CREATE TABLE "drills" (
	"id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"status" text NOT NULL,
	"plan_version" integer,
	"result" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "plan_versions" (
	"version" integer PRIMARY KEY NOT NULL,
	"origin" text NOT NULL,
	"author" text,
	"created_at" timestamp with time zone NOT NULL,
	"plan" jsonb NOT NULL
);
