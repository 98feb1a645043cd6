"""One module per `zhida` sub-command; each exposes a click command named ``cli``."""


def store_engine():
    """The engine of the configured database (``ZHIDA_DATABASE_URL``), migrated to the newest schema."""
    from service.store import database_url, make_engine, upgrade

    url = database_url()
    upgrade(url)
    return make_engine(url)
