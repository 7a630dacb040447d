"""The [tracking] config section: defaults, environment overrides, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.processes import ROOT


def test_defaults_and_environment_overrides(tmp_path: Path) -> None:
    config = load_config(
        tmp_path / "none.toml",
        {
            "AFFBOT_TRACKING__CLICK_BATCH_SIZE": "50",
            "AFFBOT_TRACKING__CAP_ALERT_PERCENTS": "100,75,75",
            "AFFBOT_TRACKING__IP_HASH_SALT": "pepper",
        },
    )
    tracking = config.tracking
    assert tracking.click_batch_size == 50
    assert tracking.click_flush_seconds == 1.0
    assert tracking.cap_alert_percents == [75, 100]
    assert tracking.ip_hash_salt is not None
    assert "pepper" not in repr(tracking)
    assert load_config(tmp_path / "none.toml", {}).tracking.cap_alert_percents == [90, 100]


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[tracking]\nclick_batch_size = 0\ncap_alert_percents = []\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    message = str(raised.value)
    assert "tracking.click_batch_size" in message
    assert "tracking.cap_alert_percents" in message
    assert str(path) in message


def test_example_config_documents_the_tracking_keys() -> None:
    example = ROOT / "config.example.toml"
    config = load_config(example, {})
    text = example.read_text()
    for key in type(config.tracking).model_fields:
        assert key in text, key
