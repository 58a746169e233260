"""The ledger API and CLI never answer a query with a 500 or a traceback: every
parameter is fuzzed (hypothesis) over a seeded ledger, on SQLite and PostgreSQL; the
times the issue found (NaN, infinities, ±1e300) are pinned down as explicit cases."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.ledger.helpers import seed
from wmnet.ledger.api import create_app
from wmnet.ledger.reports import GROUPINGS, MAX_TIME
from wmnet.neurons.cli import app as cli

runner = CliRunner()
HOSTILE_TIMES = ["nan", "NaN", "inf", "-inf", "Infinity", "1e300", "-1e300", "1e309", "-1",
                 "253402300800", "9999-12-31T23:59:59-05:00", "0001-01-01", "1_0e5"]  # fmt: skip


def _times() -> st.SearchStrategy[str]:
    numbers = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    return st.one_of(numbers, st.sampled_from(HOSTILE_TIMES), st.text(max_size=40))


@pytest.fixture
def client(sessions):
    seed(sessions)
    with TestClient(create_app(sessions), raise_server_exceptions=False) as http:
        yield http


@pytest.mark.parametrize("bad", HOSTILE_TIMES)
def test_non_finite_and_out_of_range_times_are_a_400_with_a_reason(client, bad) -> None:
    for name in ("since", "until"):
        response = client.get("/api/report", params={name: bad})
        if bad == "1_0e5":  # Python's float() reads it as 1e6: a fine time
            assert response.status_code == 200
            continue
        assert response.status_code == 400, (name, bad, response.text)
        assert name in response.json()["detail"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    by=st.one_of(st.sampled_from(GROUPINGS), st.text(max_size=12)),
    since=st.one_of(st.none(), _times()),
    until=st.one_of(st.none(), _times()),
    netuid=st.one_of(st.none(), st.integers(-(2**70), 2**70).map(str), st.text(max_size=8)),
)
def test_no_query_is_ever_a_500(client, by, since, until, netuid) -> None:
    params = {"by": by, "since": since, "until": until, "netuid": netuid}
    response = client.get("/api/report", params={k: v for k, v in params.items() if v is not None})
    assert response.status_code in (200, 400, 422), (params, response.text[:300])
    body = response.json()
    if response.status_code == 200:
        for bound in (body["since"], body["until"]):
            assert bound is None or (math.isfinite(bound) and 0 <= bound <= MAX_TIME)
    else:
        assert "Traceback" not in response.text


@pytest.mark.parametrize("bad", ["nan", "inf", "-1e300", "1e300"])
def test_the_cli_refuses_them_in_one_line_with_exit_2(sqlite_url, bad) -> None:
    result = runner.invoke(cli, ["ledger", "report", "--since", bad, "--db", sqlite_url])
    assert result.exit_code == 2, result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert "--since" in result.output and "out of range" in result.output
