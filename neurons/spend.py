"""Asking before spending: every command that burns or stakes TAO goes through here.

The cost is always printed (on stderr, so ``--json`` output stays clean). On a local
chain that is all; on any other network the command asks, and a script must say
``--yes``: nothing spends real TAO behind its operator's back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from wmnet.localnet.network import is_local_network
from wmnet.localnet.spending import Quote, tao
from wmnet.neurons.output import fail, note, usage_error


def confirm_spend(quote: Quote, *, yes: bool) -> None:
    """Show ``quote``; return when the spending may go ahead, exit when it may not."""
    note(quote.summary())
    for warning in quote.warnings:
        note(f"warning: {warning}")
    if not quote.affordable:
        usage_error(
            f"coldkey {quote.coldkey} holds {tao(quote.balance_rao or 0)} on {quote.network} "
            f"and this needs {tao(quote.total_rao)}: fund it first (docs/operators.md)"
        )
    if yes or is_local_network(quote.network):
        return
    if not sys.stdin.isatty():
        usage_error(
            f"this spends TAO on {quote.network}: run it in a terminal to be asked, "
            "or pass --yes to confirm in a script"
        )
    if not typer.confirm(f"Spend {tao(quote.total_rao)} on {quote.network}?", default=False):
        fail("cancelled; nothing was spent")


def approver(yes: bool) -> Callable[[Quote], None]:
    """``confirm_spend`` with ``--yes`` bound, for code that quotes by itself (the miner)."""
    return lambda quote: confirm_spend(quote, yes=yes)
