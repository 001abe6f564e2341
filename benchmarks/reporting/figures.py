"""The report's figures, redrawn from results files and their figure data (``results/<run-id>.npz``).

No model and no training: every figure function takes one dataset's :class:`FigureData` and a folder,
writes one PNG there and returns its path, or returns None when its data is absent (no figure data for
any run, no training curves, no β sweep). Image figures show each row's first seed that has figure data;
metric figures average over seeds with the error bars of :func:`benchmarks.reporting.stats.summarize` (kept inside
each metric's range). The first
line of each function's docstring is the figure's caption in the report. Drawn with matplotlib's
object-oriented API on the Agg canvas (no pyplot state, no display).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from benchmarks.evaluation.metrics import describe, group_of
from benchmarks.reporting.claims import NotTested, beta_sweep
from benchmarks.reporting.stats import Stat, summarize
from benchmarks.reporting.sweeps import COMPRESSION_METRIC, latent_sweeps, sweep_rows
from benchmarks.reporting.table import Row, metric_columns

Arrays = dict[str, np.ndarray]
DPI = 100
SAMPLER_ORDER = ("prior", "gauss", "gmm")


@dataclass(frozen=True)
class FigureData:
    """One dataset's results records (in table row order) and their figure arrays by run id."""

    dataset: str
    results: list[dict[str, Any]]
    arrays: dict[str, Arrays]
    projection: str = "pca"  # how the latent-space figure maps the means to 2-D: "pca" or "tsne"

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """label → the row's runs, in table order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.results:
            out.setdefault(r["label"], []).append(r)
        return out

    def first_arrays(self, *keys: str) -> list[tuple[str, Arrays]]:
        """Per row, the figure arrays of its lowest seed whose figure data holds every key in ``keys``."""
        out = []
        for label, runs in self.rows().items():
            found = (self.arrays.get(r["run_id"]) for r in sorted(runs, key=lambda r: r["seed"]))
            first = next((a for a in found if a is not None and all(k in a for k in keys)), None)
            if first is not None:
                out.append((label, first))
        return out


def _errs(stats: Sequence[Stat]) -> np.ndarray:
    """Asymmetric error bars (2, n) from the intervals kept inside the metric's range; none for a single seed."""
    return np.array([[s.mean - s.low for s in stats], [s.high - s.mean for s in stats]])


def _mean_band(values: Sequence[float], bounds: tuple[float | None, float | None] = (None, None)) -> tuple[float, float, float]:
    """(mean, low, high) of per-seed values: the band of a curve, inside ``bounds``."""
    st = summarize(values, bounds)
    return st.mean, st.low, st.high


def _tile(images: np.ndarray, ncols: int) -> np.ndarray:
    """(N, C, H, W) uint8 → one image of ``ncols`` columns with 1-pixel white gaps ((h, w) or (h, w, 3))."""
    n, c, h, w = images.shape
    nrows = math.ceil(n / ncols)
    canvas = np.full((c, nrows * (h + 1) - 1, ncols * (w + 1) - 1), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        row, col = divmod(i, ncols)
        canvas[:, row * (h + 1) : row * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = image
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


def _tile_grid(grid: np.ndarray) -> np.ndarray:
    """(R, K, C, H, W) → one image of R rows and K columns (see :func:`_tile`)."""
    return _tile(grid.reshape(-1, *grid.shape[2:]), grid.shape[1])


def _show(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _label_cells(
    ax: Axes, image_hw: tuple[int, int], rows: Sequence[str] = (), cols: Sequence[str] = (), fontsize: float = 9
) -> None:
    """Tick labels at the centres of the rows / columns of a :func:`_tile` grid of ``image_hw`` images."""
    h, w = image_hw
    ax.set_yticks([(h + 1) * i + h / 2 - 0.5 for i in range(len(rows))], rows, fontsize=fontsize)
    ax.set_xticks([(w + 1) * i + w / 2 - 0.5 for i in range(len(cols))], cols, fontsize=fontsize)
    ax.tick_params(length=0)


def _panels(n: int, ncols: int, size: tuple[float, float], **kwargs: Any) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels on a grid ``ncols`` wide (unused cells hidden)."""
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False, **kwargs).flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _save(fig: Figure, out_dir: Path, name: str, title: str) -> Path:
    fig.suptitle(title)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return path


def reconstructions(data: FigureData, out_dir: Path) -> Path | None:
    """The same test images (top row) reconstructed by every model (first seed)."""
    rows = data.first_arrays("originals", "reconstructions")
    if not rows:
        return None
    strips = [("original", rows[0][1]["originals"])] + [(label, a["reconstructions"]) for label, a in rows]
    n = len(strips[0][1])
    fig = Figure(figsize=(6.0, 4.4 * len(strips) / n + 0.7), layout="constrained")  # ~1.6 in go to the labels
    ax = fig.subplots()
    _show(ax, _tile(np.concatenate([images for _, images in strips]), n))
    _label_cells(ax, strips[0][1].shape[-2:], rows=[label for label, _ in strips])
    return _save(fig, out_dir, "reconstructions", f"{data.dataset}: reconstructions")


def samples(data: FigureData, out_dir: Path) -> Path | None:
    """Decoded samples per model: N(0, I) (prior) beside the post-hoc Gaussian and GMM fitted to training codes."""
    rows = [(label, a) for label, a in data.first_arrays() if any(k.startswith("samples_") for k in a)]
    if not rows:
        return None
    present = {k.removeprefix("samples_") for _, a in rows for k in a if k.startswith("samples_")}
    samplers = [s for s in SAMPLER_ORDER if s in present] + sorted(present - set(SAMPLER_ORDER))
    fig, axes = _panels(len(rows) * len(samplers), len(rows), (1.8, 1.9))
    for i, sampler in enumerate(samplers):
        for j, (label, arrays) in enumerate(rows):
            ax, images = axes[i * len(rows) + j], arrays.get(f"samples_{sampler}")
            if images is None:  # e.g. PCA has no post-hoc samplers: an empty, frameless cell
                ax.set_frame_on(False)
                _show(ax, np.zeros((1, 1)) + 255)
            else:
                _show(ax, _tile(images, math.ceil(math.sqrt(len(images)))))
            if i == 0:
                ax.set_title(label, fontsize=8)
            if j == 0:
                ax.set_ylabel("N(0, I)" if sampler == "prior" else f"post-hoc {sampler}", fontsize=9)
    return _save(fig, out_dir, "samples", f"{data.dataset}: samples")


def interpolations(data: FigureData, out_dir: Path) -> Path | None:
    """Decoded straight lines in latent space between pairs of test images (one pair per row)."""
    rows = data.first_arrays("interpolations")
    if not rows:
        return None
    fig, axes = _panels(len(rows), 2, (4.6, 2.8))
    for ax, (label, arrays) in zip(axes, rows):
        _show(ax, _tile_grid(arrays["interpolations"]))
        ax.set_title(label, fontsize=10)
    return _save(fig, out_dir, "interpolations", f"{data.dataset}: latent interpolations")


def inpainting(data: FigureData, out_dir: Path) -> Path | None:
    """Test images with their bottom half missing, completed by each model: original, masked (missing pixels grey),
    the iterate completion, then independent Metropolis-within-Gibbs completions, whose spread is the diversity
    (``inpaint_diversity_bottom``); models without a posterior and a likelihood show no samples."""
    rows = data.first_arrays("inpaint_originals", "inpaint_masked", "inpaint_iterate")
    if not rows:
        return None
    chains = max(a["inpaint_samples"].shape[1] if "inpaint_samples" in a else 0 for _, a in rows)
    n_images = max(len(a["inpaint_originals"]) for _, a in rows)
    fig, axes = _panels(len(rows), 2, (0.42 * (3 + chains) + 0.4, 0.42 * n_images + 0.7))
    for ax, (label, arrays) in zip(axes, rows):
        columns = [arrays[k][:, None] for k in ("inpaint_originals", "inpaint_masked", "inpaint_iterate")]
        if "inpaint_samples" in arrays:
            columns.append(arrays["inpaint_samples"])
        grid = np.concatenate(columns, axis=1)
        _show(ax, _tile_grid(grid))
        names = ["orig.", "masked", "iterate", *(f"{i + 1}" for i in range(grid.shape[1] - 3))]
        _label_cells(ax, grid.shape[-2:], cols=names, fontsize=6)
        ax.set_title(label, fontsize=9)
        if grid.shape[1] > 3:
            ax.set_xlabel("columns 1, 2, …: Metropolis-within-Gibbs samples", fontsize=6)
    return _save(fig, out_dir, "inpainting", f"{data.dataset}: inpainting of the bottom half")


def tracked_factors(importance: np.ndarray, dims: Sequence[int], factor_names: Sequence[str]) -> list[str]:
    """Row labels of a traversal on factor data: per code dim ``d`` in ``dims``, the factor it is most important
    for in the DCI importance matrix (D codes, K factors) and that factor's share of the dim's importance
    (``z3 pos_x 81%``); ``z3 —`` for a dim no factor's classifier used.

    Example:
        >>> tracked_factors(np.array([[0.1, 0.3], [0.0, 0.0], [0.6, 0.0]]), [2, 0, 1], ["shape", "scale"])
        ['z2 shape 100%', 'z0 scale 75%', 'z1 —']
    """
    labels = []
    for d in dims:
        row = importance[d]
        total = float(row.sum())
        k = int(np.argmax(row))
        labels.append(f"z{d} {factor_names[k]} {row[k] / total:.0%}" if total > 0 else f"z{d} —")
    return labels


def traversals(data: FigureData, out_dir: Path) -> Path | None:
    """One latent dim swept at a time from a test code (rows: dims by decreasing KL or code variance).

    On factor data each row names the factor its dim matters most for in the DCI importance matrix, with that
    factor's share of the dim's importance (:func:`tracked_factors`).
    """
    rows = data.first_arrays("traversals", "traversal_dims", "traversal_values")
    if not rows:
        return None
    aspect = max(a["traversals"].shape[0] / a["traversals"].shape[1] for _, a in rows)
    fig, axes = _panels(len(rows), 3, (3.2, 3.2 * aspect + 0.6))
    for ax, (label, arrays) in zip(axes, rows):
        grid, dims, values = arrays["traversals"], arrays["traversal_dims"], arrays["traversal_values"]
        _show(ax, _tile_grid(grid))
        if "dci_importance" in arrays:
            names = [str(n) for n in arrays["factor_names"]]
            row_labels = tracked_factors(arrays["dci_importance"], [int(d) for d in dims], names)
        else:
            row_labels = [f"z{d}" for d in dims]
        _label_cells(ax, grid.shape[-2:], rows=row_labels, cols=[f"{v:g}" for v in values], fontsize=7)
        ax.set_title(label, fontsize=10)
        unit = str(arrays["traversal_unit"]) if "traversal_unit" in arrays else "prior σ"
        ax.set_xlabel(f"code value, in units of the {unit}", fontsize=7)
    return _save(fig, out_dir, "traversals", f"{data.dataset}: latent traversals")


def project_2d(means: np.ndarray, method: str, *, seed: int = 0) -> np.ndarray:
    """(N, D) latent means → (N, 2): the first two principal components, or a seeded t-SNE embedding."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    means = means.astype(np.float64)
    if means.shape[1] < 2:
        return np.concatenate([means, np.zeros_like(means)], axis=1)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(means)
    if method == "tsne":
        perplexity = min(30.0, (len(means) - 1) / 3)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(means)
    raise ValueError(f"projection must be 'pca' or 'tsne', got {method!r}")


def latent_2d(data: FigureData, out_dir: Path) -> Path | None:
    """Test-set latent means in 2-D (PCA, or t-SNE with ``aebench report --latent-2d tsne``), coloured by label."""
    rows = data.first_arrays("latent_means", "labels")
    if not rows:
        return None
    fig, axes = _panels(len(rows), 4, (3.0, 2.8))
    classes = int(max(a["labels"].max() for _, a in rows)) + 1
    name = str(rows[0][1]["label_name"]) if "label_name" in rows[0][1] else "label"
    cmap = "tab10" if classes <= 10 else "viridis"
    for ax, (label, arrays) in zip(axes, rows):
        points = project_2d(arrays["latent_means"], data.projection)
        scatter = ax.scatter(
            points[:, 0], points[:, 1], c=arrays["labels"], cmap=cmap, vmin=-0.5, vmax=classes - 0.5, s=6, linewidths=0
        )
        ax.set_title(label, fontsize=10)
        ax.tick_params(labelsize=7)
    ticks = range(classes) if classes <= 10 else None
    fig.colorbar(scatter, ax=axes, label=f"{name} (class)", ticks=ticks, shrink=0.8, aspect=30)
    method = {"pca": "PCA", "tsne": "t-SNE"}[data.projection]
    return _save(fig, out_dir, "latent_2d", f"{data.dataset}: latent space ({method} of the means)")


def memorisation(data: FigureData, out_dir: Path) -> Path | None:
    """Per model, the pixel distance of each decoded prior sample to its nearest training image (red) against that
    of each test image (grey), the two distributions ``memorisation_ratio`` compares: copies pile up near 0."""
    keys = ("memorisation_sample_distances", "memorisation_test_distances")
    rows = data.first_arrays(*keys)
    if not rows:
        return None
    bins = np.histogram_bin_edges(np.concatenate([a[k] for _, a in rows for k in keys]), bins=40)  # one scale for all
    fig, axes = _panels(len(rows), 4, (3.0, 2.4), sharex=True)
    for ax, (label, arrays) in zip(axes, rows):
        ax.hist(arrays[keys[1]], bins=bins, density=True, color="0.7", label="test image → train")
        ax.hist(arrays[keys[0]], bins=bins, density=True, histtype="step", color="tab:red", label="prior sample → train")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("distance to the nearest training image", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    return _save(fig, out_dir, "memorisation", f"{data.dataset}: nearest training image of samples and of test images")


def kl_bars(kl_per_seed: Sequence[Sequence[float]]) -> tuple[list[float], np.ndarray]:
    """Mean and asymmetric 95% error bars (kept ≥ 0) of the k-th largest KL over seeds (dims are not aligned)."""
    ranked = np.sort(np.asarray(kl_per_seed, dtype=float), axis=1)[:, ::-1]
    stats = [summarize(column, (0.0, None)) for column in ranked.T]
    return [s.mean for s in stats], _errs(stats)


def kl_per_dim(data: FigureData, out_dir: Path) -> Path | None:
    """KL per latent dim, sorted in decreasing order within each seed, mean over seeds with 95% CI."""
    rows = {label: [r["metrics"].get("kl_per_dim") for r in runs] for label, runs in data.rows().items()}
    rows = {label: [k for k in kls if k] for label, kls in rows.items() if any(kls)}
    if not rows:
        return None
    fig, axes = _panels(len(rows), 4, (3.0, 2.6), sharey=True)
    for ax, (label, kls) in zip(axes, rows.items()):
        means, errs = kl_bars(kls)
        ax.bar(range(len(means)), means, yerr=errs, color="tab:blue", capsize=2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("latent dim (by KL)", fontsize=8)
    axes[0].set_ylabel("KL (nats)")
    return _save(fig, out_dir, "kl_per_dim", f"{data.dataset}: KL per dimension (posterior collapse)")


_CURVE_LABELS = {"recon": "−log p(x|z), nats per image", "kl": "KL(q(z|x) ‖ p(z)), nats per image"}


def training_curves(data: FigureData, out_dir: Path) -> Path | None:
    """Reconstruction term and KL against step, training (solid) and validation (dashed) where it ran: mean over
    seeds with a 95% band (KL kept ≥ 0), one colour per row."""
    logged = {key for r in data.results for row in r.get("curves") or [] for key in row}
    terms = [t for t in ("recon", "kl") if f"train/{t}" in logged]
    if not terms:
        return None
    fig, axes = _panels(len(terms), 2, (4.6, 3.4))
    lines = {}
    for ax, term in zip(axes, terms):
        bounds = (0.0, None) if term == "kl" else (None, None)
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}/{term}"
            for i, (label, runs) in enumerate(data.rows().items()):
                by_step: dict[float, list[float]] = {}
                for row in (row for r in runs for row in r.get("curves") or []):
                    if key in row and "step" in row:
                        by_step.setdefault(row["step"], []).append(row[key])
                if by_step:
                    steps = sorted(by_step)
                    means, lows, highs = (np.array(v) for v in zip(*(_mean_band(by_step[s], bounds) for s in steps)))
                    (line,) = ax.plot(steps, means, style, color=f"C{i}", label=label)
                    lines.setdefault(label, line)
                    ax.fill_between(steps, lows, highs, color=f"C{i}", alpha=0.15, linewidth=0)
        ax.set(xlabel="step", ylabel=_CURVE_LABELS[term], title=f"{term} (solid: train, dashed: validation)")
    fig.legend(handles=list(lines.values()), loc="outside right center", fontsize=8)
    return _save(fig, out_dir, "training_curves", f"{data.dataset}: training curves")


def _sweep_rows(data: FigureData) -> list[tuple[float, Row]]:
    """The β sweep's rows aggregated over seeds, by ascending β; empty without at least two distinct β."""
    try:
        sweep = beta_sweep(data.results)
    except NotTested:
        return []
    return sweep_rows(sweep) if len(sweep) >= 2 else []


def _swept_axis(ax: Axes, values: Sequence[float], base: float = 10) -> None:
    """A log x axis ticked at the swept values themselves (no crowded minor labels)."""
    ax.set_xscale("log", base=base)
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(LogLocator(base=base, subs="auto"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def rate_distortion(data: FigureData, out_dir: Path) -> Path | None:
    """Rate (kl_total) against distortion (recon_mse) across the β sweep, each point annotated with its β."""
    points = [(beta, row) for beta, row in _sweep_rows(data) if {"recon_mse", "kl_total"} <= row.stats.keys()]
    if len(points) < 2:
        return None
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    x, y = ([row.stats[k] for _, row in points] for k in ("recon_mse", "kl_total"))
    ax.plot([s.mean for s in x], [s.mean for s in y], color="0.75", zorder=0)
    ax.errorbar([s.mean for s in x], [s.mean for s in y], xerr=_errs(x), yerr=_errs(y), fmt="o", capsize=3)
    for i, ((beta, row), sx, sy) in enumerate(zip(points, x, y)):
        tag = f"β={beta:g}" + ("" if row.model == "beta_vae" else f" ({row.label})")
        offset = (8, 6) if i % 2 == 0 else (8, -12)  # alternate sides: neighbouring β on a steep curve do not collide
        ax.annotate(tag, (sx.mean, sy.mean), textcoords="offset points", xytext=offset, fontsize=8)
    ax.set(xlabel="distortion: recon_mse", ylabel="rate: kl_total (nats)")
    return _save(fig, out_dir, "rate_distortion", f"{data.dataset}: rate–distortion across β")


def metrics_vs_beta(data: FigureData, out_dir: Path) -> Path | None:
    """Every scalar metric of the β sweep against β (log axis), mean over seeds with 95% CI; the disentanglement
    scores have a figure of their own."""
    return _against_beta(data, out_dir, lambda key: group_of(key) != "disentanglement", "metrics_vs_beta", "metrics")


def disentanglement_vs_beta(data: FigureData, out_dir: Path) -> Path | None:
    """Every disentanglement score against β (VAE as β = 1, then the β-VAE rows), mean over seeds with 95% CI."""
    return _against_beta(
        data, out_dir, lambda key: group_of(key) == "disentanglement", "disentanglement_vs_beta", "disentanglement"
    )


def _against_beta(data: FigureData, out_dir: Path, keep: Callable[[str], bool], name: str, what: str) -> Path | None:
    """One panel per scalar metric of the β sweep that ``keep`` selects, against β; None without any."""
    points = _sweep_rows(data)
    columns = [k for k in metric_columns([row for _, row in points]) if _depends_on_the_model(k) and keep(k)]
    if not columns:
        return None
    fig, axes = _panels(len(columns), 4, (3.0, 2.6))
    for ax, key in zip(axes, columns):
        shown = [(beta, row.stats[key]) for beta, row in points if key in row.stats]
        betas, stats = zip(*shown)
        ax.errorbar(betas, [s.mean for s in stats], yerr=_errs(stats), fmt="o-", capsize=3)
        _swept_axis(ax, betas)
        ax.set_xlabel("β", fontsize=8)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    return _save(fig, out_dir, name, f"{data.dataset}: {what} against β")


def recon_vs_latent(data: FigureData, out_dir: Path) -> Path | None:
    """recon_mse against latent size (log₂ axis), one line per model family (PCA at the models' sizes), mean over
    seeds with a 95% band; drawn when the rows span at least two latent sizes."""
    key = COMPRESSION_METRIC
    lines = {
        family: [(size, row.stats[key]) for size, row in sweep_rows(sweep) if key in row.stats]
        for family, sweep in latent_sweeps(data.results).items()
    }
    lines = {family: points for family, points in lines.items() if points}
    sizes = sorted({size for points in lines.values() for size, _ in points})
    if len(sizes) < 2:
        return None
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (family, points) in enumerate(lines.items()):
        x, stats = zip(*points)
        ax.plot(x, [s.mean for s in stats], "o-", color=f"C{i}", label=family)
        ax.fill_between(x, [s.low for s in stats], [s.high for s in stats], color=f"C{i}", alpha=0.2, linewidth=0)
    _swept_axis(ax, sizes, base=2)
    ax.set_yscale("log")  # distortion falls by orders of magnitude over the sizes
    ax.set(xlabel="latent size (latent_dim; PCA: components)", ylabel="recon_mse (per pixel, test split)")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "recon_vs_latent", f"{data.dataset}: reconstruction error against latent size")


def _depends_on_the_model(key: str) -> bool:
    """Keys whose value the model does not change (the ``fid_data`` floor) mean nothing against β."""
    info = describe(key)
    return info is None or info.per_model


FIGURES: dict[str, Callable[[FigureData, Path], Path | None]] = {
    f.__name__: f
    for f in (reconstructions, samples, interpolations, traversals, latent_2d, memorisation, inpainting)
    + (kl_per_dim, training_curves, rate_distortion, metrics_vs_beta, disentanglement_vs_beta, recon_vs_latent)
}


def draw_figures(data: FigureData, output_dir: Path) -> dict[str, Path]:
    """Every figure whose data is present, under ``output_dir/figures/<dataset>/``; name → path."""
    out_dir = output_dir / "figures" / data.dataset
    drawn = {name: draw(data, out_dir) for name, draw in FIGURES.items()}
    return {name: path for name, path in drawn.items() if path is not None}
