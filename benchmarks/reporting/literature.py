"""Published results beside the measured ones: whether the orderings the papers report hold here.

Absolute values are not comparable across protocols (FID features and sample sizes, training-set sizes,
architectures), so a reference is a set of *orderings* between cells the paper reports, each checked on the
measured means, plus the published values shown for context. Adding a paper is adding an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.reporting.stats import summarize
from benchmarks.reporting.table import bounds_of, format_cell


@dataclass(frozen=True)
class Cell:
    """A published value: ``metric`` of the rows of ``model`` (``label`` picks one row when several match)."""

    text: str
    model: str
    metric: str
    published: float


@dataclass(frozen=True)
class Reference:
    source: str
    datasets: tuple[str, ...]
    cells: tuple[Cell, ...]
    orderings: tuple[tuple[int, int], ...]  # (i, j): the paper has cells[i] below cells[j]
    note: str


GHOSH_2020 = Reference(
    "Ghosh et al. 2020, “From variational to deterministic autoencoders” (RAE), Table 1, MNIST (FID, lower is better)",
    ("mnist", "mnist5k"),
    (
        Cell("AE, samples from one Gaussian fitted to its codes", "ae", "fid_gauss", 58.7),
        Cell("AE, samples from a 10-component GMM fitted to its codes", "ae", "fid_gmm", 10.7),
        Cell("VAE, samples from N(0, I)", "vae", "fid_prior", 19.2),
        Cell("VAE, samples from the GMM", "vae", "fid_gmm", 17.7),
        Cell("AE reconstructions", "ae", "fid_recon", 12.95),
        Cell("VAE reconstructions", "vae", "fid_recon", 18.26),
    ),
    ((1, 0), (3, 2), (4, 5), (1, 3)),
    "The paper never samples an AE from N(0, I); compare the AE's post-hoc samplers with its AE row and the "
    "VAE's prior and GMM samples with its VAE row. Its FIDs use InceptionV3 features on 10,000 samples and a "
    "model trained on the 60,000 MNIST images, so only the orderings carry over, not the values.",
)
NLL_BINARY_MNIST = Reference(
    "Binarised MNIST, VAE test NLL of about 85–90 nats (Burda et al. 2016 and later tables: dynamic binarisation, "
    "60,000 training images, K = 5,000)",
    ("mnist", "mnist5k"),
    (Cell("VAE, −log p(x) by the IWAE bound", "vae", "nll_iwae", 87.5),),
    (),
    "mnist5k trains on a few thousand images, not 60,000: a higher NLL is expected and it is not the same protocol.",
)
REFERENCES = (GHOSH_2020, NLL_BINARY_MNIST)


def _measured(results: Sequence[dict[str, Any]], cell: Cell) -> list[float] | None:
    labels = dict.fromkeys(r["label"] for r in results if r["model"] == cell.model)
    if len(labels) != 1:
        return None
    values = [float(r["metrics"][cell.metric]) for r in results
              if r["model"] == cell.model and isinstance(r["metrics"].get(cell.metric), (int, float))]  # fmt: skip
    return values or None


def literature_markdown(dataset: str, results: Sequence[dict[str, Any]]) -> str:
    """The literature section of one dataset's report (empty when no reference covers the dataset)."""
    refs = [ref for ref in REFERENCES if dataset in ref.datasets]
    lines: list[str] = []
    for ref in refs:
        measured = [_measured(results, c) for c in ref.cells]
        lines += [f"**{ref.source}.** {ref.note}", "", "| cell | published | measured here |", "| --- | ---: | ---: |"]
        for cell, values in zip(ref.cells, measured):
            shown = format_cell(summarize(values, bounds_of(cell.metric))) if values else "n/a"
            lines.append(f"| {cell.text} (`{cell.model}` `{cell.metric}`) | {cell.published:g} | {shown} |")
        for i, j in ref.orderings:
            a, b = ref.cells[i], ref.cells[j]
            if measured[i] is None or measured[j] is None:
                lines.append(f"- {a.text} below {b.text}: not measured here")
                continue
            mi, mj = (sum(v) / len(v) for v in (measured[i], measured[j]))
            agrees = "agrees" if mi < mj else "**disagrees**"
            lines.append(f"- published: {a.text} ({a.published:g}) below {b.text} ({b.published:g}); "
                         f"measured {mi:.3g} vs {mj:.3g}: {agrees}")  # fmt: skip
        lines.append("")
    return "\n".join(lines).rstrip()
