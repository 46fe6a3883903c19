-- drift_events is sorted by key (source_id, metric, ...), so "the newest events of every key"
-- (the API's first page, newest first) touched one block per event. A projection sorted by
-- event time serves those reads from a few blocks; ClickHouse picks it automatically. With
-- 'rebuild', merges that deduplicate the ReplacingMergeTree rebuild the projection too.
ALTER TABLE {database}.drift_events MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE {database}.drift_events ADD PROJECTION IF NOT EXISTS by_event_time (SELECT * ORDER BY event_time, drift_event_id);

ALTER TABLE {database}.drift_events MATERIALIZE PROJECTION by_event_time;
