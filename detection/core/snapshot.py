"""Exact snapshots of a :class:`~detection.core.detector.KeyedDetector`, for checkpoints.

The detector service keeps one detector per Kafka partition and periodically stores its
snapshot together with the partition's next offset. After a crash or a rebalance the partition
is restored from that snapshot and the events after its offset are replayed: since the restored
state is exactly the state the original process had at that offset, the replay produces exactly
the transitions (and ``drift_event_id``s) the original would have, which the deduplicating
tables absorb.

Format (versioned, no pickle): ``b"DWS2"`` + 4-byte length + a JSON header (one list per key:
source_id, metric, events in window, newest time, state code, hits, state_since_ms, last_z,
last_ratio, then the cusum method's four statistics and its "evaluated" flag) + the windows'
event times (int64) and values (float64) as raw little-endian arrays, key after key.
``DWS1`` blobs (written before the cusum method existed: no statistics) still restore, with
the statistics at 0. Floats go through orjson, which writes the shortest repr: exact. Thresholds and baselines are not stored: the restoring process resolves
them from the configuration it has then (the same, unless it changed in between).

>>> from detection.core.config import Baseline, Thresholds
>>> from detection.core.detector import KeyedDetector
>>> from detection.core.events import make_event
>>> th = Thresholds(window_seconds=10, min_samples=3, z_threshold=2, std_ratio_threshold=3,
...                 enter_hits=2, exit_hits=2, allowed_lateness_seconds=1)
>>> resolvers = (lambda s, m: th, lambda s, m: Baseline(mean=0.0, std=1.0, count=100))
>>> a = KeyedDetector(*resolvers)
>>> for i in range(20):
...     _ = a.update(make_event("s", "m", 5.0 if i > 10 else 0.0, i * 1000))
>>> b = KeyedDetector(*resolvers)
>>> restore(b, snapshot(a))
1
>>> b.status("s", "m") == a.status("s", "m")
True
"""

from __future__ import annotations

import struct
import sys
from array import array

import orjson

from detection.core.detector import KeyedDetector, SavedKey

MAGIC = b"DWS2"
MAGIC_V1 = b"DWS1"
_LEN = struct.Struct("<I")


class SnapshotError(ValueError):
    pass


def snapshot(detector: KeyedDetector) -> bytes:
    header = []
    chunks = []
    for key in detector.saved_keys():
        times = key.times
        values = key.values
        header.append([
            key.source_id, key.metric, len(times), key.newest_ms, key.state, key.hits,
            key.state_since_ms, key.last_z, key.last_ratio, *key.cusum_statistics, key.evaluated,
        ])
        if sys.byteorder != "little":
            times.byteswap()
            values.byteswap()
        chunks.append(times.tobytes())
        chunks.append(values.tobytes())
    head_bytes = orjson.dumps(header)
    return b"".join([MAGIC, _LEN.pack(len(head_bytes)), head_bytes, *chunks])


def restore(detector: KeyedDetector, blob: bytes) -> int:
    """Load the keys of ``blob`` into ``detector`` (replacing keys of the same name).

    Returns the number of keys restored. Raises :class:`SnapshotError` on a corrupt blob.
    """
    magic = blob[:4]
    if magic not in (MAGIC, MAGIC_V1) or len(blob) < 8:
        raise SnapshotError("not a detector snapshot (bad magic)")
    width = 14 if magic == MAGIC else 9
    (head_len,) = _LEN.unpack_from(blob, 4)
    try:
        header = orjson.loads(blob[8 : 8 + head_len])
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"corrupt snapshot header: {exc}") from exc
    pos = 8 + head_len
    for entry in header:
        if not isinstance(entry, list) or len(entry) != width:
            raise SnapshotError("corrupt snapshot header: unexpected key entry")
        source_id, metric, n, newest, state, hits, since, last_z, last_ratio = entry[:9]
        cusum = entry[9:13] if width == 14 else (0.0, 0.0, 0.0, 0.0)
        # entry[13] ("evaluated") is derived from the window on reading; kept for readers of the format.
        end_times = pos + 8 * n
        end_values = end_times + 8 * n
        if end_values > len(blob):
            raise SnapshotError("truncated snapshot")
        times = array("q")
        times.frombytes(blob[pos:end_times])
        values = array("d")
        values.frombytes(blob[end_times:end_values])
        if sys.byteorder != "little":
            times.byteswap()
            values.byteswap()
        pos = end_values
        detector.load_key(SavedKey(
            source_id, metric, times, values, newest, state, hits, since, last_z, last_ratio, tuple(cusum), False,
        ))
    if pos != len(blob):
        raise SnapshotError("trailing bytes after the last key")
    return len(header)
