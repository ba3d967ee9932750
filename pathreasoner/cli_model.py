"""`pathreasoner model ...`: the registry as a platform team drives it (list, show, diff, promote, rollback,
history). Tables go to stdout; errors are one red line on stderr and exit status 2; a promotion the gate
refuses exits 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from pathreasoner.config import Config, load_config
from pathreasoner.errors import PathReasonerError
from pathreasoner.logging_setup import configure_logging

model_app = typer.Typer(no_args_is_help=True, help="Inspect and move the versions of the registered model.")
out = Console()
err = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="params.yaml to load")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override a key: section.key=value (repeatable)")
]
ReasonOpt = Annotated[str | None, typer.Option(help="why (kept in the audit log; required with --force)")]
DEFAULT_CONFIG = Path("params.yaml")
HEADLINE = ("answer_accuracy", "format_compliance", "diagnosis_accuracy", "entity_f1", "n_scored")


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _run(step: Callable[[], T]) -> T:
    try:
        return step()
    except PathReasonerError as exc:
        _fail(str(exc))


def _config(config: Path, overrides: list[str] | None) -> Config:
    path = config if config.exists() or config != DEFAULT_CONFIG else None
    cfg = _run(lambda: load_config(path, overrides or []))
    configure_logging(cfg.project.log_level)
    return cfg


def _num(value: float | None, name: str = "") -> str:
    """Counts (n_*, *_items) as integers, every other metric with 4 decimals."""
    if value is None:
        return "-"
    return f"{value:.0f}" if name.startswith("n_") or name.endswith("_items") else f"{value:.4f}"


@model_app.command("list")
def list_cmd(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Every version, newest first: aliases, eval set, headline metrics, gate decision."""
    from pathreasoner.registry.catalog import list_versions

    cfg = _config(config, set_)
    views = _run(lambda: list_versions(cfg))
    table = Table(title=f"{cfg.registry.model_name} ({len(views)} versions)")
    for col in ("version", "aliases", "created (UTC)", "eval set", *HEADLINE, "gate"):
        table.add_column(col)
    for v in views:
        metrics = [
            _num(v.metrics.get(m, v.metrics.get("n_samples") if m == "n_scored" else None), m)
            for m in HEADLINE
        ]
        table.add_row(v.version, ", ".join(v.aliases), v.created, v.eval_set, *metrics, v.gate)
    out.print(table)


@model_app.command("show")
def show_cmd(version: str, config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """One version: aliases, run, metrics, lineage and every gate check."""
    from pathreasoner.registry.catalog import show_version

    cfg = _config(config, set_)
    v = _run(lambda: show_version(cfg, version))
    out.print(
        f"[bold]{cfg.registry.model_name} v{v.version}[/]  aliases: {', '.join(v.aliases) or '-'}  "
        f"created {v.created}  run {v.run_id}  eval set {v.eval_set}  gate {v.gate}",
        highlight=False,
    )
    metrics = Table(title="metrics")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in sorted(v.metrics.items()):
        metrics.add_row(name, _num(value, name))
    out.print(metrics)
    tags = Table(title="tags")
    tags.add_column("tag")
    tags.add_column("value", overflow="fold")
    for key, value in sorted(v.tags.items()):
        if not key.startswith("metric."):
            tags.add_row(key, value)
    out.print(tags)


@model_app.command("diff")
def diff_cmd(a: str, b: str, config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Two versions side by side (metrics, b - a, differing lineage); on the same eval set also the
    paired bootstrap 95 % CI of the answer_accuracy difference."""
    from pathreasoner.registry.catalog import diff_versions

    cfg = _config(config, set_)
    d = _run(lambda: diff_versions(cfg, a, b))
    table = Table(title=f"{cfg.registry.model_name}: v{a} vs v{b}")
    for col in ("metric", f"v{a}", f"v{b}", "b - a"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for name, va, vb in d.metrics:
        delta = f"{vb - va:+.4f}" if va is not None and vb is not None else "-"
        table.add_row(name, _num(va, name), _num(vb, name), delta)
    out.print(table)
    if d.tags:
        tags = Table(title="tags that differ")
        for col in ("tag", f"v{a}", f"v{b}"):
            tags.add_column(col, overflow="fold")
        for key, ta, tb in d.tags:
            tags.add_row(key, ta or "-", tb or "-")
        out.print(tags)
    if not d.same_eval_set:
        out.print("not evaluated on the same eval set: no paired comparison", highlight=False)
    elif d.paired is not None:
        p = d.paired
        out.print(
            f"answer_accuracy v{b} - v{a} = {p.diff:+.4f} over {p.n_pairs} paired items, "
            f"95% CI [{p.low:+.4f}, {p.high:+.4f}]",
            highlight=False,
        )


@model_app.command("promote")
def promote_cmd(
    version: str,
    force: Annotated[bool, typer.Option(help="promote although the gate refuses (needs --reason)")] = False,
    reason: ReasonOpt = None,
    reevaluate_champion: Annotated[
        Path | None,
        typer.Option(
            help="samples dir of VERSION's eval set: first evaluate the champion on it if it was not"
        ),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Move alias 'champion' to VERSION if the gate passes (or with --force --reason); exit 1 when refused."""
    from pathreasoner.registry.mlflow_registry import promote

    cfg = _config(config, set_)
    if reevaluate_champion is not None:
        from pathreasoner.registry.reevaluate import reevaluate_champion_for

        done = _run(lambda: reevaluate_champion_for(cfg, version, reevaluate_champion))
        if done is not None:
            out.print(done.line(), highlight=False)
    decision = _run(lambda: promote(cfg, version, force=force, reason=reason))
    table = Table(title=f"gate for v{version}")
    table.add_column("check")
    table.add_column("result", overflow="fold")
    for check in decision.checks:
        table.add_row(check.name, f"[{'green' if check.ok else 'red'}]{check}[/]")
    out.print(table)
    if decision.promoted:
        out.print(f"[bold green]✓[/] {decision.line()}", highlight=False)
    else:
        out.print(f"[bold yellow]refused:[/] {decision.line()}", highlight=False)
        raise typer.Exit(1)


@model_app.command("reevaluate")
def reevaluate_cmd(
    version: str,
    samples: Annotated[Path, typer.Option(help="samples dir to evaluate on (its eval.split)")],
    eval_out: Annotated[Path | None, typer.Option("--out", help="keep the evaluation outputs here")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Evaluate VERSION on another eval set and link it (tag eval_on.<hash>) for the gate's comparison."""
    from pathreasoner.registry.reevaluate import reevaluate

    cfg = _config(config, set_)
    done = _run(lambda: reevaluate(cfg, version, samples, eval_out))
    out.print(f"[bold green]✓[/] {done.line()}", highlight=False)


@model_app.command("rollback")
def rollback_cmd(reason: ReasonOpt = None, config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Move alias 'champion' back to the previous champion."""
    from pathreasoner.registry.mlflow_registry import rollback

    cfg = _config(config, set_)
    restored = _run(lambda: rollback(cfg, reason))
    out.print(f"[bold green]✓[/] champion -> version {restored}", highlight=False)


@model_app.command("history")
def history_cmd(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """The audit log: every move of alias 'champion' (who, when, why, from which version to which)."""
    from pathreasoner.registry.catalog import history

    cfg = _config(config, set_)
    entries = _run(lambda: history(cfg))
    table = Table(title=f"{cfg.registry.model_name}: alias moves ({len(entries)})")
    for col in ("#", "when (UTC)", "who", "action", "alias", "from", "to", "why"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.seq),
            e.when[:19] + "Z",
            e.who,
            e.action,
            e.alias,
            f"v{e.from_version}" if e.from_version else "-",
            f"v{e.to_version}",
            e.why,
        )
    out.print(table)
