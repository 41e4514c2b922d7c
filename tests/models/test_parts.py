"""The engine's parts, each on its own: NMS, resampling, alignment, gallery, decisions, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.align import similarity_transform
from models.calibration import best_threshold, calibrate, cross_validated_accuracy, threshold_at_fmr
from models.decision import Outcome, decide
from models.detector import AreaSampler, nms, pyramid_scales
from models.gallery import Gallery, Match, ModelMismatch
from models.runtime import Thresholds


def test_area_sampler_equals_torch_area_interpolation() -> None:
    image = np.random.default_rng(3).integers(0, 256, (67, 91, 3), dtype=np.uint8)
    sampler = AreaSampler(image)
    tensor = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    for height, width in [(48, 64), (12, 13), (67, 91), (100, 120)]:
        expected = torch.nn.functional.interpolate(tensor, size=(height, width), mode="area")[0].permute(1, 2, 0)
        assert np.abs(sampler.resize(height, width) - expected.numpy()).max() < 1e-3
    crop = sampler.crops(np.array([5]), np.array([7]), np.array([40]), np.array([30]), 24)[0]
    expected = torch.nn.functional.interpolate(tensor[:, :, 7:30, 5:40], size=(24, 24), mode="area")[0].permute(1, 2, 0)
    assert np.abs(crop - expected.numpy()).max() < 1e-3


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 4, 4]], dtype=np.float64)
    scores = np.array([0.8, 0.9, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 1, 2]  # box 0 overlaps box 1 (IoU 0.68)
    # 'min' overlap: the small box inside the big one is suppressed too.
    assert 3 not in nms(boxes, np.array([0.8, 0.9, 0.7, 0.5]), 0.5, method="min").tolist()


def test_pyramid_reaches_the_minimum_face_and_stops_at_12_pixels() -> None:
    scales = pyramid_scales(480, 640, min_face=40, factor=0.709)
    assert scales[0] == pytest.approx(12 / 40)
    assert min(480, 640) * scales[-1] >= 12 > min(480, 640) * scales[-1] * 0.709


def test_similarity_transform_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rotation.T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_gallery_takes_the_best_template_per_person_and_refuses_other_models() -> None:
    gallery = Gallery("model-a", 3)
    e = np.eye(3, dtype=np.float32)
    gallery.add("ann", np.stack([e[0], e[1]]), "model-a")
    gallery.add("bob", e[2], "model-a")
    matches = gallery.match(np.array([0.0, 1.0, 0.2], np.float32), "model-a")
    assert [m.person for m in matches] == ["ann", "bob"]
    assert matches[0].score == pytest.approx(1.0)
    with pytest.raises(ModelMismatch, match="model-b"):
        gallery.match(e[0], "model-b")
    with pytest.raises(ModelMismatch):
        gallery.add("cy", e[0], "model-b")
    assert gallery.remove("ann") and "ann" not in gallery
    assert [m.person for m in gallery.match(e[0], "model-a")] == ["bob"]


def test_decision_zones() -> None:
    t = Thresholds(accept=0.6, unknown=0.4, margin=0.05)
    assert decide([Match("a", 0.7), Match("b", 0.3)], t).outcome is Outcome.ACCEPT
    assert decide([Match("a", 0.7), Match("b", 0.68)], t).outcome is Outcome.LOOK_AGAIN  # too close to call
    assert decide([Match("a", 0.5)], t).outcome is Outcome.LOOK_AGAIN  # grey zone
    unknown = decide([Match("a", 0.2)], t)
    assert unknown.outcome is Outcome.UNKNOWN and unknown.person is None and unknown.candidate == "a"
    assert decide([], t).outcome is Outcome.UNKNOWN
    with pytest.raises(ValueError):
        Thresholds(accept=0.3, unknown=0.5, margin=0.0)


def test_threshold_at_fmr_bounds_the_false_match_rate() -> None:
    impostor = np.random.default_rng(1).normal(0, 0.1, 100_000)
    for fmr in (1e-2, 1e-3, 1e-4):
        tau = threshold_at_fmr(impostor, fmr)
        assert (impostor >= tau).mean() <= fmr
        assert (impostor >= tau - 1e-3).mean() > fmr / 2


def test_cross_validated_accuracy_and_best_threshold() -> None:
    rng = np.random.default_rng(2)
    same = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    scores = np.r_[rng.normal(0.7, 0.1, 300), rng.normal(0.1, 0.1, 300)]
    t = best_threshold(scores, same)
    assert 0.3 < t < 0.5
    mean, std, thresholds = cross_validated_accuracy(scores, same)
    direct = ((scores >= t) == same).mean()
    assert abs(mean - direct) < 0.01 and len(thresholds) == 10 and std < 0.03
    genuine, impostor = scores[same], scores[~same]
    calibrated = calibrate(genuine, impostor, 1e-2, 1e-1, 0.05, "synthetic")
    assert calibrated.unknown <= calibrated.accept and calibrated.target_fmr == 1e-2
