-- Plan versions are numbered per data directory (lineage): a controller on a new data directory
-- with the same database counts from 1 again without colliding with an earlier directory's rows,
-- which keep the lineage `legacy` (the lineage of a plan.json written before lineages existed).
ALTER TABLE "plan_versions" ADD COLUMN "lineage" text DEFAULT 'legacy' NOT NULL;--> statement-breakpoint
ALTER TABLE "plan_versions" DROP CONSTRAINT "plan_versions_pkey";--> statement-breakpoint
ALTER TABLE "plan_versions" ADD CONSTRAINT "plan_versions_lineage_version_pk" PRIMARY KEY("lineage","version");
