"""Background jobs: work asked for by a request that takes longer than a request should (training a model)."""
