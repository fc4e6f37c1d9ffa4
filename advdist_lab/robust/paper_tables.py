"""DFARD's and DERD's published numbers (``001_...``, ``002_...``), transcribed from the text, to set beside ours.

DFARD's accuracies are percentages in the column order of :data:`DFARD_COLUMNS` (Clean, FGSM, PGD_S, PGD_T,
CW_inf, AA), at ``eps = 8/255`` on CIFAR with a WRN-34-10 TRADES teacher (the RSLAD teacher) and 200 epochs.

* :data:`DFARD_TABLE1`: Table 1, ``{(student, dataset): {method: row}}`` for students ``RN-18`` and ``MN-V2``
  and datasets ``CIFAR-10`` and ``CIFAR-100``. "Ours*" is DFARD in the generation stage only, "Ours" the whole
  Algorithm 1.
* :data:`DFARD_TABLE3`: Table 3, the ablation on CIFAR-10 with the RN-18 student (its "Ours" row equals Table 1's).
* :data:`DFARD_TABLE4`: Table 4, three baselines with ITA (CIFAR-10, RN-18), only Clean, CW_inf and AA, with the
  gains over Table 1 that the paper prints beside them.
* :data:`DFARD_TABLE2_HOURS`: Table 2, the synthesis time of the whole generation stage on one RTX 3090, in hours
  (times ``n`` temperature and ``m`` loss-weight tunings for the baselines).
* :data:`DFARD_AVERAGE_GAINS`: the text's "improves the average adversarial robustness by 1.98%, 0.55%, 1.69%
  and 1.03%" for the four settings (in the order CIFAR-10 RN-18, CIFAR-10 MN-V2, CIFAR-100 RN-18, CIFAR-100
  MN-V2, the columns of Table 1 read across): the mean over the five attacks (Clean excluded) of "Ours*" minus
  that of the best other method; the tests check that this reading reproduces all four.

DERD's supplement (``002_...``), CIFAR-10 with a ResNet-18 student unless said otherwise, in the columns of
:data:`DERD_COLUMNS` (its ``Ave`` includes Clean):

* :data:`DERD_TABLE1`: Table 1, ImageNet-100.
* :data:`DERD_TABLE2`: Table 2, DERD applied to model inversion.
* :data:`DERD_TABLE3`: Table 3, DERD without the natural teacher.
"""

from __future__ import annotations

__all__ = [
    "DERD_COLUMNS",
    "DERD_TABLE1",
    "DERD_TABLE2",
    "DERD_TABLE3",
    "DFARD_AVERAGE_GAINS",
    "DFARD_COLUMNS",
    "DFARD_TABLE1",
    "DFARD_TABLE2_HOURS",
    "DFARD_TABLE3",
    "DFARD_TABLE4",
    "DFARD_TABLE4_GAINS",
]

DFARD_COLUMNS = ("clean", "fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack")
"""The columns of DFARD's Table 1 (its text's average, over the five attacks, is not a column)."""

DFARD_TABLE1: dict[tuple[str, str], dict[str, tuple[float, ...]]] = {
    ("RN-18", "CIFAR-10"): {
        "Dream": (68.26, 34.76, 29.72, 31.36, 27.96, 26.70),
        "DeepInv": (64.53, 35.18, 31.26, 32.49, 28.77, 27.93),
        "DAFL": (54.98, 27.04, 24.75, 25.87, 22.90, 22.25),
        "ZSKT": (58.08, 31.98, 29.94, 30.92, 27.21, 26.68),
        "DFQ": (54.44, 26.90, 24.63, 25.78, 22.37, 21.57),
        "CMI": (53.28, 25.78, 23.14, 23.97, 21.03, 20.38),
        "Fast": (61.13, 31.40, 28.01, 29.17, 26.26, 25.42),
        "Ours*": (65.10, 36.36, 33.47, 34.89, 30.79, 30.06),
        "Ours": (66.44, 38.53, 35.94, 37.15, 32.79, 32.14),
    },
    ("RN-18", "CIFAR-100"): {
        "Dream": (22.00, 10.18, 9.52, 9.85, 7.11, 6.68),
        "DeepInv": (40.91, 19.46, 17.86, 18.68, 15.27, 14.54),
        "DAFL": (41.67, 21.42, 20.13, 20.81, 17.96, 17.16),
        "ZSKT": (38.91, 20.16, 18.78, 19.41, 16.38, 15.52),
        "DFQ": (45.24, 22.49, 20.78, 21.61, 18.24, 17.38),
        "CMI": (45.04, 22.78, 21.02, 21.90, 17.90, 16.97),
        "Fast": (36.75, 18.66, 17.72, 18.33, 15.57, 14.77),
        "Ours*": (45.33, 24.08, 22.71, 23.38, 19.84, 19.00),
        "Ours": (46.33, 24.56, 22.94, 23.59, 20.12, 19.19),
    },
    ("MN-V2", "CIFAR-10"): {
        "Dream": (64.95, 32.03, 26.09, 27.63, 23.83, 22.28),
        "DeepInv": (59.53, 31.76, 28.42, 29.74, 25.86, 24.99),
        "DAFL": (47.53, 24.51, 21.18, 22.09, 19.50, 18.86),
        "ZSKT": (57.02, 30.29, 27.07, 28.25, 24.89, 24.40),
        "DFQ": (44.25, 21.13, 19.14, 20.07, 16.87, 16.20),
        "CMI": (44.53, 21.34, 19.67, 19.97, 16.25, 15.97),
        "Fast": (54.06, 28.23, 25.69, 26.83, 23.18, 22.42),
        "Ours*": (59.79, 32.25, 29.25, 30.24, 26.18, 25.56),
        "Ours": (61.16, 34.46, 31.66, 32.80, 28.40, 27.90),
    },
    ("MN-V2", "CIFAR-100"): {
        "Dream": (18.73, 9.78, 8.96, 9.37, 6.93, 6.33),
        "DeepInv": (37.75, 16.94, 15.54, 16.19, 12.65, 11.80),
        "DAFL": (40.46, 20.63, 19.03, 19.78, 16.54, 15.82),
        "ZSKT": (25.16, 12.34, 11.36, 11.78, 9.69, 9.16),
        "DFQ": (40.26, 19.45, 17.74, 18.44, 15.14, 14.35),
        "CMI": (40.23, 19.76, 17.96, 18.56, 14.86, 14.02),
        "Fast": (38.69, 18.58, 16.77, 17.58, 14.62, 13.75),
        "Ours*": (40.94, 21.47, 20.18, 20.89, 17.60, 16.82),
        "Ours": (41.78, 22.04, 20.84, 21.68, 17.93, 17.04),
    },
}

DFARD_TABLE3: dict[str, tuple[float, ...]] = {
    "Vanilla": (58.35, 30.68, 28.59, 29.75, 24.67, 23.95),
    "w/ ITA (G)": (59.16, 31.05, 28.59, 29.90, 24.87, 24.21),
    "w/ ITA (GD)": (60.36, 33.09, 30.97, 32.02, 26.79, 26.24),
    "w/ AGB": (64.41, 36.33, 33.53, 34.91, 30.57, 29.92),
    "Ours": (66.44, 38.53, 35.94, 37.15, 32.79, 32.14),
}

DFARD_TABLE4: dict[str, dict[str, float]] = {
    "DAFL+ITA": {"clean": 56.26, "cw_inf": 24.78, "autoattack": 24.36},
    "DFQ+ITA": {"clean": 55.79, "cw_inf": 24.12, "autoattack": 23.74},
    "ZSKT+ITA": {"clean": 59.93, "cw_inf": 29.03, "autoattack": 28.58},
}

DFARD_TABLE4_GAINS: dict[str, dict[str, float]] = {
    "DAFL+ITA": {"clean": 1.28, "cw_inf": 1.88, "autoattack": 2.11},
    "DFQ+ITA": {"clean": 1.35, "cw_inf": 1.75, "autoattack": 2.17},
    "ZSKT+ITA": {"clean": 1.85, "cw_inf": 1.82, "autoattack": 1.90},
}
"""The gains over Table 1 printed in parentheses in Table 4."""

DFARD_TABLE2_HOURS: dict[str, dict[str, float]] = {
    "CIFAR-10": {
        "Dream": 29.17,
        "DeepInv": 24.70,
        "DAFL": 4.04,
        "ZSKT": 3.03,
        "DFQ": 4.09,
        "CMI": 48.69,
        "Fast": 6.10,
        "Ours": 3.28,
    },
    "CIFAR-100": {
        "Dream": 125.14,
        "DeepInv": 101.28,
        "DAFL": 13.43,
        "ZSKT": 5.62,
        "DFQ": 13.11,
        "CMI": 77.99,
        "Fast": 12.16,
        "Ours": 5.85,
    },
}

DFARD_AVERAGE_GAINS: dict[tuple[str, str], float] = {
    ("RN-18", "CIFAR-10"): 1.98,
    ("MN-V2", "CIFAR-10"): 0.55,
    ("RN-18", "CIFAR-100"): 1.69,
    ("MN-V2", "CIFAR-100"): 1.03,
}


# DERD (``002_...``, the supplement)

DERD_COLUMNS = ("clean", "fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack", "average")
"""The columns of the supplement's tables: Clean, FGSM, PGD_S, PGD_T, CW, AA and Ave, the mean of the six before
it, Clean included (the mean of the five attacks misses by 2.5 to 12.6 points). Every row's Ave matches that mean
within 0.01, except DERD's own row in Tables 2 and 3: printed 56.29, its columns average 56.268 (the same in
both tables, so a slip of the paper, not of the OCR)."""

DERD_TABLE1: dict[str, tuple[float, ...]] = {
    "Nature": (89.49, 52.10, 6.15, 7.32, 2.54, 0.00, 26.26),
    "SAT": (78.44, 66.79, 50.01, 53.68, 66.17, 55.62, 61.78),
    "DERD (ours)": (61.56, 59.44, 40.77, 42.71, 44.79, 43.34, 48.76),
}
"""Supplement Table 1: ImageNet-100 (in percent; "732" of the OCR is 7.32)."""

_DERD_BASELINES: dict[str, tuple[float, ...]] = {
    "DAFL": (54.98, 27.04, 24.75, 25.87, 22.90, 22.25, 29.63),
    "DFAD": (57.58, 31.54, 29.68, 30.65, 26.94, 26.47, 33.81),
    "ZSKT": (58.08, 31.98, 29.94, 30.92, 27.21, 26.68, 34.13),
    "CMI": (53.28, 25.78, 23.14, 23.97, 21.03, 20.38, 27.92),
    "DFARD": (66.44, 38.53, 35.94, 37.15, 32.79, 32.14, 40.49),
}
_DERD_ROW = (72.83, 67.39, 53.64, 54.01, 53.71, 36.03, 56.29)

DERD_TABLE2: dict[str, tuple[float, ...]] = {
    **_DERD_BASELINES,
    "DERD_inv": (62.44, 50.42, 42.51, 42.89, 38.72, 28.94, 44.32),
    "DERD (ours)": _DERD_ROW,
}
"""Supplement Table 2, "Apply DERD to model-inversion based framework" (CIFAR-10, ResNet-18, percent), columns
:data:`DERD_COLUMNS`. OCR fixes: digits run together without their point ("2475" = 24.75, "2290" = 22.90,
"3853" = 38.53, "5042" = 50.42, ...). The DAFL, ZSKT, CMI and DFARD rows equal DFARD's Table 1 (RN-18,
CIFAR-10); DFAD's is not in it."""

DERD_TABLE3: dict[str, tuple[float, ...]] = {
    **_DERD_BASELINES,
    "w/o T_nat": (52.51, 49.34, 37.66, 39.67, 38.54, 23.31, 40.17),
    "DERD (ours)": _DERD_ROW,
}
"""Supplement Table 3, "The robustness of DERD without the nature teacher" (same setting and columns as
Table 2; the OCR's "w/0 That" is "w/o T_nat")."""
