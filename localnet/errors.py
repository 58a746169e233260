"""Chain-side failures, named as subtensor names them."""

from __future__ import annotations


class DispatchError(Exception):
    """An extrinsic failed on chain: state is rolled back, the fee is still paid.

    ``name`` is subtensor's error name (``NeuronNoValidatorPermit``, ...) so a
    test or an operator sees exactly what a real chain would report.
    """

    def __init__(self, name: str, message: str | None = None, pallet: str = "SubtensorModule"):
        super().__init__(message or name)
        self.name = name
        self.pallet = pallet
        self.message = message or name


class InvalidTransaction(Exception):
    """The transaction pool refused the extrinsic (bad signature, stale nonce,
    cannot pay fees): nothing is included and no fee is paid."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
