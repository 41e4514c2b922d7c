"""Triplet loss with online semi-hard mining (Schroff et al., FaceNet, 2015), and the batches it needs.

Each batch holds P people x K photos. For every anchor-positive pair in the batch the negative is the
closest one that is still farther from the anchor than the positive (semi-hard); when no negative is
that far, the farthest negative is used, so the hardest negatives, which make training collapse
early, are never chosen. Distances are squared Euclidean between L2-normalised embeddings.
"""

from __future__ import annotations

import numpy as np
import torch


def semi_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor,
                           margin: float = 0.2) -> tuple[torch.Tensor, float]:
    """Mean of max(0, d(a,p) - d(a,n) + margin) over every anchor-positive pair, and the share of
    those triplets that still violate the margin (1.0 early in training, falling as it learns)."""
    distances = (2.0 - 2.0 * embeddings @ embeddings.T).clamp(min=0.0)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    anchors, positives = torch.nonzero(same & ~eye, as_tuple=True)
    if len(anchors) == 0:
        raise ValueError("a triplet batch needs at least two photos of one person")
    d_ap = distances[anchors, positives]
    d_an = distances[anchors]
    negative = ~same[anchors]
    if not negative.any(dim=1).all():
        raise ValueError("a triplet batch needs at least two people")
    semi = negative & (d_an > d_ap[:, None])
    closest_farther = torch.where(semi, d_an, torch.full_like(d_an, float("inf"))).min(dim=1).values
    farthest = torch.where(negative, d_an, torch.full_like(d_an, float("-inf"))).max(dim=1).values
    chosen = torch.where(semi.any(dim=1), closest_farther, farthest)
    losses = torch.relu(d_ap - chosen + margin)
    return losses.mean(), float((losses > 0).float().mean())


class PeopleBatches:
    """Batches of ``people`` people x ``photos`` photos each, drawn from items labelled by person."""

    def __init__(self, labels: np.ndarray, people: int, photos: int, rng: np.random.Generator) -> None:
        self.by_person = {int(p): np.flatnonzero(labels == p) for p in np.unique(labels)}
        self.by_person = {p: idx for p, idx in self.by_person.items() if len(idx) >= 2}
        if len(self.by_person) < 2:
            raise ValueError("triplet training needs at least two people with two or more usable photos each")
        if people < 2 or photos < 2:
            raise ValueError(f"batches need at least 2 people x 2 photos, got {people} x {photos}")
        self.people, self.photos, self.rng = min(people, len(self.by_person)), photos, rng

    def __call__(self) -> np.ndarray:
        """Indices of one batch (people grouped)."""
        chosen = self.rng.choice(list(self.by_person), size=self.people, replace=False)
        picks = []
        for person in chosen:
            idx = self.by_person[int(person)]
            picks.append(self.rng.choice(idx, size=self.photos, replace=len(idx) < self.photos))
        return np.concatenate(picks)
