"""Property: no request to ``POST /v1/rollout``, however malformed, gets a 5xx (other
than a 503 refusal) or stops the miner.

Bodies are random bytes, random JSON, and task-shaped JSON with random field values;
headers are random, or btauth/1 headers with random values, or a *valid* signature by a
permitted validator over the random body, so the fuzzing reaches the parser and the
engine's checks, not only the gate. Every answer must be an ``ErrorBody`` (or a
result), and the server must answer a valid request afterwards.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.miner.helpers import post_task, signed, task, with_config
from wmnet.protocol.errors import ErrorBody
from wmnet.protocol.spec import ROLLOUT_PATH
from wmnet.worldmodel.checkpoint import default_model_id

pytestmark = pytest.mark.slow

AUTH_HEADERS = [
    "X-Bittensor-Version",
    "X-Bittensor-Hotkey",
    "X-Bittensor-Receiver",
    "X-Bittensor-Nonce",
    "X-Bittensor-Crypto",
    "X-Bittensor-Signature",
    "Content-Length",
    "Content-Type",
]
HEADER_VALUE = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.sampled_from(["1", "0", "-1", "9" * 400, "0x", "sr25519", "ed25519", "ecdsa", ""]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def task_shaped(draw) -> bytes:
    """A plausible task (valid ones included), with up to two fields made junk."""
    fields = json.loads(task().model_dump_json())
    fields["model_id"] = draw(st.sampled_from([default_model_id(), default_model_id()[:12]]))
    fields["actions"] = draw(st.lists(st.integers(0, 4), min_size=1, max_size=24))
    fields["precision"] = draw(st.sampled_from(["fp32", "int8", "bf16"]))
    fields["return_frames"] = draw(st.booleans())
    fields["context"] = {
        "kind": "seed",
        "seed": draw(st.integers(0, 2**63 - 1)),
        "n_frames": draw(st.integers(1, 16)),
    }
    junk = {
        "model_id": st.sampled_from(["ab" * 32, "ab" * 6, "zz", 5, None]),
        "actions": st.one_of(st.lists(st.integers(-3, 300), max_size=300), JSONISH),
        "precision": st.sampled_from(["fp64", None, 1]),
        "deadline_ms": st.one_of(st.integers(-5, 10**7), JSONISH),
        "return_frames": JSONISH,
        "spec_version": st.integers(-1, 3),
        "workload": st.sampled_from(["train_shard", "rollout", 7]),
        "context": st.one_of(
            st.fixed_dictionaries(
                {
                    "kind": st.just("seed"),
                    "seed": st.integers(-1, 2**64),
                    "n_frames": st.integers(-1, 20),
                }
            ),
            st.fixed_dictionaries(
                {
                    "kind": st.just("frames"),
                    "frames": st.fixed_dictionaries(
                        {
                            "dtype": st.sampled_from(["uint8", "float32", "int4"]),
                            "shape": st.lists(st.integers(0, 40), max_size=5),
                            "data": st.text(max_size=64),
                        }
                    ),
                    "actions": st.lists(st.integers(-1, 9), max_size=4),
                }
            ),
            JSONISH,
        ),
    }
    for key in draw(st.lists(st.sampled_from(sorted(junk)), max_size=2, unique=True)):
        fields[key] = draw(junk[key])
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=1)):
        del fields[key]
    return json.dumps(fields).encode()


BODY = st.one_of(
    st.binary(max_size=2000),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    task_shaped(),
    st.sampled_from([b"", b"{", b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000]),
)


def test_random_requests_never_get_a_5xx(serve, config, network):
    keys, me = network.keys, config.hotkey_ss58
    generous = with_config(config, rate=10_000, burst=10_000)

    with serve(generous) as http:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            body=BODY,
            mode=st.sampled_from(["signed", "random", "auth-junk"]),
            junk=st.dictionaries(st.sampled_from(AUTH_HEADERS), HEADER_VALUE, max_size=6),
            query=st.sampled_from(["", "?a=1", "?" + "x" * 300]),
        )
        def one(body: bytes, mode: str, junk: dict, query: str) -> None:
            if mode == "signed":
                headers = signed(keys.validator, body, me, path=ROLLOUT_PATH + query)
            elif mode == "auth-junk":
                headers = {**signed(keys.validator, body, me), **junk}
            else:
                headers = junk
            headers.pop("Content-Length", None)  # a lying length is the server's to refuse
            response = http.post(ROLLOUT_PATH + query, content=body, headers=headers)
            assert response.status_code < 500 or response.status_code == 503, response.text
            if response.status_code != 200:
                ErrorBody.model_validate_json(response.content)

        one()
        assert http.get("/healthz").status_code == 200
        ok = post_task(http, keys.validator, me, task())
        assert ok.status_code == 200, ok.text
        metrics = http.get("/metrics").text
        assert 'status="500"' not in metrics


def test_lying_content_length_is_refused(serve, config, network):
    with serve(config) as http:
        for value in ("abc", "-5", str(math.inf)):
            response = http.post(ROLLOUT_PATH, content=b"{}", headers={"Content-Length": value})
            assert 400 <= response.status_code < 500
        assert http.get("/healthz").status_code == 200
