"""τ_accept for the gallery at hand: chosen from the impostor tail a model's manifest carries so that
the share of strangers accepted as someone stays at the target as the gallery grows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.calibration import fmr_for_fpir, for_gallery, impostor_tail
from models.runtime import Manifest, Thresholds
from models.settings import SettingsError, engine_settings

IMPOSTORS = 300_000


@pytest.fixture(scope="module")
def calibrated() -> Thresholds:
    impostor = np.random.default_rng(1).normal(0.0, 0.12, IMPOSTORS)
    return Thresholds(accept=0.6, unknown=0.4, margin=0.05, calibrated_on="synthetic",
                      impostor_tail=impostor_tail(impostor), impostor_comparisons=IMPOSTORS)


def test_the_tail_keeps_the_highest_scores_down_to_one_percent(calibrated: Thresholds) -> None:
    tail = np.asarray(calibrated.impostor_tail)
    assert len(tail) == IMPOSTORS // 100 + 1
    assert (np.diff(tail) <= 0).all(), "highest first"


def test_tau_rises_with_the_gallery_and_holds_the_share_of_strangers_accepted(calibrated: Thresholds) -> None:
    """Strangers searched against G independent people (scores from the same distribution as the
    calibration's impostors) are accepted at about the target whatever G is; a fixed τ lets more in."""
    rng = np.random.default_rng(2)
    target = 0.01
    taus = []
    for size in (1, 25, 100, 300):
        chosen = for_gallery(calibrated, size, target)
        taus.append(chosen.accept)
        assert chosen.gallery_size == size and chosen.unknown <= chosen.accept
        best = rng.normal(0.0, 0.12, (20_000, size)).max(axis=1)
        measured = float((best >= chosen.accept).mean())
        assert 0.5 * target <= measured <= 1.5 * target, (size, chosen.accept, measured)
        assert chosen.expected_fpir == pytest.approx(target, rel=0.15)
    assert taus == sorted(taus) and taus[0] < taus[-1]
    fixed = rng.normal(0.0, 0.12, (20_000, 300)).max(axis=1)
    assert (fixed >= taus[1]).mean() > 3 * target, "τ for 25 people lets far more strangers in at 300"


def test_beyond_the_calibrations_resolution_tau_is_extrapolated_strictly_and_says_so(calibrated: Thresholds) -> None:
    """At 600 people and 0.1 % the target allows less than one of the 300,000 impostor comparisons:
    τ comes from the fitted tail, above every impostor score, and still keeps strangers out."""
    fmr = fmr_for_fpir(0.001, 600)
    assert fmr * IMPOSTORS < 1
    chosen = for_gallery(calibrated, 600, 0.001)
    assert chosen.accept > calibrated.impostor_tail[0]
    assert "exponential tail" in chosen.calibrated_on
    assert chosen.expected_fpir is not None and chosen.expected_fpir <= 0.0011
    best = np.random.default_rng(3).normal(0.0, 0.12, (5_000, 600)).max(axis=1)
    assert (best >= chosen.accept).mean() <= 0.002  # 0.1 % of 5,000 is 5 ± 2.2 strangers


def test_without_calibration_data_the_thresholds_stay_as_they_are() -> None:
    plain = Thresholds(accept=0.6, unknown=0.4, margin=0.05)
    assert for_gallery(plain, 600) is plain


def test_the_tail_travels_in_the_manifest() -> None:
    t = Thresholds(accept=0.6, unknown=0.4, margin=0.05, impostor_tail=(0.7, 0.65, 0.6), impostor_comparisons=1000)
    manifest = Manifest("m", "embedder", "a", "w", "s", (160, 160), "RGB", 127.5, 128.0, thresholds=t)
    back = Manifest.from_json(manifest.to_json())
    assert back.thresholds == t
    assert for_gallery(back.thresholds, 10).accept == for_gallery(t, 10).accept  # type: ignore[arg-type]


def test_config_sets_the_target_and_refuses_nonsense() -> None:
    assert engine_settings({"decision": {"target_fpir": 0.002}}, Path(".")).target_fpir == 0.002
    assert engine_settings({}, Path(".")).target_fpir == 0.001
    fixed = engine_settings({"decision": {"accept": 0.7, "unknown": 0.4, "margin": 0.05}}, Path("."))
    assert fixed.thresholds is not None and fixed.thresholds.accept == 0.7
    for bad in (0, 0.5, "low", True):
        with pytest.raises(SettingsError, match="target_fpir"):
            engine_settings({"decision": {"target_fpir": bad}}, Path("."))


def test_a_walkup_is_decided_by_the_kiosks_vote_over_its_frames() -> None:
    from models.decision import Outcome
    from models.gallery import Gallery
    from models.tools.gallery_sizes import vote_walkup

    rng = np.random.default_rng(4)
    people = rng.normal(size=(3, 8)).astype(np.float32)
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    gallery = Gallery("m", 8)
    for i, vector in enumerate(people):
        gallery.add(f"p{i}", vector, "m")
    t = Thresholds(accept=0.9, unknown=0.3, margin=0.05)
    stranger = np.linalg.svd(people)[2][-1].astype(np.float32)  # orthogonal to every enrolled person
    like_p0 = [people[0]] * 3 + [stranger] * 2
    assert vote_walkup(gallery, np.stack(like_p0), t, 3, 5).person == "p0"
    two_of_five = np.stack([people[0], stranger, people[0], stranger, stranger * 0.5 + people[1] * 0.5])
    assert vote_walkup(gallery, two_of_five, t, 3, 5).outcome is not Outcome.ACCEPT
    assert vote_walkup(gallery, np.stack([stranger] * 5), t, 3, 5).outcome is Outcome.UNKNOWN


def test_walkup_frames_are_jittered_copies_of_the_photo() -> None:
    from models.tools.gallery_sizes import walkup_frames

    crop = np.random.default_rng(5).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    frames = walkup_frames(crop, 5, np.random.default_rng(6))
    assert frames.shape == (5, 160, 160, 3) and frames.dtype == np.uint8
    assert (frames[0] == crop).all()
    assert all(np.abs(f.astype(int) - crop).mean() > 1 for f in frames[1:])
