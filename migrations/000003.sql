-- A `timestamp without time zone` or `date` checkpoint means something only in the TimeZone
-- it was computed in: a changed zone makes it unusable, and the next pass full.
ALTER TABLE status_reconciler.checkpoint ADD COLUMN time_zone text;
