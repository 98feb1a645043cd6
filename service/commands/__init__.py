"""One module per `zhida` sub-command; each exposes a click command named ``cli``."""
