"""Ranking sentences computed from a Table 1: every "X beats Y", "all of them beat NGAN" and "within one standard
deviation" that notebook 04 and the README say is produced here from the numbers it names, with the sizes ``n``
where it holds and where it does not.

Tables are :func:`advdist_lab.experiments.table1.aggregate`'s ``{method: {n: {"mean", "std", ...}}}`` in percent.
"A beats B at n" means A's mean is strictly above B's. "A and B are within one std at n" means the gap between
their means is at most the larger of their two standard deviations over seeds (the test of
:func:`advdist_lab.experiments.compression_analysis.ranking_commentary`); with one seed there is no std and the
sentence says so.

* :func:`beats_sentence`, :func:`within_sentence`: one pair of methods over the sizes.
* :func:`beats_all_sentence`: one method against a list (ADIM against the KD baselines and NGAN);
  :func:`all_beat_sentence`: a list against one method (every teacher-based method against NGAN).
* :func:`ranking_sentences`: the set notebook 04 prints and the README quotes.
* :func:`paper_sentences`: for the same pairs, the paper's gap (TPAMI Table 1) beside ours, whether its sign
  reproduces, and whether our gap is within one std (then our seeds do not separate the pair).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from advdist_lab.experiments.compression_analysis import KD_METHODS, nearest_size, paper_dataset
from advdist_lab.experiments.table1 import paper_table

__all__ = [
    "all_beat_sentence",
    "beats_all_sentence",
    "beats_sentence",
    "key_pairs",
    "methods_phrase",
    "paper_sentences",
    "ranking_sentences",
    "sizes_phrase",
    "strongest",
    "within_one_std",
    "within_sentence",
]

Table = Mapping[str, Mapping[int, Mapping]]


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def sizes_phrase(sizes: Sequence[int]) -> str:
    """``"n = 100"``, ``"n = 100 and 1,000"``, ``"n = 100, 300 and 1,000"``."""
    if not sizes:
        raise ValueError("sizes must hold at least one training-set size")
    return "n = " + _join([f"{n:,}" for n in sizes])


def methods_phrase(methods: Sequence[str]) -> str:
    """``"CODIS, DISTN and NGAN"``."""
    return _join([m.upper() for m in methods])


def _sizes(table: Table, methods: Sequence[str], sizes: Sequence[int] | None) -> list[int]:
    for method in methods:
        if method not in table:
            raise ValueError(f"the table has no row {method!r}")
    if sizes is None:
        sizes = sorted(set.intersection(*(set(table[m]) for m in methods)))
    if isinstance(sizes, int) or not sizes:
        raise ValueError(f"sizes must be a non-empty sequence of training-set sizes (got {sizes!r})")
    for method in methods:
        missing = [n for n in sizes if n not in table[method]]
        if missing:
            raise ValueError(f"{method} has no cell at n = {missing[0]}")
    return list(sizes)


def _every(sizes: Sequence[int]) -> str:
    """``"at every n (n = 100 and 1,000)"``; ``"at n = 100"`` for a single size."""
    return f"at {sizes_phrase(sizes)}" if len(sizes) == 1 else f"at every n ({sizes_phrase(sizes)})"


def _gap(table: Table, a: str, b: str, n: int) -> float:
    return table[a][n]["mean"] - table[b][n]["mean"]


def _points(values: Sequence[float]) -> str:
    return _join([f"{v:+.2f}" for v in values]) + " points"


def beats_sentence(table: Table, a: str, b: str, sizes: Sequence[int] | None = None) -> str:
    """Where ``a``'s mean is above ``b``'s: ``"ADIM beats NGAN at every n (n = 100 and 1,000: +10.00 and +3.00
    points)"``, ``"... at n = 100 (+3.24 points) but not at n = 1,000 (-0.32 points)"``, or ``"does not beat"``."""
    sizes = _sizes(table, (a, b), sizes)
    won = [n for n in sizes if _gap(table, a, b, n) > 0]
    lost = [n for n in sizes if n not in won]
    gaps = lambda ns: _points([_gap(table, a, b, n) for n in ns])  # noqa: E731
    if len(sizes) == 1:
        verb = "beats" if won else "does not beat"
        return f"{a.upper()} {verb} {b.upper()} at {sizes_phrase(sizes)} ({gaps(sizes)})"
    if not lost:
        return f"{a.upper()} beats {b.upper()} at every n ({sizes_phrase(sizes)}: {gaps(sizes)})"
    if not won:
        return f"{a.upper()} does not beat {b.upper()} at any n ({sizes_phrase(sizes)}: {gaps(sizes)})"
    return (
        f"{a.upper()} beats {b.upper()} at {sizes_phrase(won)} ({gaps(won)}) but not at {sizes_phrase(lost)} "
        f"({gaps(lost)})"
    )


def within_one_std(table: Table, a: str, b: str, n: int) -> bool | None:
    """Whether the gap between the means is at most the larger std of the two; ``None`` without a std (one seed)."""
    spread = max(float(table[a][n]["std"]), float(table[b][n]["std"]))
    if math.isnan(spread):
        return None
    return abs(_gap(table, a, b, n)) <= spread


def within_sentence(table: Table, a: str, b: str, sizes: Sequence[int] | None = None) -> str:
    """``"ADIM and CODIS are within one std of each other at every n"``, or at some sizes ``"but not at n = 1,000
    (1.92 points apart, larger std 1.60)"``; sizes with one seed are named as unmeasured."""
    sizes = _sizes(table, (a, b), sizes)
    verdicts = {n: within_one_std(table, a, b, n) for n in sizes}
    near = [n for n in sizes if verdicts[n] is True]
    far = [n for n in sizes if verdicts[n] is False]
    unknown = [n for n in sizes if verdicts[n] is None]
    pair = f"{a.upper()} and {b.upper()}"
    apart = "; ".join(
        f"{abs(_gap(table, a, b, n)):.2f} points apart at n = {n:,}, larger std "
        f"{max(table[a][n]['std'], table[b][n]['std']):.2f}"
        for n in far
    )
    if near and not far and not unknown:
        text = f"{pair} are within one std of each other {_every(sizes)}"
    elif far and not near and not unknown and len(sizes) > 1:
        text = f"{pair} are not within one std of each other at any n ({apart})"
    elif near and far:
        text = (
            f"{pair} are within one std of each other at {sizes_phrase(near)} but not at {sizes_phrase(far)} ({apart})"
        )
    elif near:
        text = f"{pair} are within one std of each other at {sizes_phrase(near)}"
    elif far:
        text = f"{pair} are not within one std of each other at {sizes_phrase(far)} ({apart})"
    else:
        return f"{pair}: at {sizes_phrase(unknown)} one seed gives no std to compare with"
    if unknown:
        text += f"; at {sizes_phrase(unknown)} one seed gives no std to compare with"
    return text


def _group_sentence(
    table: Table, pairs: Sequence[tuple[str, str]], sizes: Sequence[int], head: str, never: str, exceptions
) -> str:
    """``"<head> at every n (...)"``, or ``"<head> at <sizes where every a beats its b>; <exceptions(n, failing)>
    ..."`` (``never``, then "at any n", when no size is clean), where ``failing`` are the ``(a, b)`` of ``pairs``
    with ``a`` not above ``b`` at ``n``."""
    failing = {n: [(a, b) for a, b in pairs if _gap(table, a, b, n) <= 0] for n in sizes}
    clean = [n for n in sizes if not failing[n]]
    if len(clean) == len(sizes):
        return f"{head} {_every(sizes)}"
    lead = f"{head} at {sizes_phrase(clean)}" if clean else never + (" at any n" if len(sizes) > 1 else "")
    return f"{lead}; " + "; ".join(exceptions(n, failing[n]) for n in sizes if failing[n])


def beats_all_sentence(table: Table, winner: str, others: Sequence[str], sizes: Sequence[int] | None = None) -> str:
    """``"ADIM beats CODIS, DISTN, NOISY, MIMIC and NGAN at every n"``, or where it does not, by how much it
    trails each: ``"...; at n = 1,000 it trails CODIS by 1.84 and DISTN by 1.20 points"``."""
    others = [m for m in others if m != winner]
    if not others:
        raise ValueError("others must name at least one method besides the winner")
    sizes = _sizes(table, (winner, *others), sizes)
    return _group_sentence(
        table,
        [(winner, m) for m in others],
        sizes,
        f"{winner.upper()} beats {methods_phrase(others)}",
        f"{winner.upper()} does not beat all of {methods_phrase(others)}",
        lambda n, failing: (
            f"at n = {n:,} it trails "
            + _join([f"{b.upper()} by {-_gap(table, winner, b, n):.2f}" for _, b in failing])
            + " points"
        ),
    )


def all_beat_sentence(table: Table, group: Sequence[str], target: str, sizes: Sequence[int] | None = None) -> str:
    """``"Every one of CODIS, ..., ADIM beats NGAN at every n"``, or where some do not: ``"...; at n = 1,000 NGAN
    (94.40) is ahead of or level with NOISY (94.08) and MIMIC (94.08)"``."""
    group = [m for m in group if m != target]
    if not group:
        raise ValueError("group must name at least one method besides the target")
    sizes = _sizes(table, (target, *group), sizes)
    return _group_sentence(
        table,
        [(m, target) for m in group],
        sizes,
        f"Every one of {methods_phrase(group)} beats {target.upper()}",
        f"Not every one of {methods_phrase(group)} beats {target.upper()}",
        lambda n, failing: (
            f"at n = {n:,} {target.upper()} ({table[target][n]['mean']:.2f}) is ahead of or level "
            "with " + _join([f"{a.upper()} ({table[a][n]['mean']:.2f})" for a, _ in failing])
        ),
    )


def strongest(table: Table, methods: Sequence[str], sizes: Sequence[int]) -> str:
    """Of ``methods`` (those in the table), the one with the highest mean accuracy averaged over ``sizes``."""
    present = [m for m in methods if m in table]
    if not present:
        raise ValueError(f"none of {', '.join(methods)} is in the table")
    sizes = _sizes(table, present, sizes)
    return max(present, key=lambda m: sum(table[m][n]["mean"] for n in sizes))


def key_pairs(table: Table, sizes: Sequence[int]) -> list[tuple[str, str]]:
    """The pairs the paper's ranking is about, among the table's methods: ADIM and ADIB against each other, each
    against the strongest KD baseline (:func:`strongest`) and against NGAN, and that baseline against NGAN."""
    kd = strongest(table, KD_METHODS, sizes) if any(m in table for m in KD_METHODS) else None
    candidates = [("adim", "adib"), ("adim", kd), ("adib", kd), ("adim", "ngan"), ("adib", "ngan"), (kd, "ngan")]
    return [(a, b) for a, b in candidates if a in table and b in table]


def ranking_sentences(table: Table, sizes: Sequence[int] | None = None) -> list[str]:
    """The ranking sentences of a Table 1, each computed from the numbers it names: ADIM and ADIB against every KD
    baseline and NGAN (:func:`beats_all_sentence`), every teacher-based method against NGAN
    (:func:`all_beat_sentence`), and whether ADIM, ADIB and the strongest KD baseline are within one std of each
    other (:func:`within_sentence`)."""
    sizes = _sizes(table, list(table), sizes)
    kd = [m for m in KD_METHODS if m in table]
    sentences = []
    for winner in ("adim", "adib"):
        others = [*kd, "ngan"] if "ngan" in table else kd
        if winner in table and others:
            sentences.append(beats_all_sentence(table, winner, others, sizes))
    teacher_based = [m for m in (*kd, "adib", "adim") if m in table]
    if "ngan" in table and teacher_based:
        sentences.append(all_beat_sentence(table, teacher_based, "ngan", sizes))
    top = [m for m in ("adim", "adib") if m in table] + ([strongest(table, kd, sizes)] if kd else [])
    sentences += [within_sentence(table, a, b, sizes) for i, a in enumerate(top) for b in top[i + 1 :]]
    return [s + "." for s in sentences]


def paper_sentences(table: Table, dataset: str, sizes: Sequence[int] | None = None) -> list[str]:
    """For each of :func:`key_pairs` and each ``n``: the paper's gap (TPAMI Table 1 on :func:`paper_dataset`, at
    the nearest ``n``) beside ours, and whether its sign reproduces."""
    sizes = _sizes(table, list(table), sizes)
    reference = paper_dataset(dataset)
    paper = paper_table(reference)
    paper_sizes = sorted(next(iter(paper.values())))
    lines = []
    for a, b in key_pairs(table, sizes):
        for n in sizes:
            column = nearest_size(paper_sizes, n)
            theirs, ours = _gap(paper, a, b, column), _gap(table, a, b, n)
            verdict = "reproduces" if (theirs > 0) == (ours > 0) else "does not reproduce"
            at = f"n = {n:,}" + (f" (the paper's n = {column:,})" if column != n else "")
            within = within_one_std(table, a, b, n)
            spread = {True: " (ours within one std: not separated by our seeds)", None: " (one seed: no std)"}
            lines.append(
                f"{a.upper()} - {b.upper()} at {at}: the paper {theirs:+.2f}, ours {ours:+.2f} points: the sign "
                f"{verdict}{spread.get(within, '')}."
            )
    return lines
