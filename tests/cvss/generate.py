#!/usr/bin/env python3
"""Generate the CVSS reference fixture that tests/cvss_reference.rs checks herald against.

Regenerate with (from the crate root):

    pip install cvss==3.6
    python3 tests/cvss/generate.py > tests/fixtures/cvss/reference.json

The vectors are drawn from a fixed-seed pseudo-random generator, so the same script and the
same version of the `cvss` package give a byte-identical file. Every vector is valid per the
CVSS v3.1 / v4.0 specifications: all base metrics present, only defined values, each metric at
most once, metrics in the order the specification lists them. A share of the vectors also carry
optional metrics (v3.1 temporal and environmental; v4.0 threat, environmental and
supplemental), some of them explicitly "X" (Not Defined).

Each vector is scored by Red Hat's `cvss` package (PyPI `cvss`):

* CVSS 3.1: the *base* score and base severity (`CVSS3.scores()[0]`, `severities()[0]`).
  herald scores a vector with the Rust `cvss` crate's `Cvss::score()`, which for v3 is an
  alias of `Vector::base_score()` and ignores the temporal and environmental metrics (they are
  parsed and validated, not scored), so the base score is the like-for-like comparison.
* CVSS 4.0: the single score CVSS 4.0 defines (`CVSS4.base_score`, which despite its name is
  the CVSS-B, -BT, -BE or -BTE score depending on which metrics the vector carries) and its
  severity. The Rust crate's `Vector::score()` likewise takes threat and environmental
  metrics into account.

The package must be cvss 3.3 or newer. Up to 3.2 its CVSS 4.0 score was rounded as
`round_half_up(x * 10) / 10` on a float, so a score whose exact value is a tie such as 5.65 but
that comes out of the float arithmetic as 5.6499999999999995 was rounded down (5.6). Red Hat
fixed this in cvss 3.3 (RedHatProductSecurity/cvss#65, for issue #63) by adding an epsilon of
1e-6 before rounding half up; the FIRST / Red Hat CVSS 4.0 JavaScript calculator took the same
fix (RedHatProductSecurity/cvss-v4-calculator#67, for issue #66), and so does the Rust `cvss`
crate (`v4::Score::round_v4`). Against cvss 3.2, 6 of this file's 1,200 CVSS 4.0 vectors score
a tenth lower than herald (five exact 5.65 ties and one 5.45); against 3.3+ all agree. CVSS 3.x
scoring is identical in 3.2 and 3.6.

The Rust test needs no Python: it reads the generated JSON only.
"""

import json
import random
import sys
from importlib.metadata import version

from cvss import CVSS3, CVSS4

SEED = 20240611
COUNT_V3 = 1200
COUNT_V4 = 1200
REGENERATE = "python3 tests/cvss/generate.py > tests/fixtures/cvss/reference.json"

# CVSS v3.1 specification, section 6 (Vector String), table 15: metric order and values.
V3_BASE = [
    ("AV", "NALP"),
    ("AC", "LH"),
    ("PR", "NLH"),
    ("UI", "NR"),
    ("S", "UC"),
    ("C", "HLN"),
    ("I", "HLN"),
    ("A", "HLN"),
]
V3_TEMPORAL = [
    ("E", "XUPFH"),
    ("RL", "XOTWU"),
    ("RC", "XURC"),
]
V3_ENVIRONMENTAL = [
    ("CR", "XLMH"),
    ("IR", "XLMH"),
    ("AR", "XLMH"),
    ("MAV", "XNALP"),
    ("MAC", "XLH"),
    ("MPR", "XNLH"),
    ("MUI", "XNR"),
    ("MS", "XUC"),
    ("MC", "XNLH"),
    ("MI", "XNLH"),
    ("MA", "XNLH"),
]

# CVSS v4.0 specification, section 7 (Vector String), table 23: metric order and values.
V4_BASE = [
    ("AV", ["N", "A", "L", "P"]),
    ("AC", ["L", "H"]),
    ("AT", ["N", "P"]),
    ("PR", ["N", "L", "H"]),
    ("UI", ["N", "P", "A"]),
    ("VC", ["H", "L", "N"]),
    ("VI", ["H", "L", "N"]),
    ("VA", ["H", "L", "N"]),
    ("SC", ["H", "L", "N"]),
    ("SI", ["H", "L", "N"]),
    ("SA", ["H", "L", "N"]),
]
V4_THREAT = [
    ("E", ["X", "A", "P", "U"]),
]
V4_ENVIRONMENTAL = [
    ("CR", ["X", "H", "M", "L"]),
    ("IR", ["X", "H", "M", "L"]),
    ("AR", ["X", "H", "M", "L"]),
    ("MAV", ["X", "N", "A", "L", "P"]),
    ("MAC", ["X", "L", "H"]),
    ("MAT", ["X", "N", "P"]),
    ("MPR", ["X", "N", "L", "H"]),
    ("MUI", ["X", "N", "P", "A"]),
    ("MVC", ["X", "H", "L", "N"]),
    ("MVI", ["X", "H", "L", "N"]),
    ("MVA", ["X", "H", "L", "N"]),
    ("MSC", ["X", "H", "L", "N"]),
    ("MSI", ["X", "S", "H", "L", "N"]),
    ("MSA", ["X", "S", "H", "L", "N"]),
]
V4_SUPPLEMENTAL = [
    ("S", ["X", "N", "P"]),
    ("AU", ["X", "N", "Y"]),
    ("R", ["X", "A", "U", "I"]),
    ("V", ["X", "D", "C"]),
    ("RE", ["X", "L", "M", "H"]),
    ("U", ["X", "Clear", "Green", "Amber", "Red"]),
]


def pick_all(rng, metrics):
    """Every metric of the group, each with a random value."""
    return ["{0}:{1}".format(name, rng.choice(values)) for name, values in metrics]


def pick_some(rng, metrics, share):
    """A random subset of the group (each metric kept with probability `share`), in order."""
    return [
        "{0}:{1}".format(name, rng.choice(values))
        for name, values in metrics
        if rng.random() < share
    ]


def optional_groups(rng, groups):
    """Which optional groups a vector carries: about a third carry none at all."""
    if rng.random() < 1 / 3:
        return []
    chosen = [group for group in groups if rng.random() < 0.6]
    return chosen or [rng.choice(groups)]


def v3_vector(rng):
    parts = pick_all(rng, V3_BASE)
    groups = optional_groups(rng, ["temporal", "environmental"])
    if "temporal" in groups:
        parts += pick_some(rng, V3_TEMPORAL, 0.7)
    if "environmental" in groups:
        parts += pick_some(rng, V3_ENVIRONMENTAL, 0.5)
    return "CVSS:3.1/" + "/".join(parts)


def v4_vector(rng):
    parts = pick_all(rng, V4_BASE)
    groups = optional_groups(rng, ["threat", "environmental", "supplemental"])
    if "threat" in groups:
        parts += pick_some(rng, V4_THREAT, 1.0)
    if "environmental" in groups:
        parts += pick_some(rng, V4_ENVIRONMENTAL, 0.45)
    if "supplemental" in groups:
        parts += pick_some(rng, V4_SUPPLEMENTAL, 0.5)
    return "CVSS:4.0/" + "/".join(parts)


def unique(rng, make, count):
    seen = set()
    vectors = []
    while len(vectors) < count:
        vector = make(rng)
        if vector not in seen:
            seen.add(vector)
            vectors.append(vector)
    return vectors


def score_v3(vector):
    parsed = CVSS3(vector)
    return parsed.scores()[0], parsed.severities()[0].lower()


def score_v4(vector):
    parsed = CVSS4(vector)
    return parsed.base_score, parsed.severity.lower()


def main():
    major, minor = (int(part) for part in version("cvss").split(".")[:2])
    if (major, minor) < (3, 3):
        sys.exit(
            "cvss {0} rounds CVSS 4.0 ties like 5.65 down; install cvss>=3.3 "
            "(pip install cvss==3.6)".format(version("cvss"))
        )
    rng = random.Random(SEED)
    entries = []
    for vector in unique(rng, v3_vector, COUNT_V3):
        score, severity = score_v3(vector)
        entries.append({"vector": vector, "score": score, "severity": severity})
    for vector in unique(rng, v4_vector, COUNT_V4):
        score, severity = score_v4(vector)
        entries.append({"vector": vector, "score": score, "severity": severity})

    header = {
        "generator": {
            "script": "tests/cvss/generate.py",
            "seed": SEED,
            "method": (
                "random.Random(seed): {0} distinct CVSS 3.1 and {1} distinct CVSS 4.0 vectors, "
                "all base metrics, valid values, specification order; about two thirds also "
                "carry optional metrics (3.1 temporal/environmental; 4.0 threat/environmental/"
                "supplemental), some set to X"
            ).format(COUNT_V3, COUNT_V4),
            "regenerate": "pip install cvss=={0} && {1}".format(version("cvss"), REGENERATE),
        },
        "reference": "Red Hat cvss {0} for Python".format(version("cvss")),
        "scores": (
            "CVSS 3.1: base score and base severity (CVSS3.scores()[0], severities()[0]), "
            "the score the Rust cvss crate's Cvss::score() returns; CVSS 4.0: the one CVSS 4.0 "
            "score (CVSS-B/BT/BE/BTE per the metrics present) and its severity"
        ),
    }

    # One vector per line keeps the file reviewable and its diffs small.
    out = sys.stdout
    out.write("{\n")
    for key, value in header.items():
        out.write("  {0}: {1},\n".format(json.dumps(key), json.dumps(value)))
    out.write('  "vectors": [\n')
    for index, entry in enumerate(entries):
        separator = "," if index + 1 < len(entries) else ""
        out.write("    {0}{1}\n".format(json.dumps(entry), separator))
    out.write("  ]\n}\n")


if __name__ == "__main__":
    main()
