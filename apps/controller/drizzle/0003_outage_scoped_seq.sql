-- Timeline rows are keyed by outage and journal seq: a journal that starts again (a new data
-- directory on the same database) must not collide with the rows an earlier journal wrote.
ALTER TABLE "timeline_events" DROP CONSTRAINT "timeline_events_pkey";--> statement-breakpoint
ALTER TABLE "ups_readings" DROP CONSTRAINT "ups_readings_pkey";--> statement-breakpoint
ALTER TABLE "timeline_events" ADD CONSTRAINT "timeline_events_outage_id_seq_pk" PRIMARY KEY("outage_id","seq");--> statement-breakpoint
ALTER TABLE "ups_readings" ADD CONSTRAINT "ups_readings_outage_id_seq_pk" PRIMARY KEY("outage_id","seq");
