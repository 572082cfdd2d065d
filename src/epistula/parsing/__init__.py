"""Engine text -> content events (incremental and split-invariant)."""
