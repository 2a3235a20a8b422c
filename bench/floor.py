"""The floor of ``results.json`` (issue 15): the cohort read from its CSV file with pandas and
every statistic of the results document computed by vectorised numpy/scipy code written here,
independently of the product's ``studies.analysis`` (which it must never call).

The figures are those the document carries for a design (DESIGN.md §4.5 and §7), computed the
short way a data analyst would with the whole cohort in arrays:

- one group pre/post (the paper): Table 1 (age group, parity group, education, employment),
  per outcome measured at both time points the descriptives (n, mean, sd, median, quartiles,
  min, max) before, after and of the change, Shapiro–Wilk of each, Wilcoxon signed-rank (ties
  corrected, z, two-sided p), paired t, Hodges–Lehmann with its 95 % interval on the histogram
  of the differences (pair sums by one FFT convolution, never the n² Walsh averages) and
  McNemar (exact binomial) on adequacy before and after;
- two groups: the same per arm, plus between the arms at each time point and on the change
  Mann–Whitney (ties corrected z), Levene (mean-centred), independent t (equal variances and
  Welch), Shapiro–Wilk per arm, and chi-square (Pearson, continuity correction, likelihood
  ratio, Fisher's exact) for a binary outcome.

``floor(path, data)`` returns a callable that does it all and serialises the result to JSON,
which ``bench.measure`` times beside ``results.json``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal, stats

Z_975 = float(stats.norm.ppf(0.975))


def describe(values: np.ndarray) -> dict:
    """n, mean, sd (n − 1), median, quartiles (SPSS's weighted average, ``weibull``), min, max."""
    n = int(values.size)
    if n == 0:
        return {"n": 0}
    q1, median, q3 = np.percentile(values, [25, 50, 75], method="weibull")
    return {
        "n": n,
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if n > 1 else None,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def shapiro(values: np.ndarray) -> dict | None:
    if values.size < 3 or np.ptp(values) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        statistic, p = stats.shapiro(values)
    return {"statistic": float(statistic), "df": int(values.size), "p": float(p)}


def wilcoxon(d: np.ndarray) -> dict:
    """Signed-rank on the non-zero differences: average ranks of |d|, z with the ties term."""
    nonzero = d[d != 0]
    n = nonzero.size
    if n == 0:
        return {"n": 0, "z": None, "p": None}
    ranks = stats.rankdata(np.abs(nonzero))
    positive = float(ranks[nonzero > 0].sum())
    negative = float(ranks[nonzero < 0].sum())
    _values, ties = np.unique(np.abs(nonzero), return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24 - float((ties**3 - ties).sum()) / 48
    z = (min(positive, negative) - n * (n + 1) / 4) / math.sqrt(variance) if variance else None
    return {
        "n_negative": int((nonzero < 0).sum()),
        "n_positive": int((nonzero > 0).sum()),
        "n_ties": int(d.size - n),
        "sum_negative": negative,
        "sum_positive": positive,
        "z": z,
        "p": None if z is None else float(2 * stats.norm.sf(abs(z))),
    }


def paired_t(d: np.ndarray) -> dict:
    n = d.size
    if n < 2:
        return {"n": int(n)}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    t = mean / se if se else None
    critical = float(stats.t.ppf(0.975, n - 1))
    return {
        "mean_difference": mean,
        "sd": sd,
        "se": se,
        "ci_lower": mean - critical * se,
        "ci_upper": mean + critical * se,
        "t": t,
        "df": int(n - 1),
        "p": None if t is None else float(2 * stats.t.sf(abs(t), n - 1)),
    }


def hodges_lehmann(d: np.ndarray, decimals: int) -> dict:
    """Median of the Walsh averages (d_i + d_j)/2, i ≤ j, and its 95 % interval (order
    statistic C from the normal approximation), counted on the histogram of the differences
    on their grid of 10^-decimals: the pair sums' histogram is the histogram convolved with
    itself, plus the diagonal, halved."""
    n = d.size
    if n == 0:
        return {"estimate": None, "ci_low": None, "ci_high": None}
    scaled = np.rint(d * 10**decimals).astype(np.int64)
    low = int(scaled.min())
    histogram = np.bincount(scaled - low).astype(float)
    sums = np.rint(signal.fftconvolve(histogram, histogram)).astype(np.int64)
    sums[:: 2] += np.bincount(scaled - low, minlength=histogram.size)  # i == j, at 2(i)
    sums //= 2
    cumulative = np.cumsum(sums)
    total = int(cumulative[-1])  # n(n + 1)/2

    def order_statistic(k: int) -> float:  # the k-th smallest (1-based) Walsh average
        index = int(np.searchsorted(cumulative, k))
        return (index + 2 * low) / 2 / 10**decimals

    if total % 2:
        estimate = order_statistic(total // 2 + 1)
    else:
        estimate = (order_statistic(total // 2) + order_statistic(total // 2 + 1)) / 2
    c = math.floor(n * (n + 1) / 4 - Z_975 * math.sqrt(n * (n + 1) * (2 * n + 1) / 24) + 0.5)
    if c < 1:
        return {"estimate": estimate, "ci_low": None, "ci_high": None}
    return {
        "estimate": estimate,
        "ci_low": order_statistic(c),
        "ci_high": order_statistic(total - c + 1),
    }


def mcnemar(before: np.ndarray, after: np.ndarray) -> dict:
    b = int((before & ~after).sum())
    c = int((~before & after).sum())
    n = b + c
    p = min(1.0, 2 * float(stats.binom.cdf(min(b, c), n, 0.5))) if n else None
    return {"before_only": b, "after_only": c, "n_discordant": n, "p_exact": p}


def mann_whitney(x: np.ndarray, y: np.ndarray) -> dict:
    n1, n2 = x.size, y.size
    if not n1 or not n2:
        return {"u": None}
    both = np.concatenate([x, y])
    ranks = stats.rankdata(both)
    r1 = float(ranks[:n1].sum())
    u1 = r1 - n1 * (n1 + 1) / 2
    u = min(u1, n1 * n2 - u1)
    total = n1 + n2
    _values, ties = np.unique(both, return_counts=True)
    variance = n1 * n2 / (total * (total - 1)) * (
        (total**3 - total) / 12 - float((ties**3 - ties).sum()) / 12
    )
    z = (u - n1 * n2 / 2) / math.sqrt(variance) if variance > 0 else None
    return {
        "mean_ranks": [r1 / n1, float(ranks[n1:].sum()) / n2],
        "u": u,
        "w": r1 if u1 <= n1 * n2 - u1 else float(ranks[n1:].sum()),
        "z": z,
        "p": None if z is None else float(2 * stats.norm.sf(abs(z))),
    }


def independent_t(x: np.ndarray, y: np.ndarray) -> dict:
    if x.size < 2 or y.size < 2:
        return {"t": None}
    levene = stats.levene(x, y, center="mean")
    equal = stats.ttest_ind(x, y, equal_var=True)
    welch = stats.ttest_ind(x, y, equal_var=False)
    return {
        "levene_f": float(levene.statistic),
        "levene_p": float(levene.pvalue),
        "mean_difference": float(x.mean() - y.mean()),
        "equal_variances": {"t": float(equal.statistic), "p": float(equal.pvalue)},
        "unequal_variances": {"t": float(welch.statistic), "p": float(welch.pvalue)},
    }


def chi_square(arms: np.ndarray, values: np.ndarray, arm_keys, categories) -> dict:
    table = np.array(
        [[int(((arms == arm) & (values == value)).sum()) for value in categories]
         for arm in arm_keys]
    )  # fmt: skip
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return {"table": table.tolist(), "pearson": None}
    pearson = stats.chi2_contingency(table, correction=False)
    corrected = stats.chi2_contingency(table, correction=True)
    ratio = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    result = {
        "table": table.tolist(),
        "pearson": {"value": float(pearson.statistic), "df": int(pearson.dof),
                    "p": float(pearson.pvalue)},
        "continuity_correction": {"value": float(corrected.statistic),
                                  "p": float(corrected.pvalue)},
        "likelihood_ratio": {"value": float(ratio.statistic), "p": float(ratio.pvalue)},
        "min_expected": float(pearson.expected_freq.min()),
    }  # fmt: skip
    if table.shape == (2, 2):
        result["fisher_exact"] = float(stats.fisher_exact(table).pvalue)
    return result


def characteristics(frame: pd.DataFrame) -> dict:
    """Table 1: counts and percentages of age group, parity group, education, employment."""
    age = frame["age_years"].to_numpy()
    groups = {
        "age_group": np.where(age < 20, "lt20", np.where(age <= 35, "20to35", "gt35")),
        "parity": np.where(frame["parity"].to_numpy() == 1, "primipara", "multipara"),
        "education": frame["education"].to_numpy(dtype=str),
        "employment": frame["employment"].to_numpy(dtype=str),
    }
    table = {}
    for name, values in groups.items():
        keys, counts = np.unique(values, return_counts=True)
        table[name] = [
            {"key": str(key), "n": int(count), "percent": 100 * int(count) / values.size}
            for key, count in zip(keys, counts, strict=True)
        ]
    return table


def within(pre: np.ndarray, post: np.ndarray, decimals: int, adequate: float | None) -> dict:
    d = post - pre
    result = {
        "descriptives": {"pre": describe(pre), "post": describe(post), "change": describe(d)},
        "normality": {"pre": shapiro(pre), "post": shapiro(post), "change": shapiro(d)},
        "wilcoxon": wilcoxon(d),
        "paired_t": paired_t(d),
        "hodges_lehmann": hodges_lehmann(d, decimals),
    }
    if adequate is not None:
        result["mcnemar"] = mcnemar(pre >= adequate, post >= adequate)
    return result


def between(x: np.ndarray, y: np.ndarray) -> dict:
    return {
        "normality": [shapiro(x), shapiro(y)],
        "mann_whitney": mann_whitney(x, y),
        "independent_t": independent_t(x, y),
    }


def floor(path: Path, data: dict):
    """A callable: read ``path`` (a cohort CSV of a study with the definition ``data``) with
    pandas and compute the document's statistics, serialised as JSON."""
    timepoints = [point["key"] for point in data["timepoints"]]
    first, last = timepoints[0], timepoints[-1]
    arm_keys = [arm["key"] for arm in data.get("arms") or []]
    outcomes = data["outcomes"]

    def step() -> str:
        frame = pd.read_csv(path, dtype={"status": "string"})
        n_withdrawn = int((frame["status"] == "withdrawn").sum())
        frame = frame[frame["status"] != "withdrawn"]
        arms = frame["arm"].to_numpy(dtype=str) if len(arm_keys) > 1 else None
        document: dict = {"n_withdrawn": n_withdrawn, "outcomes": {}}
        if arms is None:
            document["characteristics"] = characteristics(frame)
        else:
            document["characteristics"] = {
                arm: characteristics(frame[arms == arm]) for arm in arm_keys
            }
        for outcome in outcomes:
            key = outcome["key"]
            points = outcome.get("timepoints") or timepoints
            columns = [f"{point}_{key}" for point in points]
            complete = frame[columns].notna().all(axis=1).to_numpy()
            values = {
                point: frame[f"{point}_{key}"].to_numpy(dtype=float)[complete]
                for point in points
            }
            entry: dict = {"n_missing": int((~complete).sum())}
            numeric = outcome["type"] in ("count", "continuous", "score")
            decimals = int(outcome.get("decimals", 0))
            adequate = outcome.get("adequate_at_least")
            if arms is None:
                if numeric and len(points) >= 2:
                    entry.update(within(values[first], values[last], decimals, adequate))
                elif not numeric:
                    entry["frequencies"] = {
                        point: np.unique(values[point], return_counts=True)[1].tolist()
                        for point in points
                    }
            else:
                arm_of = arms[complete]
                masks = [arm_of == arm for arm in arm_keys]
                if numeric and len(points) >= 2:
                    entry["within"] = {
                        arm: within(values[first][mask], values[last][mask], decimals, adequate)
                        for arm, mask in zip(arm_keys, masks, strict=True)
                    }
                    change = values[last] - values[first]
                    entry["between"] = {
                        name: between(series[masks[0]], series[masks[1]])
                        for name, series in (*values.items(), ("change", change))
                    }
                elif numeric:
                    entry["descriptives"] = {
                        arm: {point: describe(values[point][mask]) for point in points}
                        for arm, mask in zip(arm_keys, masks, strict=True)
                    }
                    entry["between"] = {
                        point: between(values[point][masks[0]], values[point][masks[1]])
                        for point in points
                    }
                else:
                    categories = [category["value"] for category in outcome["categories"]]
                    entry["between"] = {
                        point: {
                            "chi_square": chi_square(arm_of, values[point], arm_keys, categories)
                        }
                        for point in points
                    }
            document["outcomes"][key] = entry
        return json.dumps(document, allow_nan=False)

    return step
