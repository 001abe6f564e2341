"""The ``aebench`` command: ``run``, ``report``, ``evaluate``, ``perf``, ``config show``, ``validate``, ``ls``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from benchmarks.config import CONFIG_DIR, BenchmarkConfig, ConfigError, expand_grid, load_config, parse_overrides

EPILOG = """quick start:
  aebench run                          # the default benchmark (digits; ae, vae, beta_vae; 3 seeds)
  aebench run --config my.yaml --trainer.max_epochs 20
  aebench config show my.yaml          # the resolved config, defaults filled in
"""


def _cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.execution.runner import run_benchmark

    if not args.verbose:  # Lightning's per-Trainer banners repeat for every run of the grid
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    overrides = parse_overrides(extra)
    if args.wandb:
        overrides.setdefault("logger", {})["type"] = "wandb"
    config = load_config(args.config, overrides)
    outcome = run_benchmark(config, output_dir=args.output_dir, command=args.command_line)
    if not outcome["paths"]:  # a non-zero DDP rank: rank 0 writes and prints the report
        return 0
    table = outcome["paths"]["md"]
    print(table.read_text())
    print(f"report: {outcome['paths']['html']} (tables: {table.parent}/table.{{md,csv,json,tex}})")
    if outcome["failures"]:
        print(f"{len(outcome['failures'])} run(s) failed; rerun the same command to retry them.", file=sys.stderr)
        return 1
    return 0


def _cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.reporting.build import build_report

    try:
        paths = build_report(args.output_dir, projection=args.latent_2d)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(paths["md"].read_text())
    print(f"report: {paths['html']}")
    return 0


def _cmd_evaluate(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.execution.reevaluate import evaluate_checkpoint, evaluate_folder
    from benchmarks.reporting.build import build_report

    evaluation = parse_overrides(extra).get("evaluation")
    try:
        if args.target.is_dir():
            done, skipped = evaluate_folder(args.target, evaluation=evaluation, command=args.command_line)
            paths = build_report(args.target)
            print(f"re-evaluated {len(done)} run(s) from their checkpoints; report: {paths['html']}")
            if skipped:
                print(f"{len(skipped)} run(s) have no checkpoint and kept their results: {', '.join(skipped)}", file=sys.stderr)
            return 0
        metrics = evaluate_checkpoint(args.target, evaluation=evaluation)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=1))
    return 0


def _cmd_perf(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.perf import write_report

    print(write_report(args.output))
    return 0


def _cmd_config_show(args: argparse.Namespace, extra: list[str]) -> int:
    import yaml

    config = load_config(args.config, parse_overrides(extra))
    print(yaml.safe_dump(json.loads(json.dumps(config.resolved(), default=str)), sort_keys=False))
    return 0


def _cmd_validate(args: argparse.Namespace, extra: list[str]) -> int:
    files = args.configs or sorted(CONFIG_DIR.glob("*.yaml"))
    for path in files:
        config = load_config(path)
        print(f"ok  {path}  ({len(expand_grid(config))} runs)")
    return 0


def _cmd_ls(args: argparse.Namespace, extra: list[str]) -> int:
    from benchmarks.evaluation.metrics import METRICS
    from datamodules import DATAMODULES
    from lightning_modules import MODELS

    print("datasets:", ", ".join(DATAMODULES.names()))
    print("models:  ", ", ".join(MODELS.names()))
    print("metrics: ", "; ".join(f"{m} ({', '.join(k.name for k in METRICS.get(m).keys)})" for m in METRICS.in_order()))
    print("configs: ", ", ".join(p.stem for p in sorted(CONFIG_DIR.glob("*.yaml"))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aebench", description="Benchmark AE vs VAE vs β-VAE.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a benchmark config (default: the shipped default benchmark)")
    run.add_argument("--config", help="YAML config file (default: benchmarks/configs/default.yaml)")
    run.add_argument("--output-dir", help="override the config's output_dir")
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
        "files and report)",
    )  # fmt: skip
    evaluate.set_defaults(func=_cmd_evaluate)
    perf = sub.add_parser("perf", help="measure ms/step: hand-written loop vs aebench's Trainer path vs defaults")
    perf.add_argument("--output", type=Path, default=Path("reports/performance.md"))
    perf.set_defaults(func=_cmd_perf)
    config = sub.add_parser("config", help="inspect configs")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the resolved config")
    show.add_argument("config", nargs="?", help="YAML config file (default: the default benchmark)")
    show.set_defaults(func=_cmd_config_show)
    validate = sub.add_parser("validate", help="build every given (or shipped) config without training")
    validate.add_argument("configs", nargs="*", type=Path)
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
                overrides.append(next(it, ""))
        else:
            rest.append(arg)
    return rest, overrides


def main(argv: list[str] | None = None) -> int:
    from benchmarks.execution.provenance import command_line

    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    rest, extra = split_overrides(argv)
    args = parser.parse_args(rest)
    args.command_line = command_line(argv)
    if extra and args.func not in (_cmd_run, _cmd_config_show, _cmd_evaluate):
        parser.error(f"config overrides are not accepted by this command: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
