"""The ``aebench`` command: ``run``, ``report``, ``evaluate``, ``perf``, ``config show``, ``validate``, ``ls``.

Exit codes: 0 success; 1 some runs failed (the others' results are kept) or the output folder could not be
written; 2 a config, pre-flight or input-file error (nothing trained); 3 results and report written but
experiment tracking failed; 130 / 143 interrupted by Ctrl-C / SIGTERM (finished runs kept); 141 the output
pipe was closed (``aebench ls | head``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.config import CONFIG_DIR, BenchmarkConfig, ConfigError, expand_grid, load_config, parse_overrides

OVERRIDES_HELP = """config overrides:
  Any key of the config can be set on the command line by its dotted path; values are YAML.
  List elements are addressed by their index.

    --trainer.max_epochs 20                 --seeds "[0, 1]"
    --datasets.0.batch_size 32              --models.1.latent_dim 16
    --evaluation.iwae_k 100                 --trainer.accelerator gpu --trainer.precision bf16-mixed
    --output_dir runs/try                   --trainer.devices 2 --trainer.strategy ddp_spawn
    --executor.type ray                     --executor.address auto --executor.cpus_per_run 2
"""

EPILOG = f"""quick start:
  aebench run                          # the default benchmark (digits; ae, vae, beta_vae; 3 seeds) → runs/default
  aebench run --config beta_sweep      # a shipped config, by name (aebench ls lists them)
  aebench run --config my.yaml --trainer.max_epochs 20
  aebench config show my.yaml          # the resolved config, defaults filled in

{OVERRIDES_HELP}"""


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: not an ``Exception``, so no per-run handler swallows it (Lightning re-raises it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` while a command runs (Lightning's own SIGTERM handler calls
    ours after its own); the previous handlers come back after."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _quiet_lightning(verbose: bool) -> None:
    """Lightning's per-Trainer banners (GPU available, distributed init) repeat for every run of the grid."""
    if not verbose:
        for name in ("pytorch_lightning", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
        os.environ.setdefault("AEBENCH_QUIET", "1")  # the same in ddp_spawn workers (see benchmarks.execution.train)


def _reference_guard(config: BenchmarkConfig, output_dir: Path, write_reference: bool) -> None:
    """Refuse to write into ``reports/`` (the committed references) unless asked to."""
    inside = output_dir.resolve().is_relative_to(config.reference_path.parent.resolve())
    if inside and not write_reference:
        raise ConfigError(
            f"output_dir: {output_dir} is inside {config.reference_path.parent}/, where the committed reference "
            "reports live; pass --write-reference to (re)write a reference, or choose another --output-dir"
        )


def _cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.execution.preflight import PreflightError, preflight
    from benchmarks.execution.runner import run_benchmark
    from benchmarks.reporting.compare import reproduction_report

    _quiet_lightning(args.verbose)
    overrides = parse_overrides(extra)
    if args.wandb:
        overrides.setdefault("logger", {})["type"] = "wandb"
    config = load_config(args.config, overrides)
    output_dir = Path(args.output_dir) if args.output_dir else (
        config.reference_path if args.write_reference else config.output_path
    )  # fmt: skip
    _reference_guard(config, output_dir, args.write_reference)
    problems = preflight(config, output_dir)
    if problems:
        raise PreflightError(problems)
    outcome = run_benchmark(config, output_dir=output_dir, command=args.command_line, retry_failed=args.retry_failed)
    if outcome["report"] is None and outcome["failures"]:
        print(f"every run failed ({len(outcome['failures'])}); no report was written:", file=sys.stderr)
        for failure in outcome["failures"]:
            print(f"  {failure['run_id']}: {failure['error']}", file=sys.stderr)
        return 1
    if not outcome["paths"]:  # a non-zero DDP rank: rank 0 writes and prints the report
        return 0
    table = outcome["paths"]["md"]
    print(table.read_text())
    print(f"report: {outcome['paths']['html']} (tables: {table.parent}/table.{{md,csv,json,tex}})")
    if output_dir.resolve() != config.reference_path.resolve():
        reproduction = reproduction_report(
            output_dir, config.reference_path, trained=outcome["trained"], total=outcome["total"]
        )
        if reproduction is not None:
            markdown, verdict = reproduction
            (output_dir / "reproduction.md").write_text(markdown)
            print(markdown)
            print(f"{verdict} (details: {output_dir / 'reproduction.md'})")
    return _summary_exit(outcome)


def _summary_exit(outcome: dict) -> int:
    """The end of a run: failed runs and tracking errors said once, and the exit code that says which."""
    code = 0
    if outcome["failures"]:
        diverged = [f for f in outcome["failures"] if f.get("kind") == "diverged"]
        print(f"{len(outcome['failures'])} run(s) failed; results of the others are kept.", file=sys.stderr)
        for failure in outcome["failures"]:
            print(f"  {failure['run_id']}: {failure['error']}", file=sys.stderr)
        hint = "rerun the same command to retry runs that raised"
        if diverged:
            hint += "; diverged runs are retried only with --retry-failed"
        print(hint, file=sys.stderr)
        code = 1
    if outcome.get("tracking_error"):
        print(f"{outcome['tracking_error']}; results files and the report were written.", file=sys.stderr)
        code = code or 3
    return code


def _cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.reporting.build import build_report

    try:
        report = build_report(args.output_dir, projection=args.latent_2d)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.paths["md"].read_text())
    print(f"report: {report.paths['html']}")
    if report.unreadable:
        print(f"{len(report.unreadable)} file(s) unreadable and left out of the report:", file=sys.stderr)
        for problem in report.unreadable:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


def _cmd_evaluate(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.execution.reevaluate import evaluate_checkpoint, evaluate_folder
    from benchmarks.reporting.build import build_report

    overrides = parse_overrides(extra)
    if set(overrides) - {"evaluation"}:
        raise ConfigError(
            f"evaluate re-scores trained runs: only --evaluation.KEY overrides apply, not {sorted(set(overrides) - {'evaluation'})}"
        )
    evaluation = overrides.get("evaluation")
    _quiet_lightning(verbose=False)
    if args.target.is_dir():
        done, skipped = evaluate_folder(args.target, evaluation=evaluation, command=args.command_line)
        report = build_report(args.target)
        print(f"re-evaluated {len(done)} run(s) from their checkpoints; report: {report.paths['html']}")
        if skipped:
            print(f"{len(skipped)} run(s) have no checkpoint and kept their results: {', '.join(skipped)}", file=sys.stderr)
        return 0
    print(json.dumps(evaluate_checkpoint(args.target, evaluation=evaluation), indent=1))
    return 0


def _cmd_perf(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.perf import write_report

    output = args.output or (Path("reports") if args.write_reference else Path("runs")) / "performance.md"
    print(write_report(output))
    return 0


def _cmd_config_show(args: argparse.Namespace, extra: list[str]) -> int:
    import yaml

    config = load_config(args.config, parse_overrides(extra))
    print(yaml.safe_dump(json.loads(json.dumps(config.resolved(), default=str)), sort_keys=False))
    return 0


def _cmd_validate(args: argparse.Namespace, extra: list[str]) -> int:
    """Every given (or shipped) config, built and pre-flighted; every problem of every file, each naming its file."""
    from benchmarks.execution.preflight import preflight

    _quiet_lightning(verbose=False)
    files = args.configs or sorted(CONFIG_DIR.glob("*.yaml"))
    failed = 0
    for path in files:
        try:
            config = load_config(path)
            problems = [] if args.no_preflight else preflight(config, config.output_path)
        except ConfigError as err:
            problems = [str(err)]
        if problems:
            failed += 1
            for problem in problems:
                print(f"{path}: {problem}", file=sys.stderr)
        else:
            print(f"ok  {path}  ({len(expand_grid(config))} runs)")
    return 2 if failed else 0


def _cmd_ls(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.evaluation.metrics import METRICS
    from datamodules import DATAMODULES
    from lightning_modules import MODELS

    for label, registry in (("datasets:", DATAMODULES), ("models:  ", MODELS)):
        installed = "".join(f", {name} ({path})" for name, path in registry.installed().items())
        print(label, ", ".join(registry.names()) + installed)
    print("metrics: ", "; ".join(f"{m} ({', '.join(k.name for k in METRICS.get(m).keys)})" for m in METRICS.in_order()))
    print("configs: ", ", ".join(p.stem for p in sorted(CONFIG_DIR.glob("*.yaml"))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="aebench", description="Benchmark AE vs VAE vs β-VAE.", epilog=EPILOG,
                                     formatter_class=formatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run a benchmark config (default: the shipped default benchmark)", epilog=OVERRIDES_HELP,
        formatter_class=formatter, description="Train and evaluate every run of a config's grid that has no results "
        "yet, write the report, and compare it with the committed reference (reports/<name>) when there is one.",
    )  # fmt: skip
    run.add_argument("--config", help="a YAML file, or the name of a shipped config (default: default)")
    run.add_argument("--output-dir", help="where to write (default: the config's output_dir, else runs/<name>)")
    run.add_argument("--write-reference", action="store_true",
                     help="write the committed reference reports/<name> (the only way to write under reports/)")
    run.add_argument("--retry-failed", action="store_true", help="retry runs whose training diverged before")
    run.add_argument("-v", "--verbose", action="store_true", help="keep Lightning's informational messages")
    run.add_argument("--wandb", action="store_true", help="track in Weights & Biases (same as --logger.type wandb)")
    run.set_defaults(func=_cmd_run)
    report = sub.add_parser("report", help="rebuild tables, figures and the HTML report from existing results")
    report.add_argument("output_dir", type=Path, help="a benchmark's output folder (holding results/)")
    report.add_argument("--latent-2d", choices=("pca", "tsne"), default="pca", help="2-D map of the latent means")
    report.set_defaults(func=_cmd_report)
    evaluate = sub.add_parser(
        "evaluate", help="re-evaluate trained runs from their checkpoints (no training): one checkpoint, or a folder"
    )
    evaluate.add_argument(
        "target", type=Path,
        help="<output_dir>/checkpoints/<run_id>/last.ckpt (prints its metrics), or <output_dir> (rewrites its results "
        "files and report); only --evaluation.KEY overrides apply",
    )  # fmt: skip
    evaluate.set_defaults(func=_cmd_evaluate)
    perf = sub.add_parser("perf", help="measure ms/step: hand-written loop vs aebench's Trainer path vs defaults")
    perf.add_argument("--output", type=Path, help="default: runs/performance.md (reports/ with --write-reference)")
    perf.add_argument("--write-reference", action="store_true", help="write the committed reports/performance.md")
    perf.set_defaults(func=_cmd_perf)
    config = sub.add_parser("config", help="inspect configs")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the resolved config", epilog=OVERRIDES_HELP, formatter_class=formatter)
    show.add_argument("config", nargs="?", help="a YAML file or a shipped config's name (default: default)")
    show.set_defaults(func=_cmd_config_show)
    validate = sub.add_parser("validate", help="build and pre-flight every given (or shipped) config, without training")
    validate.add_argument("configs", nargs="*", type=Path)
    validate.add_argument("--no-preflight", action="store_true", help="check the configs only, not this machine")
    validate.set_defaults(func=_cmd_validate)
    ls = sub.add_parser("ls", help="list datasets, models, metrics and shipped configs")
    ls.set_defaults(func=_cmd_ls)
    return parser


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate config overrides (``--trainer.devices 2``, ``--seeds [0]``) from the command's own arguments."""
    top_level = {f.name for f in dataclasses.fields(BenchmarkConfig)}
    rest, overrides = [], []
    it = iter(argv)
    for arg in it:
        key = arg[2:].partition("=")[0]
        if arg.startswith("--") and ("." in key or key in top_level):
            overrides.append(arg)
            if "=" not in arg:
                value = next(it, None)
                if value is None or (value.startswith("--") and len(value) > 2):
                    raise ConfigError(f"override --{key} needs a value, e.g. --{key} VALUE")
                overrides.append(value)
        else:
            rest.append(arg)
    return rest, overrides


def _run_command(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    from benchmarks.execution.lock import OutputLocked
    from benchmarks.execution.preflight import PreflightError
    from benchmarks.execution.provenance import command_line
    from benchmarks.execution.runner import StorageError
    from benchmarks.execution.store import UnreadableFile
    from benchmarks.execution.train import CheckpointError

    try:
        rest, extra = split_overrides(argv)
        args = parser.parse_args(rest)
        args.command_line = command_line(argv)
        if extra and args.func not in (_cmd_run, _cmd_config_show, _cmd_evaluate):
            parser.error(f"config overrides are not accepted by this command: {' '.join(extra)}")
        return args.func(args, extra)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    except PreflightError as err:
        print(f"pre-flight: {len(err.problems)} problem(s), nothing was trained:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except (OutputLocked, CheckpointError, UnreadableFile, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StorageError as err:
        print(f"error: {err.strerror} ({err.filename}); finished results are kept", file=sys.stderr)
        return 1
    except Interrupted as stop:
        print(f"\ninterrupted ({stop}): finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 128 + stop.signum


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        with _signals_interrupt():
            return _run_command(parser, argv)
    except BrokenPipeError:  # `aebench … | head` closed the pipe: stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
