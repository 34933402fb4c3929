"""Drift between two samples of each column, in Spark, from histograms.

The samples are long rows, one per (row, column): `column_name`, `column_kind` (numeric or
categorical), `num` (the value of a numeric column) and `cat` (of a categorical one), plus the
keys that say which sample a row is in (window, model, slice). Everything is computed from
aggregates, in a bounded number of passes over each side, and nothing of the size of the data
leaves the executors:

1. `quantile_edges` (one pass over the reference's wide rows): its quantiles of each numeric
   column, `bins` of them (fine: KS, Wasserstein) and every (bins / coarse_bins)-th of them
   (coarse: PSI, Jensen-Shannon), repeated values merged;
2. `histogram` (one pass over each side): rows, sum and sum of squares of the values per bin
   (numeric: the bins of the shared edges, (e_{i-1}, e_i]; categorical: per value; NULLs in a
   bucket of their own);
3. `compare` (on the histograms only): per column and sample, counts, null rates, mean,
   standard deviation, and the distances:

   numeric      `wasserstein_distance` (W1 / the reference's standard deviation), `ks_test`
                (statistic, p-value), `population_stability_index`, `js_distance`
   categorical  `l_infinity_distance`, `tv_distance`, `chi_squared_test` (statistic,
                p-value: the 2 x k test of homogeneity), `population_stability_index`,
                `js_distance`, `unseen_share`

   W1 and KS are computed on the fine bins with each bin's mass at the mean of its values
   (exact when a column has fewer distinct values than bins; within 0.01 of W1 / sd and 0.025
   of KS of the raw samples with 100 bins, see tests/transforms/monitoring/test_drift_properties.py). PSI and JS
   use the coarse bins (numeric) or the categories, with empty buckets smoothed by 1e-4 for PSI;
   JS is the distance (square root of the divergence, base 2, in [0, 1]).
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import CATEGORICAL, COLUMN_KIND, COLUMN_NAME, NUMERIC
from lakescore.transforms.monitoring.stats import chi2_sf, ks_pvalue
from lakescore.transforms.sqltext import col

NUM, CAT = "num", "cat"
BIN, CATEGORY = "bin", "category"
NULL_BIN = -1
PSI_EPSILON = 1e-4
# atoms closer than this (relative) are one value: the two sides' sums of the same values may
# differ in the last bits with the order Spark added them in
TIE = 1e-12
# distance columns and the metrics a decision may use (their names are the columns')
WASSERSTEIN = "wasserstein_distance"
KS_TEST = "ks_test"
PSI = "population_stability_index"
JS = "js_distance"
L_INFINITY = "l_infinity_distance"
TV = "tv_distance"
CHI_SQUARED = "chi_squared_test"
UNSEEN = "unseen_share"
# not a column: |mean - baseline_mean| / baseline_stddev, how far the level moved in units of the
# reference's spread (for features with a handful of values per window: weather, day aggregates)
MEAN_SHIFT = "mean_shift"
NUMERIC_METRICS = (WASSERSTEIN, KS_TEST, PSI, JS, MEAN_SHIFT)
CATEGORICAL_METRICS = (L_INFINITY, TV, CHI_SQUARED, PSI, JS, UNSEEN)
PVALUE_METRICS = (KS_TEST, CHI_SQUARED)      # drifted when the p-value is below the threshold
SUMMARY = ["count", "baseline_count", "null_rate", "baseline_null_rate", "mean", "baseline_mean", "stddev",
           "baseline_stddev"]
DISTANCES = [WASSERSTEIN, KS_TEST, PSI, JS, L_INFINITY, TV, CHI_SQUARED, UNSEEN]


def _cols(names: list[str]) -> list[Column]:
    return [col(n) for n in names]


def long_values(columns: dict[str, str], keep: list[str]):
    """Wide rows -> one row per (row, column): `keep`, column_name, column_kind, num, cat.
    `columns` maps each column to its kind (numeric or categorical); NaN counts as NULL."""

    def entry(name: str, kind: str) -> Column:
        value = col(name)
        num = F.when(~F.isnan(value.cast("double")), value.cast("double")) if kind == NUMERIC else F.lit(None)
        cat = value.cast("string") if kind == CATEGORICAL else F.lit(None)
        return F.struct(F.lit(name).alias(COLUMN_NAME), F.lit(kind).alias(COLUMN_KIND),
                        num.cast("double").alias(NUM), cat.cast("string").alias(CAT))

    def apply(df: DataFrame) -> DataFrame:
        entries = F.array(*[entry(n, k) for n, k in columns.items()])
        return (df.select(*_cols(keep), F.explode(entries).alias("_e"))
                .select(*_cols(keep), *[F.col(f"_e.{c}").alias(c) for c in (COLUMN_NAME, COLUMN_KIND, NUM, CAT)]))

    return apply


def quantile_edges(reference: DataFrame, keys: list[str], columns: list[str], bins: int, coarse_bins: int,
                   accuracy: int = 10_000) -> DataFrame:
    """Wide reference rows (keys and the numeric `columns`) -> per (keys, column): `edges` (the
    reference's 1/bins .. (bins-1)/bins quantiles) and `coarse_edges` (every bins/coarse_bins-th
    of them), sorted, repeats merged. One pass over the rows (NaN counts as NULL)."""
    if bins % coarse_bins:
        raise ValueError(f"bins ({bins}) must be a multiple of coarse_bins ({coarse_bins})")
    probs = [i / bins for i in range(1, bins)]
    step = bins // coarse_bins

    def value(name: str) -> Column:
        v = col(name).cast("double")
        return F.when(~F.isnan(v), v)

    per_key = reference.groupBy(*_cols(keys)).agg(
        *[F.percentile_approx(value(c), probs, accuracy).alias(f"_q{i}") for i, c in enumerate(columns)])
    entries = F.array(*[F.struct(F.lit(c).alias(COLUMN_NAME), F.col(f"_q{i}").alias("q")) for i, c in enumerate(columns)])
    return (per_key.select(*_cols(keys), F.explode(entries).alias("_e"))
            .select(*_cols(keys), F.col(f"_e.{COLUMN_NAME}").alias(COLUMN_NAME), F.col("_e.q").alias("_q"))
            .where(F.col("_q").isNotNull())
            .select(*_cols(keys), F.col(COLUMN_NAME),
                    F.array_sort(F.array_distinct(F.col("_q"))).alias("edges"),
                    F.array_sort(F.array_distinct(F.array(*[F.col("_q")[i - 1] for i in range(step, bins, step)])))
                    .alias("coarse_edges")))


def bin_of(value: Column, edges: Column) -> Column:
    """The bin of a value among sorted edges: the number of edges below it, so bin i holds
    (e_i, e_{i+1}] (bin 0 everything up to the first edge)."""
    return F.size(F.filter(edges, lambda e: e < value))


def histogram(long: DataFrame, edges: DataFrame, keys: list[str], edge_keys: list[str]) -> DataFrame:
    """Long rows -> per (keys, column, bucket): `n`, `s1` (sum of values), `s2` (of squares).
    Buckets: `bin` (numeric: bin of the shared edges, joined on `edge_keys`; -1 for NULL;
    categorical: 0, -1 for NULL) and `category` (the categorical value, '' otherwise).
    Rows are first counted per distinct value, so only distinct values are binned."""
    values = long.groupBy(*_cols(keys), F.col(COLUMN_NAME), F.col(COLUMN_KIND), F.col(NUM), F.col(CAT)) \
        .agg(F.count(F.lit(1)).alias("_n"))
    joined = values.join(F.broadcast(edges.select(*_cols(edge_keys), F.col(COLUMN_NAME), F.col("edges"))),
                         on=[*edge_keys, COLUMN_NAME], how="left")
    numeric = F.col(COLUMN_KIND) == NUMERIC
    value_null = F.when(numeric, F.col(NUM).isNull()).otherwise(F.col(CAT).isNull())
    bucket = (F.when(value_null, F.lit(NULL_BIN))
              .when(numeric, F.coalesce(bin_of(F.col(NUM), F.col("edges")), F.lit(0)))
              .otherwise(F.lit(0)))
    category = F.when(numeric | value_null, F.lit("")).otherwise(F.col(CAT))
    return (joined.groupBy(*_cols(keys), F.col(COLUMN_NAME), F.col(COLUMN_KIND), bucket.alias(BIN),
                           category.alias(CATEGORY))
            .agg(F.sum("_n").alias("n"), F.sum(F.col(NUM) * F.col("_n")).alias("s1"),
                 F.sum(F.col(NUM) * F.col(NUM) * F.col("_n")).alias("s2")))


_BUCKET = "struct<bin:int,category:string,nc:bigint,sc:double,nr:bigint,sr:double>"
_ATOM = "struct<x:double,p:double,q:double>"
_CDF = "array<struct<x:double,F:double,G:double>>"
_PVALUE = "struct<statistic:double,pvalue:double>"


def _buckets(current: DataFrame, reference: DataFrame, keys: list[str]) -> DataFrame:
    """One row per (keys, column) present on both sides: the summary figures and `buckets`, an
    array of (bin, category, nc, sc, nr, sr): rows and sum of values of each side per bucket."""
    bucket = [*keys, COLUMN_NAME, COLUMN_KIND, BIN, CATEGORY]

    def side(df: DataFrame, mine: str) -> DataFrame:
        other = "ref" if mine == "cur" else "cur"
        return df.select(*_cols(bucket), F.col("n").alias(f"n{mine[0]}"), F.col("s1").alias(f"s{mine[0]}"),
                         F.col("s2").alias(f"q{mine[0]}"), F.lit(0).cast("long").alias(f"n{other[0]}"),
                         F.lit(None).cast("double").alias(f"s{other[0]}"), F.lit(None).cast("double").alias(f"q{other[0]}"))

    both = side(current, "cur").unionByName(side(reference, "ref"))
    merged = both.groupBy(*_cols(bucket)).agg(*[F.sum(c).alias(c) for c in ("nc", "sc", "qc", "nr", "sr", "qr")])
    null = F.col(BIN) == NULL_BIN

    def stats(n: str, s: str, q: str, prefix: str) -> list[Column]:
        valid = F.sum(F.when(~null, F.col(n)).otherwise(0))
        mean = F.try_divide(F.sum(F.when(~null, F.col(s))), valid)
        var = F.try_divide(F.sum(F.when(~null, F.col(q))) - valid * mean * mean, valid - 1)
        return [F.sum(n).alias(f"{prefix}count"), valid.alias(f"{prefix}valid_count"),
                F.try_divide(F.sum(F.when(null, F.col(n)).otherwise(0)), F.sum(n)).alias(f"{prefix}null_rate"),
                mean.alias(f"_{prefix}mean"), F.sqrt(F.greatest(var, F.lit(0.0))).alias(f"_{prefix}stddev")]

    cell = F.struct(F.col(BIN), F.col(CATEGORY), F.col("nc"), F.col("sc"), F.col("nr"), F.col("sr"))
    out = merged.groupBy(*_cols(keys), F.col(COLUMN_NAME), F.col(COLUMN_KIND)).agg(
        *stats("nc", "sc", "qc", ""), *stats("nr", "sr", "qr", "baseline_"),
        F.collect_list(F.when(~null, cell)).alias("buckets"))
    numeric = F.col(COLUMN_KIND) == NUMERIC
    for prefix in ("", "baseline_"):
        out = (out.withColumn(f"{prefix}mean", F.when(numeric, F.col(f"_{prefix}mean")))
               .withColumn(f"{prefix}stddev", F.when(numeric & (F.col(f"{prefix}valid_count") > 1),
                                                     F.col(f"_{prefix}stddev")))
               .drop(f"_{prefix}mean", f"_{prefix}stddev"))
    return out.where((F.col("count") > 0) & (F.col("baseline_count") > 0))


def _sum(arr: Column, f) -> Column:
    return F.aggregate(arr, F.lit(0.0), lambda acc, x: acc + f(x))


def _xlogy(x: Column, y: Column) -> Column:
    return F.when(x > 0, x * F.log(x / y)).otherwise(F.lit(0.0))


def _psi(shares: Column) -> Column:
    eps = F.lit(PSI_EPSILON)
    return _sum(shares, lambda s: (F.greatest(s["p"], eps) - F.greatest(s["q"], eps))
                * F.log(F.greatest(s["p"], eps) / F.greatest(s["q"], eps)))


def _js(shares: Column) -> Column:
    def term(s):
        m = (s["p"] + s["q"]) / 2.0
        return 0.5 * (_xlogy(s["p"], m) + _xlogy(s["q"], m))

    return F.sqrt(F.greatest(_sum(shares, term) / math.log(2.0), F.lit(0.0)))


def _shares(cells: Column, nc: Column, nr: Column) -> Column:
    """(nc, nr) cells -> (p, q, nc, nr): each side's share of its non-NULL values."""
    return F.transform(cells, lambda b: F.struct(F.try_divide(b["nc"], nc).alias("p"), F.try_divide(b["nr"], nr).alias("q"),
                                                 b["nc"].alias("nc"), b["nr"].alias("nr")))


def _categorical(shares: Column, nc: Column, nr: Column) -> dict[str, Column]:
    """Distances between the categories' shares (a column of `_shares`); `_chi` and `_dof` are
    the chi-squared statistic and its degrees of freedom (p-value: `chi2_sf`, on columns)."""
    grand = nc + nr

    def chi_term(s):
        total = s["nc"] + s["nr"]
        e_cur, e_ref = nc * total / grand, nr * total / grand
        return F.pow(s["nc"] - e_cur, 2) / e_cur + F.pow(s["nr"] - e_ref, 2) / e_ref

    return {
        L_INFINITY: F.array_max(F.transform(shares, lambda s: F.abs(s["p"] - s["q"]))),
        TV: 0.5 * _sum(shares, lambda s: F.abs(s["p"] - s["q"])),
        "_chi": _sum(shares, chi_term),
        "_dof": F.size(shares) - 1,
        PSI: _psi(shares),
        JS: _js(shares),
        UNSEEN: _sum(shares, lambda s: F.when(s["nr"] == 0, s["p"]).otherwise(F.lit(0.0))),
    }


def _cdf(buckets: Column, nc: Column, nr: Column) -> Column:
    """Both sides' cumulative shares at each atom (a side's mass in a fine bin sits at the mean
    of its values there), sorted by value: array of (x, F current, G reference)."""
    cur = F.transform(F.filter(buckets, lambda b: b["nc"] > 0),
                      lambda b: F.struct((b["sc"] / b["nc"]).alias("x"), (b["nc"] / nc).alias("p"), F.lit(0.0).alias("q")))
    ref = F.transform(F.filter(buckets, lambda b: b["nr"] > 0),
                      lambda b: F.struct((b["sr"] / b["nr"]).alias("x"), F.lit(0.0).alias("p"), (b["nr"] / nr).alias("q")))
    atoms = F.array_sort(F.concat(cur.cast(f"array<{_ATOM}>"), ref.cast(f"array<{_ATOM}>")))
    start = F.struct(F.lit(0.0).alias("F"), F.lit(0.0).alias("G"), F.array().cast(_CDF).alias("out"))

    def step(acc, a):
        f, g = acc["F"] + a["p"], acc["G"] + a["q"]
        return F.struct(f.alias("F"), g.alias("G"),
                        F.concat(acc["out"], F.array(F.struct(a["x"].alias("x"), f.alias("F"), g.alias("G"))))
                        .alias("out"))

    return F.aggregate(atoms, start, step, lambda acc: acc["out"])


def _ks_wasserstein(cdf: Column, baseline_stddev: Column) -> dict[str, Column]:
    """KS (the largest |F - G|, at the last of tied atoms, see TIE) and W1 (the area between F and G)
    from `_cdf`'s array, which must be a column (it is read twice)."""
    nxt = F.concat(F.slice(cdf, 2, F.greatest(F.size(cdf) - 1, F.lit(0))),
                   F.array(F.lit(None).cast(_CDF[len("array<"):-1])))
    steps = F.zip_with(cdf, nxt, lambda c, n: F.struct(
        F.abs(c["F"] - c["G"]).alias("d"), F.coalesce(n["x"] - c["x"], F.lit(0.0)).alias("gap"),
        (n.isNull() | (n["x"] - c["x"] > F.lit(TIE) * F.greatest(F.lit(1.0), F.abs(c["x"])))).alias("last")))
    ks = F.coalesce(F.array_max(F.transform(F.filter(steps, lambda s: s["last"]), lambda s: s["d"])), F.lit(0.0))
    w1 = _sum(steps, lambda s: s["d"] * s["gap"])
    return {
        WASSERSTEIN: F.when(baseline_stddev > 0, F.try_divide(w1, baseline_stddev)).when(w1 == 0, F.lit(0.0)),
        "_ks": ks,
    }


def _coarse(buckets: Column, nc: Column, nr: Column, edges: Column, coarse_edges: Column) -> Column:
    """The fine buckets summed into the coarse bins (shares p, q): a fine bin belongs to the
    coarse bin of its upper edge (the last bin, unbounded, to the last coarse bin)."""
    indexed = F.transform(buckets, lambda b: F.struct(
        F.when(b[BIN] < F.size(edges), F.size(F.filter(coarse_edges, lambda c: c < F.element_at(edges, b[BIN] + 1))))
        .otherwise(F.size(coarse_edges)).alias("j"), b["nc"].alias("nc"), b["nr"].alias("nr")))
    cells = F.transform(F.sequence(F.lit(0), F.size(coarse_edges)), lambda j: F.struct(
        F.aggregate(F.filter(indexed, lambda b: b["j"] == j), F.lit(0).cast("long"),
                    lambda acc, b: acc + b["nc"]).alias("nc"),
        F.aggregate(F.filter(indexed, lambda b: b["j"] == j), F.lit(0).cast("long"),
                    lambda acc, b: acc + b["nr"]).alias("nr")))
    return _shares(cells, nc, nr)


def compare(current: DataFrame, reference: DataFrame, edges: DataFrame, keys: list[str],
            edge_keys: list[str]) -> DataFrame:
    """Histograms of the current and the reference sample (`histogram`'s output, same `keys`)
    -> one row per (keys, column) present on both sides: `SUMMARY`, `valid_count`,
    `baseline_valid_count` (non-NULL values) and the `DISTANCES` (those of the other kind NULL).
    `edges` are the bins both histograms were made with, joined on `edge_keys` (among `keys`).
    Two shuffles; the distances are computed per row from the buckets."""
    rows = _buckets(current, reference, keys).join(
        F.broadcast(edges.select(*_cols(edge_keys), F.col(COLUMN_NAME), "edges", "coarse_edges")),
        on=[*edge_keys, COLUMN_NAME], how="left")
    nc, nr = F.col("valid_count"), F.col("baseline_valid_count")
    buckets = F.col("buckets")
    numeric = F.col(COLUMN_KIND) == NUMERIC
    both = (nc > 0) & (nr > 0)
    # each costly array once, as a column; then the figures from the arrays, then the p-values
    rows = rows.select("*", F.when(both & ~numeric, _shares(buckets, nc, nr)).alias("_shares"),
                       F.when(both & numeric, _cdf(buckets, nc, nr)).alias("_cdf"),
                       F.when(both & numeric, _coarse(buckets, nc, nr, F.col("edges"), F.col("coarse_edges")))
                       .alias("_coarse"))
    cat = _categorical(F.col("_shares"), nc, nr)
    fin = _ks_wasserstein(F.col("_cdf"), F.col("baseline_stddev"))
    values = {
        WASSERSTEIN: fin[WASSERSTEIN],
        "_ks": fin["_ks"],
        PSI: F.when(numeric, _psi(F.col("_coarse"))).otherwise(cat[PSI]),
        JS: F.when(numeric, _js(F.col("_coarse"))).otherwise(cat[JS]),
        **{name: cat[name] for name in (L_INFINITY, TV, "_chi", "_dof", UNSEEN)},
    }
    rows = rows.select("*", *[F.when(both, v).alias(k) for k, v in values.items()])
    rows = rows.withColumn(KS_TEST, F.when(numeric & both, F.struct(
        F.col("_ks").alias("statistic"), ks_pvalue(F.col("_ks"), nc, nr).alias("pvalue"))))
    rows = rows.withColumn(CHI_SQUARED, F.when(~numeric & both, F.struct(
        F.col("_chi").alias("statistic"), chi2_sf(F.col("_chi"), F.col("_dof")).alias("pvalue"))))
    return rows.select(*_cols(keys), F.col(COLUMN_NAME), F.col(COLUMN_KIND), *[F.col(c) for c in SUMMARY],
                       F.col("valid_count"), F.col("baseline_valid_count"), *[F.col(c) for c in DISTANCES])
