"""bench/bench_recovery.py's pykan cache and recovery table (part c): pykan's runs take minutes
each, so its column is measured once and read back; these tests keep that bookkeeping honest
(a run recorded in one process is not lost by another, the table compares ours with pykan on
the runs both made, a crash names pykan's frames, the committed cache is well formed)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def br():
    spec = importlib.util.spec_from_file_location(
        "bench_recovery", ROOT / "bench/bench_recovery.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    return mod


def _rec(impl: str, problem: str, noise: float, seed: int, ok: bool, formula: str = "x_1") -> dict:
    err = None if formula.startswith("error") else (1e-6 if ok else 0.5)
    return dict(
        impl=impl, problem=problem, noise=noise, seed=seed, err=err, ok=ok, formula=formula,
        seconds=10.0,
    )  # fmt: skip


def test_cache_update_keeps_what_another_process_wrote(br, tmp_path):
    path = str(tmp_path / "c.json")
    br._cache_update(path, {"a": 1.0})
    br._cache_update(path, {"b": 2.0})  # a second process, whose copy never saw "a"
    assert json.loads(Path(path).read_text()) == {"a": 1.0, "b": 2.0}


def test_pykan_cache_round_trip(br, tmp_path):
    pytest.importorskip("kan")  # the cache records pykan's installed version
    path = str(tmp_path / "rec.json")
    p = br.problems()[1]
    br._pykan_cache_add(path, [_rec("pykan", p.name.strip(), 0.01, 3, True, "x_1*x_2")])
    cache = json.loads(Path(path).read_text())
    assert cache["_about"]["pykan"]
    got = br._pykan_cached(path, p, 0.01, 3)
    assert got is not None and got["ok"] and got["formula"] == "x_1*x_2" and got["cached"]
    assert br._pykan_cached(path, p, 0.0, 3) is None  # another noise level was not run
    assert br._pykan_cached(path, p, 0.01, 4) is None


def test_table_compares_on_the_runs_both_made(br, tmp_path, capsys):
    pytest.importorskip("kan")
    names = [p.name.strip() for p in br.problems()]
    ours = tmp_path / "ours.jsonl"
    runs = [_rec("ours", names[0], 0.0, s, True) for s in range(3)]
    runs += [_rec("ours", names[1], 0.0, 0, False)]
    ours.write_text("".join(json.dumps(r) + "\n" for r in runs))
    pk = tmp_path / "pk.jsonl"
    crash = "error UnboundLocalError: boom in pykan's fit() at spline.py:131 in curve2coef"
    pk_runs = [_rec("pykan", names[0], 0.0, 0, False, crash), _rec("pykan", names[1], 0.0, 0, True)]
    pk.write_text("".join(json.dumps(r) + "\n" for r in pk_runs))
    cache = str(tmp_path / "rec.json")
    br.print_table([str(ours), str(pk)], cache)
    out = capsys.readouterr().out
    # pykan's jsonl runs went into the cache; a table from ours alone still shows them
    br.print_table([str(ours)], cache)
    again = capsys.readouterr().out
    assert again == out
    assert "ours: 3/4 = 75% recovered" in out
    assert "pykan: 1/2 = 50% recovered, 1 crashed" in out
    assert "on the 2 runs both made: ours 1/2 = 50%, pykan 1/2 = 50% (1.0x" in out
    assert "UnboundLocalError: boom in pykan's fit()" in out


def test_table_says_when_pykan_recovered_none(br, tmp_path, capsys):
    name = br.problems()[0].name.strip()
    f = tmp_path / "both.jsonl"
    runs = [_rec("ours", name, 0.0, 0, True), _rec("pykan", name, 0.0, 0, False)]
    f.write_text("".join(json.dumps(r) + "\n" for r in runs))
    br.print_table([str(f)])
    assert "pykan recovered none: no finite ratio" in capsys.readouterr().out


def test_pykan_frames_start_inside_pykan(br):
    code = compile("def curve2coef():\n    return coef\n", "/site-packages/kan/spline.py", "exec")
    scope: dict = {}
    exec(code, scope)
    with pytest.raises(NameError) as info:
        scope["curve2coef"]()
    assert br._pykan_frames(info.value) == "spline.py:2 in curve2coef"


def test_committed_pykan_cache_is_well_formed(br):
    path = ROOT / "bench/pykan_recovery.json"
    if not path.exists():
        pytest.skip("no committed pykan recovery cache")
    cache = json.loads(path.read_text())
    assert cache["_about"]["pykan"] == "0.2.8" and cache["_about"]["how"]
    names = {p.name.strip() for p in br.problems()}
    for key, rec in cache.items():
        if key == "_about":
            continue
        name, noise, seed = key.rsplit("|", 2)
        assert name in names and float(noise) in (0.0, 0.01) and int(seed) >= 0, key
        tol = 1e-3 if float(noise) == 0 else 2e-2
        err = math.inf if rec["err"] is None else rec["err"]
        assert rec["ok"] == (err < tol), key
        assert rec["err"] is not None or rec["formula"].startswith("error"), key
