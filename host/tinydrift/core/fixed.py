"""Fixed-point scales and sentinels of the C core's formats (one place for the host package)."""

from __future__ import annotations

Q8 = 1 << 8  # scores, features, thresholds: value * 256
Q16 = 1 << 16  # centroid inverse scales, output probabilities and accuracies: value * 65536
Q24 = 1 << 24  # feature inverse sigmas, embedding scales: value * 2**24
THRESHOLD_DISABLED = 0xFFFFFFFF  # a Q8 threshold that never fires (td_profile.h)
