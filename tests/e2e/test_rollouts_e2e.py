"""End to end on wmnet's chain: one validator, three honest miners (fp32, bf16, int8)
and three cheaters, each its own process on loopback. After a few tempos the chain's
incentive goes to the honest miners and every cheater's is 0."""

from __future__ import annotations

import json

import pytest

from wmnet.harness.local_subnet import LocalSubnet, MinerSpec
from wmnet.harness.processes import ProcessGroup

pytestmark = pytest.mark.slow

SPECS = [
    MinerSpec(precisions="fp32", record=True),
    MinerSpec(precisions="bf16"),
    MinerSpec(precisions="int8"),
    MinerSpec(cheat="random"),
    MinerSpec(cheat="fake10"),
    MinerSpec(cheat="replay", replay_from=0),  # serves miner 0's recorded answers
]
HONEST, CHEATERS = range(3), range(3, 6)


def test_incentive_goes_to_honest_miners_only(tmp_path):
    with ProcessGroup(tmp_path / "logs", grace_s=5.0) as group:
        net = LocalSubnet(group, tmp_path)
        net.start_chain()
        net.create_subnet(len(SPECS))
        net.start_miners(SPECS)
        net.start_validator(["--round-interval", "0.5", "--horizons", "16", "--seed", "1"])
        uids = net.miner_uids()

        def settled() -> bool:
            graph = net.metagraph()
            incentive = [graph.neuron(u).incentive for u in uids]
            return all(incentive[i] > 0 for i in HONEST) and all(
                incentive[i] == 0 for i in CHEATERS
            )

        # Permits come with the first epoch after staking, weights once per tempo, and
        # incentive with the epoch after that: a few tempos of 10 blocks at 0.25 s.
        ok = net.wait_until(settled, timeout_s=240, poll_s=2.0)
        graph = net.metagraph()
        incentive = {i: graph.neuron(u).incentive for i, u in enumerate(uids)}
        assert ok, f"incentive by miner index: {incentive}\n{net.validator.tail(40)}"
        # Stays so for another tempo: the cheaters keep failing, the honest keep passing.
        net.wait_until(lambda: False, timeout_s=graph.tempo * 0.25 + 1, poll_s=1.0)
        assert settled(), net.validator.tail(40)

        events = [
            json.loads(line)
            for line in (tmp_path / "validator" / "usage.jsonl").read_text().splitlines()
        ]
        by_uid: dict[int, list[bool]] = {}
        for e in events:
            if e["kind"] != "usage":
                continue
            by_uid.setdefault(e["miner_uid"], []).append(e["verified"])
        for i in CHEATERS:
            assert not any(by_uid.get(uids[i], [])), f"cheater {i} passed a check"
        for i in HONEST:
            assert by_uid.get(uids[i]) and all(by_uid[uids[i]]), f"honest {i} was rejected"
