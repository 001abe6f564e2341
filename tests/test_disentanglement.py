"""Disentanglement metrics on constructed codes of dSprites' factors (no model, no images): a perfect code, a random
one and codes that mix two factors; what each metric is invariant to; the samplers; one run through the evaluation.

A code is a function of factor classes (..., 5) → codes (..., D), what the metrics' public functions take in place
of a model (``represent``). Sample sizes are below the protocol's where the property tested does not depend on
them; the pinned values (MIG and SAP of a perfect code) are at the protocol's sizes.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from benchmarks.config import ConfigError, EvaluationConfig
from benchmarks.config.schema import build_dataclass
from benchmarks.config.settings import DisentanglementConfig
from benchmarks.evaluation.evaluate import evaluate, evaluation_identity, is_current
from benchmarks.evaluation.inputs import EvalContext
from benchmarks.evaluation.metrics import GROUPS, METRICS, group_of
from benchmarks.evaluation.metrics.betavae_score import betavae_score
from benchmarks.evaluation.metrics.dci import _dci_from_importance, dci
from benchmarks.evaluation.metrics.factor_sampling import sample_pairs_sharing_one_factor, sample_with_one_factor_fixed
from benchmarks.evaluation.metrics.factorvae_score import _factorvae_score, factorvae_score
from benchmarks.evaluation.metrics.mig import discretize, entropies, mig
from benchmarks.evaluation.metrics.modularity import modularity
from benchmarks.evaluation.metrics.sap import _score_matrix, sap
from datamodules import InMemoryDataModule, Split
from datamodules.dsprites import FACTOR_SIZES, sample_factors
from lightning_modules import Posterior

Code = Callable[[torch.Tensor], np.ndarray]
SIZES = np.array(FACTOR_SIZES, dtype=np.float64)  # shape 3, scale 6, orientation 40, pos_x 32, pos_y 32
K = len(FACTOR_SIZES)
CHANCE = 1 / K  # BetaVAE and FactorVAE scores of a code that ignores the factors: the label k is uniform over K
SCORES = ("betavae_score", "factorvae_score", "mig", "dci_disentanglement", "dci_completeness", "sap", "modularity")


class DSpritesFactors:
    """dSprites' factors without its images: what the metrics' samplers read from a DataModule."""

    factor_sizes = FACTOR_SIZES

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return sample_factors(n, generator)


DSPRITES = DSpritesFactors()


def indices(classes: torch.Tensor) -> np.ndarray:
    """The perfect code: dim k is the class index of factor k."""
    return classes.double().numpy()


def perfect(classes: torch.Tensor) -> np.ndarray:
    """The perfect code in the units of a VAE's prior: each factor index standardised (mean 0, variance 1)."""
    return (indices(classes) - (SIZES - 1) / 2) / np.sqrt((SIZES**2 - 1) / 12)


def rotated(a: int, b: int) -> Code:
    """The perfect code with dims a and b rotated by 45°: each of the two dims carries both factors."""

    def code(classes: torch.Tensor) -> np.ndarray:
        z = perfect(classes)
        za, zb = z[..., a].copy(), z[..., b].copy()
        z[..., a], z[..., b] = (za + zb) / math.sqrt(2), (za - zb) / math.sqrt(2)
        return z

    return code


PERMUTATION = np.array([3, 0, 4, 2, 1])
SCALE, SHIFT = np.array([2.0, -0.5, 7.0, 0.3, -3.0]), np.array([1.0, -4.0, 0.0, 10.0, 2.5])


def permuted(code: Code) -> Code:
    return lambda classes: code(classes)[..., PERMUTATION]


def affine(code: Code, scale: np.ndarray = SCALE) -> Code:
    """z ↦ scale · z + shift per dim (any signs: the metrics invariant to affine maps are invariant to these)."""
    return lambda classes: code(classes) * scale + SHIFT


def random_code(seed: int, dims: int = 5) -> Code:
    """Standard normal codes independent of the factors."""
    rng = np.random.default_rng(seed)
    return lambda classes: rng.standard_normal((*classes.shape[:-1], dims))


CODES: dict[str, Callable[[], Code]] = {
    "perfect": lambda: perfect,
    "perfect affine permuted": lambda: permuted(affine(perfect)),
    "random": lambda: random_code(0),
    "mixed shape-scale": lambda: rotated(0, 1),
    "mixed positions": lambda: rotated(3, 4),
    "mixed positions permuted": lambda: permuted(rotated(3, 4)),
    "mixed positions affine": lambda: affine(rotated(3, 4), np.abs(SCALE)),  # a > 0: trees see the same splits
}


@functools.cache
def scores(name: str) -> dict[str, float]:
    """Every metric of code ``name`` at test sizes, each from its own generator (seed 0)."""
    code, gen = CODES[name](), lambda: torch.Generator().manual_seed(0)
    small = {"num_train": 1000, "num_test": 500}
    return {
        "betavae_score": betavae_score(DSPRITES, code, gen(), num_train=1000, num_eval=500),
        "factorvae_score": factorvae_score(DSPRITES, code, gen(), num_train=1000, num_eval=500, num_variance=2000),
        "mig": mig(DSPRITES, code, gen(), num_train=10000),
        **dci(DSPRITES, code, gen(), **small),
        "sap": sap(DSPRITES, code, gen(), num_train=2000, num_test=1000),
        "modularity": modularity(DSPRITES, code, gen(), num_train=10000),
    }


@pytest.mark.parametrize("name", ["perfect", "perfect affine permuted"])
def test_a_perfect_code_scores_one_where_the_definition_allows(name: str) -> None:
    s = scores(name)
    assert s["betavae_score"] >= 0.99 and s["factorvae_score"] == 1.0
    assert s["dci_disentanglement"] == pytest.approx(1, abs=1e-6)
    assert s["dci_completeness"] == pytest.approx(1, abs=1e-6)
    assert s["dci_informativeness"] == 1.0
    assert s["modularity"] == pytest.approx(1, abs=1e-3)  # the plug-in MI of independent dims is ~1e-3, squared
    assert 0.88 < s["mig"] < 0.91  # capped by 20 bins: test_mig_of_a_perfect_code_is_capped_by_the_bins
    assert s["sap"] < 0.35  # far below 1 (here 0.17 at 2,000 train points): test_sap_of_a_perfect_code_is_small


def test_mig_of_a_perfect_code_is_capped_by_the_bins() -> None:
    """MIG of factor k for a perfect code is (I(bin(z_k); v_k) − max_{j≠k} I(bin(z_j); v_k)) / H(v_k).

    z_k is v_k itself, so the first term is H(bin(v_k)): it equals H(v_k) only when no bin holds two values. 20
    equal-width bins over a factor's range hold one value each of shape (3) and scale (6), but two orientations
    each (40 values: bins of width 39/20 = 1.95, H(bin) = log 20) and one or two positions (32 values, width 1.55:
    12 bins of two, 8 of one, H(bin) = 0.75 log 16 + 0.25 log 32 = 4.25 log 2 of H = 5 log 2). In the population the
    other dims are independent of v_k, so the cap is (1 + 1 + log 20 / log 40 + 4.25/5 + 4.25/5) / 5 = 0.90242.
    On N samples the plug-in MI of an independent pair is biased up by ≈ (bins − 1)(values − 1) / 2N, which the
    second term pays: 0.0063 at N = 10,000, hence 0.8956.
    """
    cap = (2 + math.log(20) / math.log(40) + 2 * 4.25 / 5) / 5
    values = [np.arange(n, dtype=float)[:, None] for n in FACTOR_SIZES]  # one of each value: the uniform factor
    from_definition = np.mean([entropies(discretize(v, 20))[0] / entropies(v)[0] for v in values])
    assert from_definition == pytest.approx(cap, abs=1e-12) and cap == pytest.approx(0.90242, abs=1e-5)

    n = 10000
    value = mig(DSPRITES, indices, torch.Generator().manual_seed(0), num_train=n, bins=20)
    bias = np.mean([(20 - 1) * (size - 1) / (2 * n) / math.log(size) for size in FACTOR_SIZES])
    assert cap - value == pytest.approx(bias, abs=0.002)
    assert value == pytest.approx(0.8956, abs=5e-4)  # pinned: protocol sizes, generator seed 0
    # 40 bins resolve every value of every factor: the cap is 1, less the (larger, 39 bins) plug-in bias
    resolved = mig(DSPRITES, indices, torch.Generator().manual_seed(0), num_train=n, bins=40)
    assert resolved == pytest.approx(0.987, abs=0.003)


def test_sap_of_a_perfect_code_is_small() -> None:
    """SAP scores factor k by the test accuracy of a linear SVM on one dim: a one-vs-rest linear classifier of one
    feature gives each class a line in z and predicts the top line, so a class wins on one interval at most, and
    under C = 0.01 only the extreme values of a factor get one. A perfect code reads shape (3 values) exactly and
    scale (6) two-thirds of the time (standardised), but only ≈ 2 of 40 orientations and of 32 positions
    (accuracy 0.05–0.07); the second-best dim, independent of the factor, scores near chance (1/3, 1/6, 1/40,
    1/32). The mean gap is ≈ 0.25, and it depends on the code's scale (the SVM sees raw values under a fixed C):
    0.230 for the class indices, whose spread per dim is 1–12 times larger.
    """
    gen = torch.Generator().manual_seed(0)
    train, test = DSPRITES.sample_factors(10000, gen), DSPRITES.sample_factors(5000, gen)
    matrix = _score_matrix(perfect(train), train.numpy(), perfect(test), test.numpy())
    assert np.argmax(matrix, axis=0).tolist() == [0, 1, 2, 3, 4]  # each factor read best from its own dim
    assert matrix.max(axis=0) == pytest.approx([1.0, 0.67, 0.053, 0.059, 0.067], abs=0.01)
    assert sap(DSPRITES, perfect, torch.Generator().manual_seed(0)) == pytest.approx(0.2469, abs=5e-4)  # pinned
    assert sap(DSPRITES, indices, torch.Generator().manual_seed(0)) == pytest.approx(0.2300, abs=5e-4)  # pinned


def test_a_random_code_scores_zero_or_chance() -> None:
    s = scores("random")
    assert s["mig"] < 0.01 and s["sap"] < 0.02
    assert s["dci_disentanglement"] < 0.05 and s["dci_completeness"] < 0.05
    # chance 1/K = 0.2; the binomial std of an accuracy on 500 eval points is 0.018, so 0.06 is > 3 std
    assert s["betavae_score"] == pytest.approx(CHANCE, abs=0.06)
    assert s["factorvae_score"] == pytest.approx(CHANCE, abs=0.06)


def test_mixing_two_factors_in_one_dim_lowers_every_score() -> None:
    """Rotating two factor dims by 45°: both dims now carry both factors.

    Mixing the positions lowers every score clearly but SAP, which cannot see it: even a perfect code reads a
    position off one dim with accuracy ~0.06 (test_sap_of_a_perfect_code_is_small), so the gap it loses is small.
    Mixing shape and scale, which one dim does read, lowers SAP (and every other score) clearly. Modularity divides
    a dim's information about other factors by K − 1 = 4, so its drops are the smallest. (DCI informativeness is
    not a disentanglement score: an invertible mix keeps the information, and it is not tested here.)
    """
    best = scores("perfect")
    positions, shape_scale = scores("mixed positions"), scores("mixed shape-scale")
    for key in SCORES:
        assert shape_scale[key] < best[key] - 0.01, key
        if key != "sap":
            assert positions[key] < best[key] - 0.05, key
    assert shape_scale["sap"] < best["sap"] - 0.1
    assert positions["sap"] == pytest.approx(best["sap"], abs=0.02)


@pytest.mark.slow
def test_scores_are_invariant_to_permuting_code_dims() -> None:
    plain, shuffled = scores("mixed positions"), scores("mixed positions permuted")
    for key in ("betavae_score", "factorvae_score", "mig", "sap", "modularity"):
        assert shuffled[key] == pytest.approx(plain[key], abs=1e-9), key
    for key in ("dci_disentanglement", "dci_completeness", "dci_informativeness"):  # the trees' tie-breaking differs
        assert shuffled[key] == pytest.approx(plain[key], abs=0.02), key


@pytest.mark.slow
def test_which_scores_are_invariant_to_per_dim_affine_maps() -> None:
    """FactorVAE (codes divided by their std; no dim crosses the pruning threshold), MIG and modularity (bins on each
    dim's own range): any z ↦ a z + b, a ≠ 0. DCI: a > 0 (trees split on thresholds). Not SAP (fixed-C SVM on raw
    values, see test_sap_of_a_perfect_code_is_small), nor BetaVAE in general (a regularised classifier on raw
    |z₁ − z₂|), though it stays 1 on a perfect code of any scale."""
    plain = scores("mixed positions")
    any_sign = factorvae_score(DSPRITES, affine(rotated(3, 4)), torch.Generator().manual_seed(0),
                               num_train=1000, num_eval=500, num_variance=2000)  # fmt: skip
    assert any_sign == plain["factorvae_score"]
    for fn, key in ((mig, "mig"), (modularity, "modularity")):
        # exact in real arithmetic; rounding can move a code value lying on a bin edge (the rotated lattice has some)
        value = fn(DSPRITES, affine(rotated(3, 4)), torch.Generator().manual_seed(0))
        assert value == pytest.approx(plain[key], abs=1e-3), key
    positive = scores("mixed positions affine")
    for key in ("dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert positive[key] == pytest.approx(plain[key], abs=0.02), key
    assert scores("perfect affine permuted")["betavae_score"] >= 0.99


def test_dci_of_importance_matrices() -> None:
    one_code_two_factors = np.array([[0.5, 0.5], [0.0, 0.0]])  # code 0 predicts both, code 1 nothing
    assert _dci_from_importance(one_code_two_factors) == pytest.approx((0.0, 1.0))
    assert _dci_from_importance(np.zeros((3, 2))) == (0.0, 0.0)


def test_factorvae_collapsed_dims_never_vote() -> None:
    """A dim whose global std is below the threshold is pruned; with every dim pruned the score is 0."""
    gen = np.random.default_rng(0)
    factor, batches = gen.integers(0, 2, 200), gen.normal(size=(200, 16, 3))
    batches[np.arange(200), :, factor] = 0.0
    batches[:, :, 2] = 0.0  # dim 2 never varies: it would win every vote
    global_codes = gen.normal(size=(1000, 3)) * np.array([1.0, 1.0, 0.01])
    assert _factorvae_score(global_codes, batches, factor, batches, factor, num_factors=2) == 1.0
    assert _factorvae_score(global_codes * 0.01, batches, factor, batches, factor, num_factors=2) == 0.0


def test_samplers_hold_the_named_factor_fixed() -> None:
    gen = torch.Generator().manual_seed(0)
    k, classes = sample_with_one_factor_fixed(DSPRITES, 500, 64, gen)
    assert classes.shape == (500, 64, K) and torch.bincount(k, minlength=K).min() > 60  # every factor is named
    held = classes[torch.arange(500), :, k]  # (500, 64): the named factor of each batch
    assert (held == held[:, :1]).all()
    others = torch.ones(500, K, dtype=torch.bool).scatter_(1, k[:, None], False)
    varies = (classes.amax(dim=1) != classes.amin(dim=1))[others]  # the other factors of each batch
    assert varies.float().mean() > 0.95  # shape (3 values) is constant in a batch of 64 with probability 3^-63

    k, first, second = sample_pairs_sharing_one_factor(DSPRITES, 500, 64, gen)
    same = first == second  # (500, 64, K)
    assert same[torch.arange(500), :, k].all()
    assert same.float().mean() < 1 / K + 0.1  # the other factors agree only by chance


def test_disentanglement_config_is_validated_with_its_key_path() -> None:
    assert build_dataclass(EvaluationConfig, {}).disentanglement == DisentanglementConfig()
    config = build_dataclass(EvaluationConfig, {"disentanglement": {"mig_bins": 10}}, "evaluation")
    assert config.disentanglement.mig_bins == 10 and config.disentanglement.num_train == 10000
    with pytest.raises(ConfigError, match=r"evaluation\.disentanglement\.betavae_num_eval: must be >= 1, got 0"):
        build_dataclass(EvaluationConfig, {"disentanglement": {"betavae_num_eval": 0}}, "evaluation")
    with pytest.raises(ConfigError, match=r"evaluation\.disentanglement\.factorvae_batch_size: must be >= 2"):
        build_dataclass(EvaluationConfig, {"disentanglement": {"factorvae_batch_size": 1}}, "evaluation")
    with pytest.raises(ConfigError, match=r"evaluation\.disentanglement\.mig_bin: unknown key"):
        build_dataclass(EvaluationConfig, {"disentanglement": {"mig_bin": 10}}, "evaluation")


def test_changing_a_disentanglement_setting_re_evaluates_only_runs_it_applied_to() -> None:
    base = EvaluationConfig()
    # as a results file keeps it: through JSON
    from benchmarks.evaluation.evaluate import _would_apply

    def record(caps: frozenset[str]) -> dict:
        identity = evaluation_identity(base, _would_apply(base, set(caps)), caps)
        return {"eval_identity": json.loads(json.dumps(identity))}  # as a results file keeps it: through JSON

    other = EvaluationConfig(disentanglement=DisentanglementConfig(mig_bins=10))
    dsprites, digits = frozenset({"decoder", "labels", "factors"}), frozenset({"decoder", "labels"})
    assert is_current(record(dsprites), base)
    assert not is_current(record(dsprites), other)
    assert is_current(record(digits), other)  # digits: no factors, no disentanglement metric applied


def test_registered_in_their_own_group_after_latent_space() -> None:
    assert GROUPS.index("disentanglement") == GROUPS.index("latent space") + 1
    names = ["betavae_score", "factorvae_score", "mig", "dci", "sap", "modularity"]
    assert [m for m in METRICS.in_order() if METRICS.get(m).group == "disentanglement"] == names
    assert all(group_of(key) == "disentanglement" for key in (*SCORES, "dci_informativeness"))
    assert all(METRICS.get(m).requires == frozenset({"factors"}) for m in names)
    assert all(METRICS.get(m).settings == ("disentanglement",) for m in names)


class TinyFactors(InMemoryDataModule):
    """Three factors (3, 4, 5 values); an "image" (1, 1, 3) is its factor classes: a perfect code to an identity."""

    label_names = ("a", "b", "c")
    factor_sizes = (3, 4, 5)

    def render(self, classes: torch.Tensor) -> torch.Tensor:
        return classes.float().reshape(-1, 1, 1, 3)

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.stack([torch.randint(s, (n,), generator=generator) for s in self.factor_sizes], dim=1)

    def load_splits(self) -> tuple[Split, Split, Split]:
        gen = torch.Generator().manual_seed(0)
        splits = [self.sample_factors(n, gen) for n in (60, 20, 40)]
        return tuple(Split(self.render(c), c) for c in splits)  # type: ignore[return-value]


class Encoder:
    """A deterministic "model" (no decoder, no prior) whose latent mean is a fixed invertible map of the image."""

    prior = None

    def __init__(self, scale: torch.Tensor) -> None:
        self.scale = scale

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(x.flatten(1) * self.scale)


def test_metrics_run_through_the_evaluation_on_factor_data() -> None:
    dm = TinyFactors()
    dm.setup()
    small = DisentanglementConfig(
        betavae_batch_size=16, betavae_num_train=200, betavae_num_eval=100, factorvae_batch_size=16,
        factorvae_num_train=200, factorvae_num_eval=100, factorvae_num_variance=500, num_train=500, num_test=200,
    )  # fmt: skip
    names = ["betavae_score", "factorvae_score", "mig", "dci", "sap", "modularity"]
    context = EvalContext.build(dm, "tiny_factors", EvaluationConfig(metrics=names, disentanglement=small))
    result = evaluate(Encoder(torch.tensor([2.0, -1.0, 0.5])), context, seed=0)
    assert set(result.metrics) == {*SCORES, "dci_informativeness"} and not result.failures
    assert set(result.seconds) == set(names) and result.identity["settings"]["disentanglement"]["num_train"] == 500
    m = result.metrics
    assert m["betavae_score"] >= 0.95 and m["factorvae_score"] == 1.0 and m["dci_informativeness"] == 1.0
    assert m["mig"] > 0.95 and m["modularity"] > 0.95 and m["dci_disentanglement"] > 0.95  # ≤ 20 values: bins resolve
    again = evaluate(Encoder(torch.tensor([2.0, -1.0, 0.5])), context, seed=0).metrics
    assert again == m  # every draw comes from the run's generators


def test_dci_leaves_its_importance_matrix_for_the_traversal_figure() -> None:
    from benchmarks.evaluation.inputs import EvalInputs
    from benchmarks.evaluation.metrics.dci import DCI

    dm = TinyFactors()
    dm.setup()
    config = EvaluationConfig(metrics=["dci"], disentanglement=DisentanglementConfig(num_train=300, num_test=100))
    inputs = EvalInputs(Encoder(torch.tensor([2.0, -1.0, 0.5])), EvalContext.build(dm, "tiny_factors", config), seed=0)
    scores = DCI().compute(inputs)
    importance = inputs.figure_arrays["dci_importance"]
    assert importance.shape == (3, 3) and inputs.figure_arrays["factor_names"].tolist() == ["a", "b", "c"]
    assert (importance.argmax(axis=1) == np.arange(3)).all()  # code dim k is factor k: its row peaks at k
    assert scores["dci_disentanglement"] == pytest.approx(_dci_from_importance(importance)[0])
