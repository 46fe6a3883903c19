-- server-only: chDB 4.4 cannot create Kafka engine tables (see FACTS.md / README); on chDB the
-- run_stack process ingests raw events with its own consumer and the same validation rules.
--
-- Every message is read as one opaque string (RawBLOB never fails to parse, so a malformed
-- message cannot block the queue) and the materialized view keeps only valid events, by the
-- rules of detection.core.events.parse_event: at most 64 KiB; a JSON object; source_id and
-- metric strings that are not blank, at most 256 characters, without control characters; a
-- finite numeric value with |value| <= 1e150; an ISO-8601 event_time that carries an offset.
-- (parse_event also rejects non-ASCII unprintable characters and events too far in the future;
-- the detector sends those to the dead-letter topic.) event_id is the same 64-bit hash the Python code computes
-- (detection.core.events.event_id_for); a test checks that both agree.
CREATE TABLE IF NOT EXISTS {database}.raw_events_queue
(
    raw String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{kafka_brokers}',
         kafka_topic_list = '{events_topic}',
         kafka_group_name = '{kafka_group}',
         kafka_format = 'RawBLOB',
         kafka_num_consumers = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.raw_events_mv TO {database}.raw_events AS
SELECT
    reinterpretAsUInt64(substring(MD5(concat(
        source_id, '\x1f', metric, '\x1f', hex(value), '\x1f', toString(toUnixTimestamp64Milli(event_time))
    )), 1, 8)) AS event_id,
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
    WHERE length(raw) <= 65536 AND isValidJSON(raw)
)
WHERE source_id_type = 'String' AND trimBoth(source_id) != '' AND lengthUTF8(source_id) <= 256
  AND NOT match(source_id, '[\x00-\x1f\x7f]')
  AND metric_type = 'String' AND trimBoth(metric) != '' AND lengthUTF8(metric) <= 256
  AND NOT match(metric, '[\x00-\x1f\x7f]')
  AND value_type IN ('Int64', 'UInt64', 'Double') AND isFinite(value) AND abs(value) <= 1e150
  AND event_time_parsed IS NOT NULL
  AND match(event_time_text, '(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$');
