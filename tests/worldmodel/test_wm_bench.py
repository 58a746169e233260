from __future__ import annotations

from wmnet.bench.rollout import run_bench


def test_bench_reports_every_variant():
    res = run_bench(device="cpu", contexts=2, context=2, horizon=3, skip=("+bf16",))
    names = [v["name"] for v in res["variants"]]
    assert names == [
        "naive",
        "+kv_cache",
        "+batching",
        "+sparse",
        "+int8",
        "combined-dense",
        "combined",
    ]
    naive = res["variants"][0]
    assert naive["speedup"] == 1.0 and naive["error_increase_pct"] == 0.0
    assert all(v["frames_per_s"] > 0 and v["flops_per_frame"] > 0 for v in res["variants"])
    assert res["speedup"] == res["variants"][-1]["speedup"]
    assert res["trained_model"] and res["model_id"]
