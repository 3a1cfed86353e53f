import Testing

/// Every test that starts real node processes lives under this suite, which runs its tests one
/// at a time: the machine is small, and clusters running side by side would starve each other's
/// election timers.
@Suite(.serialized) enum RealProcessTests {}
