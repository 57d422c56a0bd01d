"""Rate limits and per-resource write locks (spec §8, §9), in memory or in Redis."""
