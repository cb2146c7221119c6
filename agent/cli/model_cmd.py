"""``hearth model``: list, describe, evaluate and try the on-device models; their adapted versions."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.options import config_option


def _load(name: str, num_threads: int = 1) -> object:
    from agent.inference.runtime import Model

    ref = name if ("/" in name or name.startswith("builtin:")) else f"builtin:{name}"
    return Model.load(ref, num_threads=num_threads)


@click.group()
def model() -> None:
    """List, describe, evaluate and try the on-device models."""


@model.command("list")
def list_models() -> None:
    """List the built-in models with their inputs and held-out accuracy.

    Example: hearth model list
    """
    from rich.console import Console
    from rich.table import Table

    from agent.inference.card import builtin_names, load_card, resolve_model_dir

    table = Table(title="Built-in models (held-out test split)")
    table.add_column("model", no_wrap=True)
    table.add_column("inputs")
    for column in ("rate", "window", "labels", "accuracy", "macro-F1"):
        table.add_column(column, no_wrap=True, justify="right")
    for name in builtin_names():
        card = load_card(resolve_model_dir(f"builtin:{name}"))
        metrics = card.metrics
        table.add_row(
            name,
            ", ".join(i.name for i in card.inputs),
            f"{card.rate_hz:g} Hz",
            f"{card.window / card.rate_hz:g} s",
            str(len(card.labels)),
            f"{metrics.accuracy:.3f}" if metrics else "-",
            f"{metrics.macro_f1:.3f}" if metrics else "-",
        )
    Console().print(table)


@model.command()
@click.argument("name")
def info(name: str) -> None:
    """Show NAME's card: inputs, rate, window, normalisation, labels, file and runtime.

    NAME is a built-in model (activity, appliance) or a model folder.

    Example: hearth model info activity
    """
    from rich.console import Console

    from agent.inference.runtime import RUNTIME, Model

    loaded = _load(name)
    assert isinstance(loaded, Model)
    card = loaded.card
    console = Console()
    console.print(f"[bold]{card.name}[/bold] v{card.version}: {card.task}")
    console.print(f"folder     {loaded.directory}")
    console.print(
        f"file       {card.file} ({loaded.model_file.stat().st_size} bytes), sha256 {card.sha256} (verified)"
    )
    console.print(f"runtime    {RUNTIME}; {card.quantisation}")
    console.print(
        f"input      tensor {list(loaded.input_shape)} {loaded.input_quant.dtype.__name__}, "
        f"scale {loaded.input_quant.scale:.6g}, zero point {loaded.input_quant.zero_point}"
    )
    console.print(
        f"output     tensor {list(loaded.output_shape)} {loaded.output_quant.dtype.__name__}, "
        f"scale {loaded.output_quant.scale:.6g}, zero point {loaded.output_quant.zero_point}"
    )
    console.print(
        f"sampling   {card.rate_hz:g} Hz, window {card.window} samples "
        f"({card.window / card.rate_hz:g} s), hop {card.hop} ({card.hop / card.rate_hz:g} s)"
    )
    norm = card.normalisation
    console.print(f"normalise  {norm.kind}" + (f" mean {norm.mean} std {norm.std}" if norm.mean else ""))
    for item in card.inputs:
        console.print(f"  input    {item.name}: {item.quantity} [{item.unit}]")
    console.print(f"labels     {', '.join(card.labels)}")
    if card.metrics:
        m = card.metrics
        console.print(f"held-out   {m.split}: accuracy {m.accuracy:.4f}, macro-F1 {m.macro_f1:.4f}")


@model.command("eval")
@click.argument("name")
@click.option(
    "--threads", type=click.IntRange(1, 8), default=1, show_default=True, help="Interpreter threads."
)
def eval_model(name: str, threads: int) -> None:
    """Re-run NAME's held-out test split through the runtime; print accuracy, macro-F1, confusion matrix.

    Example: hearth model eval appliance
    """
    from rich.console import Console
    from rich.table import Table

    from agent.inference.evaluate import evaluate
    from agent.inference.runtime import Model

    loaded = _load(name, threads)
    assert isinstance(loaded, Model)
    result = evaluate(loaded)
    console = Console()
    labels = loaded.card.labels
    table = Table("true \\ predicted", *[label[:10] for label in labels], title="confusion matrix")
    for label, row in zip(labels, result.confusion, strict=True):
        table.add_row(label, *[str(v) if v else "." for v in row])
    console.print(table)
    console.print(
        f"{loaded.name}: {result.n} held-out windows, accuracy {result.accuracy:.4f}, "
        f"macro-F1 {result.macro_f1:.4f}"
    )
    if loaded.card.metrics:
        m = loaded.card.metrics
        console.print(f"card ({m.split}): accuracy {m.accuracy:.4f}, macro-F1 {m.macro_f1:.4f}")


@model.command()
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def run(name: str, file: Path) -> None:
    """Classify FILE.csv with NAME, one line per window.

    The CSV's header names the model's inputs (``acc_x[m/s²],...``); rows are samples at the card's rate.

    Example: hearth model run activity agent/sources/sim_data/wrist_imu_test.csv
    """
    from agent.inference.evaluate import run_csv
    from agent.inference.runtime import Model

    loaded = _load(name)
    assert isinstance(loaded, Model)
    windows = run_csv(loaded, file)
    if not windows:
        click.echo(f"{file}: shorter than one window ({loaded.card.window} rows)")
    for w in windows:
        if w.prediction is None:
            click.echo(f"rows {w.first_row}-{w.last_row}: skipped ({w.skipped})")
        else:
            click.echo(
                f"rows {w.first_row}-{w.last_row}: {w.prediction.label} ({w.prediction.confidence:.2f})"
            )


@model.command()
@config_option
@click.argument("name")
def versions(config_path: Path, name: str) -> None:
    """List NAME's adapted versions (learnt from your labels) and which one runs.

    Example: hearth model versions appliance
    """
    from agent.cli.consent_cmd import ask, clock_of

    result = ask(config_path, "model.versions", model=name)
    when = clock_of(config_path).stamp
    running = result["running"]
    click.echo(f"{'*' if running == 0 else ' '} v0  as shipped")
    for v in result["versions"]:
        card = v["card"]
        acc = card["accuracy"]
        status = "kept" if v["kept"] else "rejected"
        click.echo(
            f"{'*' if v['version'] == running else ' '} v{v['version']}  {when(v['created_at'])}  {status:<8}"
            f" {len(card['labels'])} labels, {card['windows']['fit']} windows; test {acc['test']:.2f}"
            f" (was {acc['test_before']:.2f}); classes: {', '.join(card['classes'])}"
        )
        if not v["kept"]:
            click.echo(f"        {card['reason']}")
    click.echo(f"{name} runs v{running} (*)")


@model.command()
@config_option
@click.argument("name")
def reset(config_path: Path, name: str) -> None:
    """Run NAME as shipped again; your labels and its versions stay (label add adapts anew).

    Example: hearth model reset appliance
    """
    from agent.cli.consent_cmd import ask

    result = ask(config_path, "model.reset", model=name)
    click.echo(f"{name} runs as shipped (v0); it ran v{result['was_running']}")
