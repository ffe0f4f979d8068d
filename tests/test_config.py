"""Settings: config/default.toml documents the built-in defaults; env and files layer over."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsvc.config import PROJECT_ROOT, Settings, load_settings
from evalsvc.errors import ConfigError


def test_default_toml_matches_the_built_in_defaults() -> None:
    assert load_settings(env={}) == Settings()


def test_environment_overrides(tmp_path: Path) -> None:
    s = load_settings(
        env={"EVALSVC_DATABASE_URL": "postgresql://x@127.0.0.1/db", "EVALSVC_PORT": "9000"}
    )
    assert s.database.url == "postgresql://x@127.0.0.1/db" and s.server.port == 9000


def test_extra_file_layers_over_defaults(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[scoring]\ndeviation_share = "0.25"\n', encoding="utf-8")
    s = load_settings(f, env={})
    assert str(s.scoring.deviation_share) == "0.25" and s.server.port == 8080


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[server]\nport = "x"\n', "expected an integer"),
        ("[server]\nhots = 1\n", "unknown setting 'hots'"),
        ('[scoring]\nstep = "abc"\n', "expected a decimal"),
        ("[server\n", "not valid TOML"),
        ("[alerts]\nspacing_min_bids = 2\n", r"alerts.spacing_min_bids: 须在 3 与 1000 之间"),
        ('[alerts]\nagreement_alpha = "0.5"\n', r"alerts.agreement_alpha: 须在"),
        ("[alerts]\nfoo = 1\n", "unknown setting 'foo'"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(f, env={})


def test_test_toml_loads() -> None:
    assert load_settings(PROJECT_ROOT / "config" / "test.toml", env={}).server.port == 0


def test_the_fault_rules_take_fractional_minutes_and_name_a_bad_one() -> None:
    from evalsvc.app import fault_rules

    s = load_settings(env={}, overrides={"rules": {
        "link_lost_pause_minutes": 0.05, "resume_deadline_minutes": 2,
        "suspend_after_minutes": 4}})
    rules = fault_rules(s.rules)
    assert (rules.pause_after_s, rules.resume_within_s, rules.suspend_after_s) == (3, 120, 240)
    assert rules.rule("link_lost_pause_minutes", 3) == {
        "name": "link_lost_pause_minutes", "value": "0.05", "seconds": 3}
    assert fault_rules(Settings().rules).pause_after_s == 600  # 10 minutes by default
    assert Settings().rules.link_lost_grace_seconds == 5
    with pytest.raises(ConfigError, match=r"rules\.link_lost_pause_minutes: expected 0 or more"):
        load_settings(env={}, overrides={"rules": {"link_lost_pause_minutes": -1}})
    with pytest.raises(ConfigError, match="suspend_after_minutes: expected at least"):
        load_settings(env={}, overrides={"rules": {"suspend_after_minutes": 60}})
    with pytest.raises(ConfigError, match="resume_deadline_minutes: expected a decimal"):
        load_settings(env={}, overrides={"rules": {"resume_deadline_minutes": "soon"}})
