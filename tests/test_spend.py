"""Asking before spending, and which networks count as local (where nothing is asked)."""

from __future__ import annotations

import io

import pytest
import typer

from wmnet.localnet.network import NetworkError, check_network, is_local_network
from wmnet.localnet.spending import Quote, tao
from wmnet.neurons.spend import confirm_spend


class Terminal(io.StringIO):
    """Keyboard input typed at a terminal (``isatty``), for the prompt to read."""

    def isatty(self) -> bool:
        return True


def _quote(network: str, balance: int = 10**12) -> Quote:
    return Quote(
        action="register hotkey 5F… on netuid 7",
        network=network,
        coldkey="5Cold",
        fee_rao=125_000,
        burn_rao=2_500_000_000,
        balance_rao=balance,
    )


@pytest.mark.parametrize(
    ("network", "local"),
    [
        ("localnet", True),
        ("http://127.0.0.1:9946", True),
        ("local", True),
        ("ws://127.0.0.1:9944", True),
        ("ws://localhost:9944", True),
        ("test", False),
        ("finney", False),
        ("wss://entrypoint-finney.opentensor.ai:443", False),
        ("ws://10.1.2.3:9944", False),
    ],
)
def test_local_networks(network, local):
    assert check_network(network) == network
    assert is_local_network(network) is local


@pytest.mark.parametrize("typo", ["finnney", "tset", "ws://", "mainnet"])
def test_unknown_networks_are_refused_with_a_hint(typo):
    with pytest.raises(NetworkError) as raised:
        check_network(typo)
    assert "\n" not in str(raised.value)


def test_the_quote_names_every_part_of_the_cost():
    text = _quote("test").summary()
    for part in ("netuid 7", "on test", "cost τ2.500000000", "fee τ0.000125000"):
        assert part in text, text
    assert "total τ2.500125000" in text
    assert tao(-1) == "-τ0.000000001"


def test_a_local_chain_spends_without_asking(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", Terminal(""))  # nothing typed: a prompt would abort
    confirm_spend(_quote("localnet"), yes=False)
    assert "cost τ2.500000000" in capsys.readouterr().err


def test_a_public_network_asks_and_no_spends_nothing(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    with pytest.raises(typer.Exit) as stopped:
        confirm_spend(_quote("finney"), yes=False)
    assert stopped.value.exit_code == 1
    assert "nothing was spent" in capsys.readouterr().err


def test_a_public_network_goes_ahead_on_yes_typed_or_given(monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    confirm_spend(_quote("finney"), yes=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a script: no terminal
    confirm_spend(_quote("finney"), yes=True)


def test_a_script_on_a_public_network_must_say_yes(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(typer.Exit) as stopped:
        confirm_spend(_quote("test"), yes=False)
    assert stopped.value.exit_code == 2
    assert "--yes" in capsys.readouterr().err


def test_an_unaffordable_spend_stops_before_signing(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(typer.Exit) as stopped:
        confirm_spend(_quote("localnet", balance=1_000), yes=True)
    assert stopped.value.exit_code == 2
    assert "fund it first" in capsys.readouterr().err
