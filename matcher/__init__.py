"""Rules and decisions: the field catalog, the JsonLogic rule engine, eligibility,
candidates, ranking pipeline, 政策包 assembly, payout decisions and the sandbox."""
