"""The shelter standards the analysis applies, read from `layers/rules/shelters.toml`.

Every figure there names its clause (GB 50413-2007 §8.2, GB 21734-2008 §5.4, GB 51143-2015,
and the city's own 1.5 m² per resident indicator); nothing of them is a constant in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geodata.errors import OnemapError
from layers.rule_files import positive, read_rules

RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "shelters.toml"
CLASSES = ("emergency", "fixed", "central")


class StandardsError(OnemapError):
    """The shelter standards file is not usable; the message names the key."""


@dataclass(frozen=True)
class ShelterClass:
    name: str                 # emergency, fixed, central
    name_zh: str
    per_person_m2: float      # capacity = effective area / this
    min_site_m2: float
    radius_m: float           # residents within it are covered (walking)
    source: str


@dataclass(frozen=True)
class CandidateDefaults:
    shelter_class: str
    area_m2: float
    grid_m: float
    max_n: int


@dataclass(frozen=True)
class ShelterStandards:
    per_resident_m2: float    # the indicator: shelter area per resident
    source: str
    classes: dict[str, ShelterClass]
    candidates: CandidateDefaults

    def describe(self) -> dict:
        """The standards as the API shows them beside its figures."""
        return {"per_resident_m2": self.per_resident_m2, "source": self.source,
                "classes": {c.name: {"name_zh": c.name_zh, "per_person_m2": c.per_person_m2,
                                     "min_site_m2": c.min_site_m2, "radius_m": c.radius_m,
                                     "source": c.source} for c in self.classes.values()}}


LABEL = "shelter standards"


def _positive(doc: dict, key: str, where: str, whole: bool = False) -> float:
    return positive(doc, key, where, LABEL, StandardsError, whole)


def load_standards(path: Path = RULES_FILE) -> ShelterStandards:
    """Read and check the standards file."""
    doc = read_rules(path, LABEL, StandardsError)
    indicator = doc.get("indicator", {})
    per_resident = _positive(indicator, "per_resident_m2", "indicator")
    classes_doc = doc.get("classes", {})
    missing = [c for c in CLASSES if c not in classes_doc]
    if missing:
        raise StandardsError(f"shelter standards: [classes] lacks {', '.join(missing)}")
    unknown = sorted(set(classes_doc) - set(CLASSES))
    if unknown:
        raise StandardsError(f"shelter standards: unknown classes {', '.join(unknown)} "
                             f"(known: {', '.join(CLASSES)})")
    classes = {}
    for name in CLASSES:
        c = classes_doc[name]
        where = f"classes.{name}"
        classes[name] = ShelterClass(name, str(c.get("name_zh", name)),
                                     _positive(c, "per_person_m2", where),
                                     _positive(c, "min_site_m2", where),
                                     _positive(c, "radius_m", where), str(c.get("source", "")))
    cand = doc.get("candidates", {})
    shelter_class = cand.get("class", "emergency")
    if shelter_class not in CLASSES:
        raise StandardsError(f"shelter standards: candidates.class must be one of "
                             f"{', '.join(CLASSES)}, not {shelter_class!r}")
    max_n = _positive({"max_n": 50, **cand}, "max_n", "candidates", whole=True)
    return ShelterStandards(
        per_resident, str(indicator.get("source", "")),
        classes,
        CandidateDefaults(shelter_class, _positive(cand, "area_m2", "candidates"),
                          _positive(cand, "grid_m", "candidates"), max_n))
