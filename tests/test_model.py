"""WireClassifier follows scikit-learn conventions and trains reproducibly."""

import numpy as np
import pytest
from sklearn.base import clone

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.train import train


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
    # predict agrees with the most probable class of each head
    for j, p in enumerate(proba):
        assert list(est.classes_[j][p.argmax(axis=1)]) == list(pred[:, j])
    with pytest.raises(ValueError, match="shape"):
        est.fit(texts, y[:, :2])
    with pytest.raises(TypeError):
        est.predict("a single string")
    lonely = y.copy()
    lonely[0, 1] = "unheard-of"
    with pytest.raises(ValueError, match="only 1 example"):
        clone(est).fit(texts, lonely)


def test_same_data_and_seed_give_identical_predictions(tmp_path, corpus, loaded_model):
    other = train([DEFAULT_CORPUS], tmp_path / "again", progress=lambda _m: None)
    from wirestream.models.persistence import load_model

    again = load_model(tmp_path / "again")
    texts = [s.text for s in corpus]
    a = loaded_model.model.predict_proba(texts)
    b = again.model.predict_proba(texts)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert other["metrics"] == loaded_model.manifest["metrics"]
    assert other["held_out_ids"] == loaded_model.manifest["held_out_ids"]


def test_held_out_metrics_are_in_the_manifest(loaded_model):
    metrics = loaded_model.manifest["metrics"]
    for head in HEADS:
        assert 0.0 <= metrics[head]["macro_f1"] <= 1.0
    assert metrics["n_held_out"] == len(loaded_model.manifest["held_out_ids"])
    by_lang = metrics["macro_f1_by_language"]
    assert set(by_lang) == {"en", "uk", "ru"}
    assert sum(row["n_stories"] for row in by_lang.values()) == metrics["n_held_out"]
    report = loaded_model.path / "report"
    for head in HEADS:
        assert (report / f"confusion-{head}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "macro-F1" in (report / "report.md").read_text()


def test_model_beats_majority_class_on_held_out(loaded_model, corpus):
    """Far from tuned: a model that learned nothing scores the majority-class baseline."""
    held = set(loaded_model.manifest["held_out_ids"])
    test = [s for s in corpus if s.id in held]
    pred = loaded_model.model.predict([s.text for s in test])
    for j, head in enumerate(HEADS):
        truth = [s.targets[j] for s in test]
        majority = max(set(map(str, truth)), key=[str(t) for t in truth].count)
        baseline = np.mean([str(t) == majority for t in truth])
        accuracy = np.mean([str(p) == str(t) for p, t in zip(pred[:, j], truth, strict=True)])
        assert accuracy > baseline, head
