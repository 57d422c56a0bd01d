"""Operations helpers that must not import the metrics (see :mod:`scimd.ops.multiprocess`)."""
