"""The toolkit's arithmetic, checked against brute-force definitions on small known inputs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from models import metrics
from models.datasets import read_pairs
from models.tools.calibrate import Targets
from models.tools.searches import held_out_people


def _brute_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    wins = sum(1.0 if g > i else 0.5 if g == i else 0.0 for g, i in itertools.product(genuine, impostor))
    return wins / (len(genuine) * len(impostor))


def test_auc_is_the_chance_a_genuine_score_beats_an_impostor() -> None:
    rng = np.random.default_rng(3)
    genuine = np.round(rng.normal(0.6, 0.15, 60), 2)  # rounded: ties happen
    impostor = np.round(rng.normal(0.1, 0.15, 80), 2)
    assert metrics.auc(genuine, impostor) == pytest.approx(_brute_auc(genuine, impostor), abs=1e-12)
    far, tar, _ = metrics.roc(genuine, impostor)
    assert far[0] == 0 and tar[0] == 0 and far[-1] == 1 and tar[-1] == 1
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    assert np.trapezoid(tar, far) == pytest.approx(metrics.auc(genuine, impostor), abs=1e-9)


def test_eer_is_where_false_accepts_equal_false_rejects() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.6, 0.35])  # one genuine among the impostors
    impostor = np.array([0.5, 0.4, 0.3, 0.2, 0.1])
    rate, threshold = metrics.eer(genuine, impostor)
    assert rate == pytest.approx(0.2, abs=1e-9)  # one miss of five, one false accept of five
    assert 0.35 <= threshold <= 0.6


def test_tar_at_far_is_flagged_when_the_set_cannot_resolve_it() -> None:
    genuine = np.linspace(0.4, 0.9, 100)
    impostor = np.linspace(-0.2, 0.5, 200)
    at_1pc = metrics.tar_at_far(genuine, impostor, 1e-2)
    assert at_1pc["resolved"] and at_1pc["far_measured"] <= 1e-2
    assert at_1pc["tar"] == pytest.approx(float((genuine >= at_1pc["threshold"] - 1e-9).mean()), abs=0.011)
    at_1e4 = metrics.tar_at_far(genuine, impostor, 1e-4)
    assert not at_1e4["resolved"] and at_1e4["far_measured"] == 0.0


def test_open_set_figures_match_their_definitions() -> None:
    # 3 people; 5 searches of enrolled people (truth = column), 4 of strangers; one search found no face
    scores = np.array([
        [0.80, 0.20, 0.10],   # right
        [0.30, 0.70, 0.60],   # right
        [0.50, 0.40, 0.45],   # wrong: truth 2, best 0
        [np.nan] * 3,         # no face: a miss
        [0.10, 0.20, 0.55],   # right but low
        [0.40, 0.10, 0.20],   # strangers from here
        [0.65, 0.10, 0.20],
        [0.10, 0.30, 0.20],
        [np.nan] * 3,
    ])
    truth = np.array([0, 1, 2, 0, 2, -1, -1, -1, -1])
    assert metrics.rank1(scores, truth) == pytest.approx(3 / 5)
    # FPIR 0.3 over 4 stranger searches allows 1 above the threshold: τ just above the second best (0.40)
    result = metrics.fnir_at_fpir(scores, truth, 0.3)
    assert result["threshold"] == pytest.approx(0.40, abs=1e-4) and result["fpir_measured"] == 0.25
    assert result["fnir"] == pytest.approx(1 - 3 / 5)  # rows 0, 1 and 4 are right and above τ
    genuine, impostor = metrics.person_scores(scores, truth)
    assert sorted(genuine.tolist()) == sorted([0.80, 0.70, 0.45, 0.55])
    assert len(impostor) == 4 * 2 + 3 * 3


def test_fnir_counts_a_low_right_answer_as_a_miss() -> None:
    scores = np.array([[0.9, 0.1], [0.3, 0.2], [0.5, 0.1]])
    truth = np.array([0, 0, -1])
    result = metrics.fnir_at_fpir(scores, truth, 0.01)  # no stranger may pass: τ just above 0.5
    assert result["fnir"] == pytest.approx(0.5)


def test_pairs_files_of_every_supported_format(tmp_path: Path) -> None:
    (tmp_path / "pairs.tsv").write_text("img_a\timg_b\tsame\na.jpg\tb.jpg\t1\na.jpg\tc.jpg\t0\n")
    (tmp_path / "pairs.csv").write_text("file_x,file_y,Decision\na.jpg,b.jpg,Yes\na.jpg,c.jpg,No\r\n")
    (tmp_path / "lfw.txt").write_text("1\t1\nAnn\t1\t2\nAnn\t1\tBob\t3\n")
    for name in ("pairs.tsv", "pairs.csv"):
        pairs = read_pairs(tmp_path / name)
        assert [(p.a.name, p.b.name, p.same) for p in pairs] == [("a.jpg", "b.jpg", True), ("a.jpg", "c.jpg", False)]
    lfw = read_pairs(tmp_path / "lfw.txt", tmp_path)
    assert [(p.a.name, p.b.name, p.same, p.fold) for p in lfw] == [
        ("Ann_0001.jpg", "Ann_0002.jpg", True, 0), ("Ann_0001.jpg", "Bob_0003.jpg", False, 0)]
    (tmp_path / "bad.csv").write_text("a.jpg,b.jpg,maybe\n")
    with pytest.raises(ValueError, match="maybe"):
        read_pairs(tmp_path / "bad.csv")


def test_fpir_target_becomes_a_per_comparison_rate() -> None:
    targets = Targets.from_fpir(0.01, 100, 1e-2, 0.01)
    assert 1 - (1 - targets.fmr) ** 100 == pytest.approx(0.01)
    assert targets.fmr == pytest.approx(1e-4, rel=0.01)
    with pytest.raises(ValueError):
        Targets.from_fpir(1.5, 100, 1e-2, 0.01)


def test_held_out_strangers_are_spread_and_leave_people_enrolled() -> None:
    names = [f"p{i:02d}" for i in range(10)]
    held = held_out_people(names, 2)
    assert len(held) == 2 and len(set(held)) == 2
    assert held_out_people(names, 0) == []
    with pytest.raises(ValueError):
        held_out_people(names, 10)


def test_semi_hard_mining_picks_the_closest_negative_farther_than_the_positive() -> None:
    torch = pytest.importorskip("torch")
    from models.tools.triplet import PeopleBatches, semi_hard_triplet_loss

    rng = np.random.default_rng(0)
    raw = rng.normal(size=(12, 8))
    vectors = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    labels = np.repeat(np.arange(4), 3)
    margin = 0.5
    d = 2 - 2 * vectors @ vectors.T
    losses = []
    for a, p in itertools.product(range(12), range(12)):
        if a == p or labels[a] != labels[p]:
            continue
        negatives = [d[a, n] for n in range(12) if labels[n] != labels[a]]
        farther = [x for x in negatives if x > d[a, p]]
        chosen = min(farther) if farther else max(negatives)
        losses.append(max(0.0, d[a, p] - chosen + margin))
    tensor = torch.tensor(vectors, dtype=torch.float64, requires_grad=True)
    loss, active = semi_hard_triplet_loss(tensor, torch.from_numpy(labels), margin)
    assert loss.item() == pytest.approx(float(np.mean(losses)), abs=1e-9)
    assert active == pytest.approx(float(np.mean(np.array(losses) > 0)))
    loss.backward()
    assert tensor.grad is not None and float(tensor.grad.abs().sum()) > 0

    batches = PeopleBatches(labels, people=3, photos=2, rng=np.random.default_rng(1))
    batch = batches()
    assert len(batch) == 6 and len(set(labels[batch].tolist())) == 3
    assert all((labels[batch] == person).sum() == 2 for person in set(labels[batch].tolist()))
