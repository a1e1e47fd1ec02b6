"""WireClassifier follows scikit-learn conventions, trains reproducibly, and stays good enough."""

from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import clone

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.models.persistence import load_model
from wirestream.models.signing import load_private
from wirestream.settings import DEFAULT_CORPUS, DEFAULT_WIRE_HELDOUT
from wirestream.training.evaluate import evaluate, tag_f1, tag_f1_interval
from wirestream.training.split import is_held_out
from wirestream.training.train import (
    THRESHOLD_GRID,
    best_threshold,
    f1_by_threshold,
    out_of_fold_tag_probabilities,
    targets_of,
    train,
)

# Regression floors on the corpus held-out split (README: "Model" has the measured figures).
# They sit about 0.08 below what the shipped corpus gives, so a corpus round does not trip
# them, while a model that learned little (shuffled labels: topic ~0.1, tags ~0.3) fails every one.
FLOORS = {"topic": 0.75, "stance": 0.82, "humanitarian": 0.80, "military": 0.80}


def test_estimator_conventions(corpus):
    est = WireClassifier(C=0.3, calibration_cv=3)
    assert clone(est).get_params() == est.get_params()
    sample = corpus[::3]
    texts = [s.text for s in sample]
    y = np.array([s.targets for s in sample], dtype=object)
    assert est.fit(texts, y) is est
    pred = est.predict(texts[:7])
    assert pred.shape == (7, len(HEADS))
    proba = est.predict_proba(texts[:7])
    assert len(proba) == len(HEADS)
    for p, classes in zip(proba, est.classes_, strict=True):
        assert p.shape == (7, len(classes))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    for j, p in enumerate(proba[:2]):  # topic and stance: the most probable class
        assert list(est.classes_[j][p.argmax(axis=1)]) == list(pred[:, j])
    with pytest.raises(ValueError, match="shape"):
        est.fit(texts, y[:, :2])
    with pytest.raises(TypeError):
        est.predict("a single string")
    lonely = y.copy()
    lonely[0, 1] = "unheard-of"
    with pytest.raises(ValueError, match="only 1 example"):
        clone(est).fit(texts, lonely)


def test_tag_thresholds_decide_the_tags(corpus):
    sample = corpus[::4]
    texts = [s.text for s in sample]
    est = WireClassifier().fit(texts, targets_of(sample))
    p_true = est.predict_proba(texts)[2][:, list(est.classes_[2]).index(True)]
    strict = clone(est).set_params(tag_thresholds=(0.9, 0.5)).fit(texts, targets_of(sample))
    assert list(strict.predict(texts)[:, 2]) == list(p_true >= 0.9)


class _Recording(WireClassifier):
    """WireClassifier that logs which texts each instance was fitted on and scored."""

    log: ClassVar[list[tuple[int, str, frozenset[str]]]] = []

    def fit(self, X, y):  # type: ignore[no-untyped-def]
        self.log.append((id(self), "fit", frozenset(X)))
        return super().fit(X, y)

    def predict_proba(self, X):  # type: ignore[no-untyped-def]
        self.log.append((id(self), "score", frozenset(X)))
        return super().predict_proba(X)


def test_threshold_probabilities_come_from_models_that_never_saw_the_story(corpus):
    """Each story's out-of-fold score comes from a model fitted without it, and every story
    is scored once: thresholds chosen on in-sample scores would fit the training noise."""
    sample = corpus[::6]
    texts = [s.text for s in sample]
    _Recording.log.clear()
    oof = out_of_fold_tag_probabilities(_Recording(), texts, targets_of(sample))
    assert oof.shape == (len(sample), 2) and ((oof >= 0) & (oof <= 1)).all()
    fitted = {model: seen for model, what, seen in _Recording.log if what == "fit"}
    scored = [(model, seen) for model, what, seen in _Recording.log if what == "score"]
    assert len(fitted) == len(scored) >= 3
    for model, seen in scored:
        assert not seen & fitted[model]
    assert sorted(t for _m, seen in scored for t in seen) == sorted(texts)


def test_chosen_threshold_is_the_f1_best_on_the_grid():
    rng = np.random.default_rng(5)
    truth = rng.random(400) < 0.3
    p_true = np.clip(truth * 0.35 + rng.random(400) * 0.6, 0, 1)
    f1 = f1_by_threshold(p_true, truth)
    chosen = best_threshold(p_true, truth)
    assert chosen in THRESHOLD_GRID
    assert f1[list(THRESHOLD_GRID).index(chosen)] == pytest.approx(f1.max())


def test_one_se_rule_follows_sharp_evidence_and_otherwise_stays_near_half():
    """A sharp, certain peak is followed; on noisy, flat curves the one-SE choice is never
    farther from 0.5 than the plain argmax, and sometimes nearer."""
    rng = np.random.default_rng(2)
    truth = rng.random(400) < 0.3
    sharp = np.where(truth, rng.uniform(0.71, 1.0, 400), rng.uniform(0.0, 0.69, 400))
    assert best_threshold(sharp, truth, one_se=True) == pytest.approx(0.7)
    nearer = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        truth = rng.random(80) < 0.4
        noisy = np.clip(0.5 + (truth - 0.5) * 0.2 + rng.normal(0, 0.2, 80), 0, 1)
        argmax, one_se = best_threshold(noisy, truth), best_threshold(noisy, truth, one_se=True)
        assert abs(one_se - 0.5) <= abs(argmax - 0.5)
        nearer += abs(one_se - 0.5) < abs(argmax - 0.5)
    assert nearer > 0


def test_same_data_and_seed_give_identical_predictions(tmp_path, corpus, loaded_model, keys):
    other = train(
        [DEFAULT_CORPUS],
        tmp_path / "again",
        signing_key=load_private(keys[0]),
        progress=lambda _m: None,
    )
    from wirestream.models.persistence import TrustPolicy
    from wirestream.models.signing import load_public_keys

    again = load_model(tmp_path / "again", TrustPolicy(load_public_keys(str(keys[1]))))
    texts = [s.text for s in corpus[::5]]
    for pa, pb in zip(
        loaded_model.model.predict_proba(texts), again.model.predict_proba(texts), strict=True
    ):
        np.testing.assert_array_equal(pa, pb)
    assert other["metrics"]["held_out"] == loaded_model.manifest["metrics"]["held_out"]
    assert other["held_out_ids"] == loaded_model.manifest["held_out_ids"]


def test_the_seed_never_moves_the_held_out_split(tmp_path, loaded_model, keys):
    other = train(
        [DEFAULT_CORPUS],
        tmp_path / "seed",
        signing_key=load_private(keys[0]),
        seed=7,
        progress=lambda _m: None,
    )
    assert other["held_out_ids"] == loaded_model.manifest["held_out_ids"]
    assert all(is_held_out(i) for i in other["held_out_ids"])


def test_manifest_and_report_hold_both_held_out_sets_by_language(loaded_model):
    metrics = loaded_model.manifest["metrics"]
    assert set(metrics) >= {"held_out", "wire_held_out"}
    for name in ("held_out", "wire_held_out"):
        assert set(metrics[name]["by_language"]) == {"en", "uk", "ru"}
        for head in HEADS:
            assert "ece" in metrics[name][head]
    assert metrics["held_out"]["n_stories"] == len(loaded_model.manifest["held_out_ids"])
    thresholds = loaded_model.manifest["thresholds"]
    assert tuple(thresholds.values()) == tuple(loaded_model.model.tag_thresholds)
    report = loaded_model.path / "report"
    for png in ["reliability.png", *(f"confusion-wire held-out-{h}.png" for h in HEADS)]:
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    text = (report / "report.md").read_text()
    assert "wire held-out" in text and "Calibration" in text


def _macro(model, stories):
    m = evaluate(model, [s.text for s in stories], targets_of(stories))
    return {
        h: (m[h]["f1"] if h in ("humanitarian", "military") else m[h]["macro_f1"]) for h in HEADS
    }


def test_model_clears_the_regression_floors_and_a_shuffled_model_does_not(loaded_model, corpus):
    held = [s for s in corpus if is_held_out(s.id)]
    scores = _macro(loaded_model.model, held)
    assert {h: s for h, s in scores.items() if s < FLOORS[h]} == {}, scores
    fit = [s for s in corpus if not is_held_out(s.id)]
    y = targets_of(fit)
    rng = np.random.default_rng(0)
    shuffled = np.column_stack([rng.permutation(y[:, j]) for j in range(y.shape[1])])
    chance = WireClassifier().fit([s.text for s in fit], shuffled)
    chance_scores = _macro(chance, held)
    assert all(chance_scores[h] < FLOORS[h] for h in HEADS), chance_scores


def test_wire_register_set_is_evaluated_never_fitted(loaded_model, corpus):
    from wirestream.training.corpus import load_corpus

    wire_ids = {s.id for s in load_corpus([DEFAULT_WIRE_HELDOUT])}
    assert loaded_model.manifest["n_train"] == sum(not is_held_out(s.id) for s in corpus)
    assert not wire_ids & set(loaded_model.manifest["held_out_ids"])
    assert loaded_model.manifest["metrics"]["wire_held_out"]["n_stories"] == len(wire_ids)


def test_the_one_pass_probabilities_equal_scikit_learns(loaded_model, corpus):
    """``_proba`` re-does CalibratedClassifierCV's arithmetic without its per-call overhead."""
    model = loaded_model.model
    texts = [s.text for s in corpus[::7]]
    features = model.transform_text(texts)
    for ours, est in zip(model._proba(features), model.estimators_, strict=True):
        np.testing.assert_allclose(ours, est.predict_proba(features), rtol=0, atol=1e-9)


def test_tag_f1_interval_holds_the_estimate_and_narrows_with_more_stories():
    """The per-language tag figures come with a bootstrap interval; more stories at the same
    error rate must give a narrower one, around the same point estimate."""
    truth = ["true"] * 10 + ["false"] * 40
    pred = ["true"] * 9 + ["false"] + ["true"] * 2 + ["false"] * 38  # 1 miss, 2 false alarms
    small = tag_f1_interval(truth, pred)
    large = tag_f1_interval(truth * 8, pred * 8)
    point = tag_f1(truth, pred)
    assert small[0] < point < small[1] and large[0] < point < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 2
