"""The `model_validations` table: the gate's record of every candidate (one row per check),
rollbacks, and what the gate reads back from it (was a version gated already, which versions
were promoted recently); and the alert a rejected challenger raises."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakescore.core import alerts
from lakescore.core.runtime import Context
from lakescore.transforms import schemas
from lakescore.transforms.columns import AS_OF, MODEL_NAME, MODEL_VERSION, PROMOTED, REJECTED, ROLLBACK
from lakescore.transforms.contracts.kinds import CHALLENGER_REJECTED
from lakescore.transforms.sqltext import all_of, eq, in_list

PROMOTE_STAGE = "promote"


def write(ctx: Context, name: str, version: str, checks: list[dict], decision: str) -> int:
    """One row per check of a candidate for this as-of (replacing that candidate's rows of the
    as-of, so a re-run leaves one run's rows)."""
    now = Context.now()
    rows = [(name, version, ctx.as_of, c["check"], c["metric"], c["value"], c["baseline"], c["threshold"],
             c["passed"], c["reason"], decision, now) for c in checks]
    df = ctx.spark.createDataFrame(rows, schemas.MODEL_VALIDATIONS.struct())
    scope = all_of(eq(MODEL_NAME, name), eq(MODEL_VERSION, version), eq(AS_OF, ctx.as_of),
                   eq("decision", ROLLBACK) if decision == ROLLBACK else f"NOT ({eq('decision', ROLLBACK)})")
    return ctx.tables.write(df, ctx.cfg.tables.model_validations, replace_where=scope)


def _table(ctx: Context):
    store, table = ctx.tables, ctx.cfg.tables.model_validations
    return store.spark.table(store.display(table)) if store.exists(table) else None


def gated_before(ctx: Context, name: str, version: str) -> dict | None:
    """The decision on a version gated for another as-of than this one (None: never gated)."""
    table = _table(ctx)
    if table is None:
        return None
    row = (table.where(all_of(eq(MODEL_NAME, name), eq(MODEL_VERSION, version), f"NOT ({eq(AS_OF, ctx.as_of)})",
                              in_list("decision", [PROMOTED, REJECTED])))
           .groupBy(AS_OF, "decision").agg(F.max("validated_at").alias("at")).orderBy(F.desc("at")).limit(1).first())
    return row.asDict() if row else None


def promoted_history(ctx: Context, name: str, limit: int, excluding: str | None = None) -> list[str]:
    """The last `limit` versions promoted to @champion, newest first, leaving out versions rolled
    back since and the version `excluding` (the candidate being gated: a promote killed after
    its rows were written and before the alias moved left it recorded as promoted)."""
    table = _table(ctx)
    if table is None:
        return []
    scope = [eq(MODEL_NAME, name), in_list("decision", [PROMOTED, ROLLBACK])]
    if excluding is not None:
        scope.append(f"NOT ({eq(MODEL_VERSION, excluding)})")
    events = (table.where(all_of(*scope))
              .groupBy(MODEL_VERSION).agg(
                  F.max(F.when(F.col("decision") == PROMOTED, F.col("validated_at"))).alias("promoted_at"),
                  F.max(F.when(F.col("decision") == ROLLBACK, F.col("validated_at"))).alias("rolled_back_at")))
    kept = events.where(F.col("promoted_at").isNotNull()
                        & (F.col("rolled_back_at").isNull() | (F.col("rolled_back_at") < F.col("promoted_at"))))
    return [r[MODEL_VERSION] for r in kept.orderBy(F.desc("promoted_at")).limit(limit).collect()]


def rejection_alert(ctx: Context, name: str, version: str, checks: list[dict]) -> int:
    """A warning in `alerts` for a rejected challenger, listing its failed checks (none when it
    passed: the promote stage's alerts of this as-of are replaced)."""
    failed = [c for c in checks if not c["passed"]]
    findings = [(version, float(len(failed)), 0.0,
                 f"{name} version {version} rejected by the gate: "
                 + "; ".join(f"{c['check']}: {c['reason']}" for c in failed))] if failed else []
    return alerts.as_of_warnings(ctx, stage=PROMOTE_STAGE, kind=CHALLENGER_REJECTED, source=name, findings=findings)
