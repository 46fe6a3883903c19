"""The example Prometheus rules file parses and uses only gauges /metrics exposes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPOSED = {"driftwatch_key_drifting", "driftwatch_key_z_score", "driftwatch_key_std_ratio", "driftwatch_key_gauges_up"}


def test_rules_file_is_valid_yaml_with_alerts_over_our_gauges():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-rules.yml").read_text())
    [group] = rules["groups"]
    names = set()
    for rule in group["rules"]:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule)
        names |= set(re.findall(r"driftwatch_\w+", rule["expr"] + " ".join(rule["annotations"].values())))
    assert names and names <= EXPOSED, names - EXPOSED
    assert any(rule["alert"] == "MetricDrift" for rule in group["rules"])
