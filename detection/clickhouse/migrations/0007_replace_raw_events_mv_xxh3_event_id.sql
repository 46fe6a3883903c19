-- server-only: replaces 0004's materialized view (chDB has no Kafka engine table, see 0004).
--
-- Two changes to the view's rules, to keep it equal to detection.core.events.parse_event:
-- - event_id is now XXH3-64 of the same fields (value as lower-case hex of its 8 little-endian
--   bytes) instead of the first 8 bytes of their MD5: the Python side got about 3x cheaper per
--   event. Ids of events stored before this migration keep their MD5 ids; see README "Event ids".
-- - event_time must lie in [1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z), the range every store
--   holds (parse_event rejects the rest as event_time_out_of_range).
-- - a payload that starts with a UTF-8 byte order mark is dropped (parse_event: "bom");
--   isValidJSON accepts one.
-- Dropping the view pauses consumption of the Kafka queue table (a Kafka engine table is read
-- only while a view is attached); the new view resumes from the consumer group's committed
-- offsets, so no message is lost in between.
DROP VIEW IF EXISTS {database}.raw_events_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.raw_events_mv TO {database}.raw_events AS
SELECT
    xxh3(concat(
        source_id, '\x1f', metric, '\x1f', lower(hex(value)), '\x1f', toString(toUnixTimestamp64Milli(event_time))
    )) AS event_id,
    source_id,
    metric,
    value,
    event_time,
    now64(3) AS ingest_time
FROM
(
    SELECT
        JSONExtractString(raw, 'source_id') AS source_id,
        JSONExtractString(raw, 'metric') AS metric,
        JSONExtractFloat(raw, 'value') AS value,
        JSONExtractString(raw, 'event_time') AS event_time_text,
        parseDateTime64BestEffortOrNull(event_time_text, 3, 'UTC') AS event_time_parsed,
        assumeNotNull(event_time_parsed) AS event_time,
        JSONType(raw, 'value') AS value_type,
        JSONType(raw, 'source_id') AS source_id_type,
        JSONType(raw, 'metric') AS metric_type
    FROM {database}.raw_events_queue
    WHERE length(raw) <= 65536 AND NOT startsWith(raw, '\xEF\xBB\xBF') AND isValidJSON(raw)
)
WHERE source_id_type = 'String' AND trimBoth(source_id) != '' AND lengthUTF8(source_id) <= 256
  AND NOT match(source_id, '[\x00-\x1f\x7f]')
  AND metric_type = 'String' AND trimBoth(metric) != '' AND lengthUTF8(metric) <= 256
  AND NOT match(metric, '[\x00-\x1f\x7f]')
  AND value_type IN ('Int64', 'UInt64', 'Double') AND isFinite(value) AND abs(value) <= 1e150
  AND event_time_parsed IS NOT NULL
  AND toUnixTimestamp64Milli(event_time_parsed) >= 0
  AND toUnixTimestamp64Milli(event_time_parsed) < 4102444800000
  AND match(event_time_text, '(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$');
