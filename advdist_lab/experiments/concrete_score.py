"""TPAMI Eq. 11 taken literally, the concrete score, beside the other gradient estimators: in the exact study and in
training, in words computed from the numbers (notebook 05).

Eq. 11 writes the Gumbel-Softmax gradient as ``E_{y ~ q_s}[grad log q_s(y | x) log D_s(x, y)]`` with ``q_s`` the
concrete distribution of Eq. 10; :func:`advdist_lab.gumbel.adversarial_surrogate` implements that reading as the
estimator ``"concrete_score"``. This module measures what it is worth:

* :func:`small_tau_sweep`: the concrete score and the pathwise gradient down to ``tau = 0.001`` (the papers'
  schedule ends at 0.1), where the pathwise variance grows like ``1 / tau``;
* :func:`concrete_score_commentary`: which estimator has the lowest variance at which ``tau``, the concrete
  score's bias against the pathwise one (the same expectation), its variance against REINFORCE's and as ``tau``
  falls, and what a direct implementation meets in float32 (:func:`advdist_lab.theory.estimators.underflow_fraction`);
* :func:`estimator_configs`, :func:`run_estimators`, :func:`estimator_training_table`,
  :func:`estimator_training_markdown`: a short ADIM training on digits with each estimator (probed gradients),
  the student's final accuracy and its adversarial gradient's variance per estimator.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from advdist_lab.experiments.tables import mean_std
from advdist_lab.gumbel import ESTIMATORS
from advdist_lab.hparams import check_choice, check_positive_int
from advdist_lab.methods.config import TrainConfig
from advdist_lab.probes import history_key, mean_over_epochs, series
from advdist_lab.runs.executors import run_configs
from advdist_lab.theory.estimators import EstimatorCase, estimator_label, estimator_sweep, underflow_fraction

__all__ = [
    "SMALL_TAUS",
    "UNDERFLOW_TAUS",
    "concrete_score_commentary",
    "estimator_configs",
    "estimator_curves",
    "estimator_folder",
    "estimator_training_markdown",
    "estimator_training_table",
    "run_estimators",
    "small_tau_sweep",
    "underflow_table",
]

SMALL_TAUS = (1.0, 0.1, 0.01, 0.001)
"""Temperatures of :func:`small_tau_sweep`: down to 100 times below the end of the papers' schedule."""

UNDERFLOW_TAUS = (1.0, 0.3, 0.1, 0.05, 0.03, 0.01)
"""Temperatures at which :func:`underflow_table` measures the float32 relaxed samples."""

TRAINING_METHOD = "adim"
"""The method of the training comparison: ADIM, whose generators both take the adversarial term's estimator."""


def small_tau_sweep(case: EstimatorCase, replicates: int, taus: Sequence[float] = SMALL_TAUS) -> list:
    """:func:`~advdist_lab.theory.estimators.estimator_sweep` of ``"pathwise"`` and ``"concrete_score"`` (no
    baseline, one sample per estimate) at ``taus``: does either variance blow up as ``tau -> 0``?"""
    return estimator_sweep(
        case, taus, (1,), estimators=("pathwise", "concrete_score"), baselines=("none",), replicates=replicates
    )


def underflow_table(case: EstimatorCase, replicates: int, taus: Sequence[float] = UNDERFLOW_TAUS) -> dict:
    """``{tau: fraction}`` of float32 relaxed samples with a coordinate that is exactly 0
    (:func:`~advdist_lab.theory.estimators.underflow_fraction`)."""
    replicates = check_positive_int("replicates", replicates)
    return {float(t): underflow_fraction(case, t, replicates=replicates) for t in taus}


def _pick(rows: Sequence, label: str, samples: int = 1) -> list:
    picked = sorted((r for r in rows if r.label == label and r.samples == samples), key=lambda r: r.tau)
    if not picked:
        raise ValueError(f"the sweep has no row of {label} with {samples} sample(s)")
    return picked


def _winner_runs(rows: Sequence) -> list[tuple[str, float, float]]:
    """``(label, highest tau, lowest tau)`` of each stretch of temperatures over which one estimator has the
    lowest one-sample variance, from the highest temperature down. With one sample the leave-one-out baseline has
    no other sample and changes nothing, so its rows are left out (they repeat the plain ones with other draws)."""
    single = [r for r in rows if r.samples == 1 and r.baseline == "none"]
    runs: list[tuple[str, float, float]] = []
    for tau in sorted({r.tau for r in single}, reverse=True):
        best = min((r for r in single if r.tau == tau), key=lambda r: r.variance).label
        if runs and runs[-1][0] == best:
            runs[-1] = (best, runs[-1][1], tau)
        else:
            runs.append((best, tau, tau))
    return runs


def concrete_score_commentary(rows: Sequence, small: Sequence, underflow: Mapping[float, float]) -> str:
    """Markdown: what the study measured about the concrete score (Eq. 11 literally).

    ``rows``: an :func:`~advdist_lab.theory.estimators.estimator_sweep` with ``estimators=ESTIMATORS`` (every
    estimator, both baselines, ``m = 1`` and ``m = 16`` among the sample counts); ``small``:
    :func:`small_tau_sweep`; ``underflow``: :func:`underflow_table`.
    """
    if not rows or not small or not underflow:
        raise ValueError("rows, small and underflow must not be empty")
    winners = "; ".join(
        f"**{label}** at $\\tau$ = {hi:.2g}" if hi == lo else f"**{label}** from $\\tau$ = {hi:.2g} to {lo:.2g}"
        for label, hi, lo in _winner_runs(rows)
    )
    concrete, path = _pick(rows, "concrete-score"), _pick(rows, "pathwise")
    score = _pick(rows, "score")[0]
    gaps = [abs(c.bias - p.bias) / math.hypot(c.bias_se, p.bias_se) for c, p in zip(concrete, path, strict=True)]
    ratio_to_score = min(c.variance for c in concrete) / score.variance  # the score function ignores tau
    lines = [
        "**Measured** (one sample per estimate unless stated):",
        "",
        f"* Lowest variance: {winners}.",
        f"* The concrete score's bias equals the pathwise one within {max(gaps):.1f} Monte Carlo standard errors at "
        f"every $\\tau$ ({concrete[-1].bias:.3f} against {path[-1].bias:.3f} at $\\tau$ = {path[-1].tau:.2g}, "
        f"{concrete[0].bias:.3f} against {path[0].bias:.3f} at $\\tau$ = {path[0].tau:.2g}): both estimate the "
        "gradient of the relaxed objective $\\mathbb{E}_{y\\sim q_\\tau}[f(y)]$, not of the categorical one.",
        f"* Its variance is {concrete[-1].variance:.3g} at $\\tau$ = {concrete[-1].tau:.2g} and "
        f"{concrete[0].variance:.3g} at $\\tau$ = {concrete[0].tau:.2g}: at every $\\tau$ at least "
        f"{ratio_to_score:.1f} times the categorical score function's ({score.variance:.3g}), the estimator whose "
        "expectation is the right one.",
    ]
    if any(r.samples == 16 for r in rows):
        plain, based = _pick(rows, "concrete-score", 16), _pick(rows, "concrete-score + baseline", 16)
        mid = min(range(len(plain)), key=lambda i: abs(math.log(plain[i].tau)))
        lines.append(
            f"* With $m$ = 16 samples the leave-one-out baseline takes it from {plain[mid].variance:.3g} to "
            f"{based[mid].variance:.3g} at $\\tau$ = {plain[mid].tau:.2g}."
        )
    sc, sp = _pick(small, "concrete-score"), _pick(small, "pathwise")
    growth_c, growth_p = sc[0].variance / sc[-1].variance, sp[0].variance / sp[-1].variance
    grows = growth_c > 2
    lines.append(
        f"* Down to $\\tau$ = {sc[0].tau:.2g}: the concrete score's variance "
        + (
            f"grows {growth_c:.3g}-fold from $\\tau$ = {sc[-1].tau:.2g}"
            if grows
            else f"changes by a factor {growth_c:.3g} from $\\tau$ = {sc[-1].tau:.2g} (to {sc[0].variance:.3g}): it "
            "does not blow up, because its score $\\nabla\\log q_\\tau(y)$ at a sample is $1 - K\\,"
            "\\mathrm{softmax}(-g)$ whatever $\\tau$"
        )
        + f", while the pathwise one grows {growth_p:.3g}-fold (to {sp[0].variance:.3g})."
    )
    cross = [(c.tau, c.variance, p.variance) for c, p in zip(sc, sp, strict=True) if p.variance > c.variance]
    if cross:
        tau, _, _ = max(cross)
        lines.append(f"* The pathwise variance exceeds the concrete score's at $\\tau$ = {tau:.2g} and below.")
    else:
        lines.append("* The pathwise variance stays below the concrete score's at every temperature measured.")
    fails = sorted((t, f) for t, f in underflow.items() if f > 0)
    if fails:
        tau, fraction = max(fails)
        worst_tau, worst = min(fails)
        lines.append(
            f"* A direct implementation, $\\log$ of the relaxed sample, fails in float32: {fraction:.1%} of the "
            f"samples have a coordinate that underflows to 0 at $\\tau$ = {tau:.2g}, {worst:.1%} at $\\tau$ = "
            f"{worst_tau:.2g}; there $\\log q_\\tau(y)$ is not finite. The library draws $\\log y$ in log space."
        )
    else:
        lines.append("* No float32 relaxed sample underflowed at the temperatures measured.")
    usable = not grows and min(c.variance for c in sc) < sp[0].variance
    verdict = (
        "usable at small $\\tau$ (its variance stays bounded, and below the pathwise one at the smallest "
        "temperatures) but, one sample against one sample, noisier at every temperature than the categorical "
        "score function, whose expectation is the one the game needs"
        if usable and ratio_to_score > 1
        else "usable at small $\\tau$"
        if usable
        else "not usable at small $\\tau$: its variance grows as the temperature falls"
    )
    lines += ["", f"**Verdict:** the literal Eq. 11 estimator is {verdict}."]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------
# A short training comparison
# --------------------------------------------------------------------------------------------------------


def estimator_configs(estimators: Sequence[str], seeds: int, **overrides) -> list[TrainConfig]:
    """Probed ADIM configs, one per estimator and seed ``0 .. seeds - 1``, with ``overrides`` (TrainConfig
    fields; ``method``, ``estimator`` and ``seed`` are set here)."""
    seeds = check_positive_int("seeds", seeds)
    if isinstance(estimators, str) or not estimators:
        raise ValueError(f"estimators must be a non-empty sequence (got {estimators!r})")
    for estimator in estimators:
        check_choice("estimator", estimator, ESTIMATORS)
    for key in ("method", "estimator", "seed"):
        if key in overrides:
            raise ValueError(f"{key} is set by the comparison and cannot be overridden")
    return [
        TrainConfig(method=TRAINING_METHOD, estimator=e, seed=s, **{**overrides, "probe_gradients": True})
        for e in estimators
        for s in range(seeds)
    ]


def estimator_folder(out: str | os.PathLike, config: TrainConfig) -> Path:
    """The run folder of ``config`` under ``out``: ``estimators/<estimator>/n<n>/seed<k>``."""
    return Path(out) / "estimators" / str(config.estimator) / f"n{config.n_train}" / f"seed{config.seed}"


def run_estimators(
    configs: Sequence[TrainConfig], out: str | os.PathLike, *, jobs: int | None = None, progress: bool = True
) -> list[dict]:
    """Train (or read back) ``configs`` under ``out``, sharing the teacher cache ``out/teachers``."""
    return run_configs(
        configs,
        [estimator_folder(out, c) for c in configs],
        teachers=Path(out) / "teachers",
        jobs=jobs,
        progress=progress,
        description="estimator runs",
    )


def _by_estimator(results: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    groups: dict[str, list[Mapping]] = {}
    for result in results:
        groups.setdefault(result["config"]["estimator"], []).append(result)
    if not groups:
        raise ValueError("results must hold at least one run")
    return groups


def estimator_curves(results: Sequence[Mapping], key: str = "student_test_accuracy") -> dict[str, list[list[float]]]:
    """``{estimator label: [the per-epoch values of key, one list per seed]}`` for a training-curves figure."""
    return {estimator_label(e): [series(r["history"], key) for r in g] for e, g in _by_estimator(results).items()}


def estimator_training_table(results: Sequence[Mapping]) -> list[dict]:
    """Per estimator: ``{"estimator", "label", "seeds", "accuracies", "accuracy", "accuracy_std", "variance",
    "variance_std"}``, the student's final test accuracy (per seed, and their mean and standard deviation) and the
    variance of its adversarial gradient across minibatches averaged over the epochs (mean and standard deviation
    over seeds; ``nan`` spread for one seed)."""
    key = history_key("student", "grad_var_adversarial")
    rows = []
    for estimator, group in _by_estimator(results).items():
        accuracies = [float(r["test_accuracy"]) for r in group]
        accuracy, accuracy_std = mean_std(accuracies)
        variance, variance_std = mean_std([mean_over_epochs(r["history"], key) for r in group])
        rows.append(
            {
                "estimator": estimator,
                "label": estimator_label(estimator),
                "seeds": len(group),
                "accuracies": accuracies,
                "accuracy": accuracy,
                "accuracy_std": accuracy_std,
                "variance": variance,
                "variance_std": variance_std,
            }
        )
    return rows


def _pm(mean: float, std: float, fmt: str) -> str:
    return format(mean, fmt) if math.isnan(std) else f"{format(mean, fmt)} ± {format(std, fmt)}"


def estimator_training_markdown(rows: Sequence[Mapping], dataset: str, n_train: int, epochs: int) -> str:
    """A markdown table of :func:`estimator_training_table` and sentences computed from it: the estimators by
    final accuracy, and the concrete score's adversarial gradient variance against the others'."""
    if not rows:
        raise ValueError("rows must not be empty")
    seeds = statistics.fmean(r["seeds"] for r in rows)
    table = [
        "| estimator | student test accuracy | adversarial gradient variance (mean over epochs) |",
        "|---|---|---|",
        *(
            f"| {r['label']} | {_pm(r['accuracy'], r['accuracy_std'], '.3f')} | "
            f"{_pm(r['variance'], r['variance_std'], '.3g')} |"
            for r in rows
        ),
    ]
    ranked = sorted(rows, key=lambda r: r["accuracy"], reverse=True)
    order = f"{ranked[0]['label']} ({ranked[0]['accuracy']:.3f})"
    for prev, r in zip(ranked, ranked[1:]):  # "=" where the printed accuracies tie
        sign = "=" if f"{prev['accuracy']:.3f}" == f"{r['accuracy']:.3f}" else ">"
        order += f" {sign} {r['label']} ({r['accuracy']:.3f})"
    spread = max(r["accuracy_std"] for r in rows)
    gap = ranked[0]["accuracy"] - ranked[-1]["accuracy"]
    if math.isnan(spread):
        close = " (one seed: no spread to judge these differences by)"
    else:
        close = "" if gap > spread else " (the whole range lies within one seed standard deviation)"
    text = [
        f"ADIM on {dataset}, n = {n_train}, {epochs} epochs, {seeds:.0f} seed(s) per estimator (mean ± std):",
        "",
        *table,
        "",
        f"By final accuracy: {order}{close}.",
    ]
    by_estimator = {r["estimator"]: r for r in rows}
    if "concrete_score" in by_estimator and len(rows) > 1:
        mine = by_estimator["concrete_score"]
        others = [r for r in rows if r["estimator"] != "concrete_score"]
        quietest = min(others, key=lambda r: r["variance"])
        ratio = mine["variance"] / quietest["variance"] if quietest["variance"] > 0 else math.inf
        seeds_text = ", ".join(f"{a:.3f}" for a in mine["accuracies"])
        text.append(
            f"The concrete score's adversarial gradient variance is {ratio:.3g} times that of the quietest other "
            f"estimator ({quietest['label']}); its student ended at {seeds_text} over the seeds."
        )
    return "\n".join(text)
