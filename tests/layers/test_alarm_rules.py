"""The alarm rules file: the shipped one covers every kind with its sources; a bad edit is
refused with a message naming its key."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import tomllib

import pytest

from geodata.db.reference import DATA_DIR
from layers.alarms.rules import RULES_FILE, AlarmRulesError, load_rules, parse_rules


def shipped() -> dict:
    return tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))


def test_every_kind_has_rules_in_its_own_unit_with_a_source():
    with (DATA_DIR / "monitoring_kinds.csv").open(encoding="utf-8") as fh:
        units = {row["kind"]: row["unit"] for row in csv.DictReader(fh)}
    rules = load_rules()
    assert set(rules.kinds) == set(units)
    for kind, unit in units.items():
        assert rules.kinds[kind].unit == unit
        assert rules.kinds[kind].source.strip()
        assert rules.kinds[kind].rises, f"{kind} has no rise rule"


def test_the_shipped_thresholds_are_the_cited_ones():
    rules = load_rules()
    # GB/T 50493-2019 §5.5: first alarm ≤ 25 %LEL, second ≤ 50 %LEL
    assert rules.kinds["gas"].thresholds[2:] == (25.0, 50.0)
    # GB 51222-2017 §3.2.1: at most 15 cm on a traffic lane
    assert rules.kinds["drainage"].thresholds[0] == 15.0
    # water pressure alarms when it falls
    assert rules.kinds["water_supply"].direction == "below"
    assert rules.quiet_period == dt.timedelta(minutes=30)
    assert rules.quiet_close_grades == ("blue", "yellow")


def _broken(edit) -> dict:
    doc = copy.deepcopy(shipped())
    edit(doc)
    return doc


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d["kinds"]["gas"].update(red=20), "kinds.gas: the thresholds blue, yellow, orange, red must rise"),
    (lambda d: d["kinds"]["water_supply"].update(blue=0.05), "kinds.water_supply: the thresholds"),
    (lambda d: d["kinds"]["gas"].update(direction="up"), "kinds.gas.direction must be 'above' or 'below'"),
    (lambda d: d["kinds"]["gas"].update(yellow="ten"), "kinds.gas.yellow must be a number"),
    (lambda d: d["kinds"]["gas"].pop("unit"), "kinds.gas.unit must be a text"),
    (lambda d: d["kinds"]["gas"].update(hysteresis=-1), "kinds.gas.hysteresis must be 0 or more"),
    (lambda d: d["kinds"]["gas"]["rise"][0].update(grade="purple"), "kinds.gas.rise[0].grade must be one of"),
    (lambda d: d["kinds"]["gas"]["rise"][0].update(by=0), "kinds.gas.rise[0].by must be a number above 0"),
    (lambda d: d["lifecycle"].update(quiet_period_minutes=0), "lifecycle.quiet_period_minutes must be"),
    (lambda d: d["lifecycle"].update(quiet_close_grades=["green"]), "lifecycle.quiet_close_grades"),
    (lambda d: d.pop("kinds"), "no [kinds.…] table"),
])
def test_a_bad_rule_is_refused_naming_its_key(edit, words):
    with pytest.raises(AlarmRulesError) as refused:
        parse_rules(_broken(edit))
    assert words in str(refused.value)


def test_a_file_that_is_not_toml_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "alarms.toml"
    bad.write_text("[kinds.gas\n", encoding="utf-8")
    with pytest.raises(AlarmRulesError, match="cannot read alarms.toml"):
        load_rules(bad)
