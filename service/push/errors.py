"""Errors of the push package.

PushError
 ├── BundleError        a bundle that cannot be enqueued (an unknown enterprise or policy)
 └── DeliveryError      raised by a channel's ``send``: the message was not delivered
      ├── RetryableError   try again later (a timeout, a 5xx, a 429): backoff, then dead after N
      └── PermanentError   never deliverable as it is (a 4xx that says so, a disabled endpoint): dead now
"""

from __future__ import annotations


class PushError(Exception):
    """Root of the push package's errors (messages in Chinese)."""


class BundleError(PushError):
    pass


class DeliveryError(PushError):
    pass


class RetryableError(DeliveryError):
    pass


class PermanentError(DeliveryError):
    pass
