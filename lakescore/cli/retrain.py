"""`lakescore retrain-needed`: whether the train stage would train for an as-of (the retraining
policy, `train.retrain`), for a scheduler to decide whether to run the training job's tasks.

It prints `retrain: true|false: <reason>` and, in a Databricks job, sets the task value `retrain`
("true" or "false") that the training job's condition task reads. The exit code is 0 either way
(the answer is not an error); with `--exit-code` it is 0 when training is due and 3 when not, for
a shell: `lakescore retrain-needed ... --exit-code && lakescore run train ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from lakescore.core.stage_runner import (
    EXPECTED_ERRORS,
    AsOfOpt,
    ConfigOpt,
    SetOpt,
    TargetOpt,
    fail,
    make_context,
    setup_logging,
)

TASK_VALUE = "retrain"
NOT_DUE = 3


def retrain_needed(
    config: ConfigOpt,
    as_of: AsOfOpt,
    target: TargetOpt = None,
    overrides: SetOpt = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help=f"exit {NOT_DUE} when training is not due "
                                                                "(default: exit 0 either way)")] = False,
) -> None:
    """Say whether the retraining policy (train.retrain) trains for the as-of, and why; in a
    Databricks job, set the task value `retrain` ("true"/"false") for a condition task."""
    from lakescore.models import registry
    from lakescore.training import retrain_policy

    setup_logging()
    try:
        ctx = make_context(config, as_of.date(), target, overrides=overrides)
        registry.configure(ctx)
        decision = retrain_policy.decide(ctx)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
        return
    answer = "true" if decision.train else "false"
    if retrain_policy.set_task_value(TASK_VALUE, answer):
        typer.echo(f"task value {TASK_VALUE} = {answer}")
    typer.echo(f"retrain: {answer}: {decision.reason}")
    if exit_code and not decision.train:
        raise typer.Exit(code=NOT_DUE)
