"""Helpers of the API tests (their world, ``app`` and ``keys``, is in conftest.py)."""


def get(client, url, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(url, headers=headers)
