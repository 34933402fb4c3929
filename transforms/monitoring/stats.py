"""Distribution functions the drift tests need, as Spark Column expressions (no UDF, no driver).

- `kolmogorov_sf`: the survival function of the Kolmogorov distribution (scipy's
  `kstwobign.sf`), and `ks_pvalue`: the two-sample KS test's p-value by Stephens' approximation
  Q((sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D), en = n m / (n + m) (Numerical Recipes' `probks`);
  it is within 0.025 of scipy's `ks_2samp(method="asymp")` (0.006 once en >= 500).
- `chi2_sf`: the chi-squared survival function (scipy's `chi2.sf`), the regularized upper
  incomplete gamma Q(k/2, x/2), by its series below a + 1 and its continued fraction above
  (Numerical Recipes' `gammq`), with a Lanczos log-gamma.

Iterations use Spark's higher-order `aggregate` over a fixed sequence, so every expression is
evaluated in the executors like any other column.
"""

from __future__ import annotations

import math

from pyspark.sql import Column
from pyspark.sql import functions as F

_TERMS = 12          # Kolmogorov series: both forms converge well before
_GAMMA_ITERATIONS = 200
_TINY = 1e-300
# Lanczos approximation (g = 7, n = 9), accurate to about 1e-15 for a > 0.5.
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)


def kolmogorov_sf(lam: Column) -> Column:
    """P(K > lam) for the Kolmogorov distribution (1 for lam < 0.05)."""
    ks = F.sequence(F.lit(1), F.lit(_TERMS))
    # lam >= 1: 2 sum (-1)^(k-1) exp(-2 k^2 lam^2)
    large = F.aggregate(ks, F.lit(0.0), lambda acc, k: acc + F.pow(F.lit(-1.0), k - 1)
                        * F.exp(F.lit(-2.0) * k * k * lam * lam)) * 2.0
    # lam < 1: 1 - sqrt(2 pi) / lam * sum exp(-(2k - 1)^2 pi^2 / (8 lam^2))
    small = 1.0 - F.lit(math.sqrt(2 * math.pi)) / lam * F.aggregate(
        ks, F.lit(0.0), lambda acc, k: acc + F.exp(-F.pow(2 * k - 1, 2) * (math.pi ** 2) / (8.0 * lam * lam)))
    # below 0.05 the distribution function is under 1e-50: Q is 1 (and lam^2 may underflow)
    value = F.when(lam < 0.05, F.lit(1.0)).when(lam < 1.0, small).otherwise(large)
    return F.least(F.greatest(value, F.lit(0.0)), F.lit(1.0))


def ks_pvalue(d: Column, n: Column, m: Column) -> Column:
    """The two-sample KS test's asymptotic p-value for statistic `d` and sample sizes n, m
    (NULL when either is empty)."""
    en = n.cast("double") * m / (n + m)
    root = F.sqrt(en)
    return F.when((n > 0) & (m > 0), kolmogorov_sf((root + 0.12 + 0.11 / root) * d))


def log_gamma(a: Column) -> Column:
    """ln Gamma(a) for a >= 0.5 (Lanczos)."""
    x = a - 1.0
    series = F.lit(_LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        series = series + F.lit(c) / (x + float(i))
    t = x + _LANCZOS_G + 0.5
    return 0.5 * math.log(2 * math.pi) + (x + 0.5) * F.log(t) - t + F.log(series)


def _gamma_p_series(a: Column, x: Column) -> Column:
    """Regularized lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    steps = F.sequence(F.lit(1), F.lit(_GAMMA_ITERATIONS))
    start = F.struct((F.lit(1.0) / a).alias("term"), (F.lit(1.0) / a).alias("total"))

    def step(acc, k):
        term = acc["term"] * x / (a + k)
        return F.struct(term.alias("term"), (acc["total"] + term).alias("total"))

    total = F.aggregate(steps, start, step, lambda acc: acc["total"])
    return total * F.exp(-x + a * F.log(x) - log_gamma(a))


def _gamma_q_fraction(a: Column, x: Column) -> Column:
    """Regularized upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1), Lentz."""
    steps = F.sequence(F.lit(1), F.lit(_GAMMA_ITERATIONS))
    b0 = x + 1.0 - a
    start = F.struct(b0.alias("b"), F.lit(1.0 / _TINY).alias("c"), (F.lit(1.0) / b0).alias("d"),
                     (F.lit(1.0) / b0).alias("h"))

    def step(acc, i):
        an = -i * (i - a)
        b = acc["b"] + 2.0
        d = an * acc["d"] + b
        d = F.when(F.abs(d) < _TINY, F.lit(_TINY)).otherwise(d)
        c = b + an / acc["c"]
        c = F.when(F.abs(c) < _TINY, F.lit(_TINY)).otherwise(c)
        d = F.lit(1.0) / d
        return F.struct(b.alias("b"), c.alias("c"), d.alias("d"), (acc["h"] * d * c).alias("h"))

    h = F.aggregate(steps, start, step, lambda acc: acc["h"])
    return F.exp(-x + a * F.log(x) - log_gamma(a)) * h


def chi2_sf(x: Column, dof: Column) -> Column:
    """P(X > x) for X chi-squared with `dof` degrees of freedom; 1 for x <= 0 or dof <= 0
    (nothing to test), NULL when x is NULL."""
    a = dof.cast("double") / 2.0
    half = x.cast("double") / 2.0
    value = (F.when(x.isNull(), F.lit(None).cast("double"))
             .when((x <= 0) | (dof <= 0) | (half <= 0), F.lit(1.0))  # half underflows for denormal x
             .when(half < a + 1.0, 1.0 - _gamma_p_series(a, half))
             .otherwise(_gamma_q_fraction(a, half)))
    return F.least(F.greatest(value, F.lit(0.0)), F.lit(1.0))
