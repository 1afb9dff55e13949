"""Line-identification benchmark (issue 18, docs/method.md §9): truth, peer, speed, real data.

Parts (``part`` argument; ``all`` runs them in this order):

* ``mocks``: ``--n-mocks`` mixtures of 3–25 catalog species (``mixture_dataset``:
  bands 3/6/7 in turn, realistic noise, every third one with an interloper, a
  species in the spectrum left out of the candidates, plus 5 absent decoy
  candidates). Precision and recall of the identified species against the
  species with ≥ 3 lines above 5 σ; median |Δlog10 N_tot| of the correct ones.
  The first ``--n-peer`` mocks are also given, with the same candidate lists, to
  spectuner 2.0's line identification (peer venv of benchmarks/setup_peers.sh, run
  in a subprocess right after ours, on as many processes as we use Dask workers):
  precision/recall of both on those mocks and the wall-time ratio.
* ``catalog``: the whole catalog (the full offline catalog) as candidates on one
  spectrum of the G327 layout (3 windows, 8740 channels, docs/method.md §8; the
  central pixel of the synthetic G327 cube): the cold start (first call in this
  process) and the warm time.
* ``w3``: the real W3(H2O) NOEMA cube: identification of the peak pixel (brightest
  channel) with the whole catalog; the identified species, unknown lines, the
  fraction of observed peaks above 5 σ assigned, species at a bound; then
  ``fit_cube`` of the cube with the identified species as one joint model (χ², the
  identification's bound preset, the tie step in every pixel: ``tie=True``) and, per
  species, among the pixels with peak S/N > 10 where the species is detected (its own
  model peaks at ≥ 4 rms, ``CubeFitResult.detected``), the fraction where a parameter
  is at a bound, and the fraction where it is not detected.
* ``cold``: ``--n-cold`` cold-core mocks (5–10 K, 0.2–0.5 km/s, band 3, single dish)
  identified with the cold_core bound preset: precision and recall.

Per-mock results are appended to ``--workdir`` as they finish (JSON lines, keyed by
part, seed and mock index), so a stopped run resumes where it stopped. The summary
goes to benchmarks/results/bench_identify.json (merged per part) and a figure to
benchmarks/results/bench_identify.png.

Usage: python benchmarks/bench_identify.py [mocks|catalog|w3|cold|all] [--n-mocks 200]
       [--n-peer 20] [--n-cold 50] [--workers 2] [--quick] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "benchmarks" / "results" / "bench_identify.json"
PNG = RESULTS.with_suffix(".png")
sys.path.insert(0, str(HERE))
from bench_model import PEER_PYTHON  # noqa: E402

K_PER_CM1 = 1.438769
"""hc/k in K per cm⁻¹ (the peer's database stores E_low in cm⁻¹)."""
PEER_PF_TEMPERATURES = np.geomspace(1.072, 1000.0, 110)
"""Temperatures (K) of the partition-function columns of the peer's database; its reader
takes the columns PF_1_072 … PF_1000_000."""
G327_CHANNELS = (2902, 2902, 2936)
"""Channels per G327 window (8740 in all)."""
G327_SPECIES = ("CH3OH", "CH3OCHO", "H2CO", "OCS", "HNCO")
"""Species of the synthetic G327 spectrum of the ``catalog`` part."""


# ---------------------------------------------------------------- bookkeeping
def engine_digest() -> str:
    """SHA-256 (12 hex digits) of the engine's source: records of another engine are not reused."""
    digest = hashlib.sha256()
    for path in sorted((HERE.parent / "spectuner_nb").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Store:
    """Per-mock records of one part, appended as JSON lines (the resumable state).

    The file name carries ``key`` and (``engine=True``) :func:`engine_digest`, so a resumed
    run never mixes records of two settings or two versions of the engine. The peer's
    records do not depend on our engine: their store has no engine digest, and each record
    is keyed by :func:`peer_digest` of its inputs instead.
    """

    def __init__(self, workdir: Path, part: str, key: dict, *, engine: bool = True) -> None:
        key = {**key, "engine": engine_digest()} if engine else dict(key)
        tag = "_".join(f"{k}{v}" for k, v in sorted(key.items()))
        self.path = workdir / f"{part}_{tag}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                rec = json.loads(line)
                self.records[rec["id"]] = rec

    def get(self, rec_id: str) -> dict | None:
        return self.records.get(rec_id)

    def add(self, rec: dict) -> None:
        self.records[rec["id"]] = rec
        with self.path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")


def _client(n: int):
    """A LocalCluster client with n single-threaded workers (None for n ≤ 1: in process)."""
    if n <= 1:
        return None
    import dask
    from dask.distributed import Client, LocalCluster

    from spectuner_nb.cube.fit import WORKER_CONFIG

    with dask.config.set(WORKER_CONFIG):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    return Client(cluster)


def _close(client) -> None:
    if client is not None:
        cluster = client.cluster
        client.close()
        cluster.close()


def _canonical(catalog, names) -> list[str]:
    return [catalog.entry(n).name for n in names]


def _column(table, name: str) -> np.ndarray:
    col = table[name]
    return np.asarray(getattr(col, "value", col), dtype=float)


def _rates(records: list[dict], key: str = "score") -> dict:
    """Precision, recall and counts summed over mocks."""
    tot = {k: sum(r[key][k] for r in records) for k in ("tp", "fn", "fp", "weak")}
    found = tot["tp"] + tot["fp"]
    truth = tot["tp"] + tot["fn"]
    return {
        "precision": tot["tp"] / found if found else None,
        "recall": tot["tp"] / truth if truth else None,
        **tot,
        "n_mocks": len(records),
    }


# ---------------------------------------------------------------- ours on one mock
def run_ours(mix, catalog, client, bounds: str, workdir: Path) -> dict:
    """Identify one mock with spectuner_nb; the record of its score and parameters."""
    from spectuner_nb.identification import identify

    t0 = time.perf_counter()
    res = identify(
        mix.obs,
        mix.candidates,
        catalog=catalog,
        bounds=bounds,
        client=client,
        workdir=workdir,
        resume=False,
        progress=False,
    )
    wall = time.perf_counter() - t0
    found = _canonical(catalog, res.species)
    dlog = {}
    table = res.table()
    if len(table):
        n_fit = dict(
            zip(_canonical(catalog, table["species"]), _column(table, "N_tot"), strict=True)
        )
        for name in set(found) & set(mix.detectable):
            dlog[name] = float(np.log10(n_fit[name]) - np.log10(mix.mock.truth(name)[2]))
    return {
        "identified": found,
        "score": mix.score(found),
        "dlogN": dlog,
        "wall_s": wall,
        "n_peaks": int(res.n_peaks),
        "n_unknown": len(res.unknown),
        "message": res.message,
    }


# ---------------------------------------------------------------- the peer on one mock
def write_peer_db(path: Path, catalog, names, windows) -> None:
    """The candidates' transitions and Q(T) in the XCLASS SQLite layout the peer reads."""
    lo = min(w[0] for w in windows) - 50.0
    hi = max(w[1] for w in windows) + 50.0
    cols = ["PF_" + f"{t:.3f}".replace(".", "_") for t in PEER_PF_TEMPERATURES]
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        con.execute(
            "create table transitions (T_Name text, T_Frequency real, "
            "T_EinsteinA real, T_EnergyLower real, T_UpperStateDegeneracy real)"
        )
        con.execute(
            "create table partitionfunctions (PF_Name text, "
            + ", ".join(f"{c} real" for c in cols)
            + ")"
        )
        for name in names:
            ll = catalog.lines(name, [(lo, hi)], pad_kms=0.0)
            rows = zip(
                [name] * len(ll),
                np.asarray(ll.freq, float),
                np.asarray(ll.A_ul, float),
                np.asarray(ll.E_low, float) / K_PER_CM1,
                np.asarray(ll.g_u, float),
                strict=True,
            )
            con.executemany(
                "insert into transitions values (?, ?, ?, ?, ?)", [tuple(map(_py, r)) for r in rows]
            )
            marks = ", ".join("?" * (len(cols) + 1))
            con.execute(
                f"insert into partitionfunctions values ({marks})",
                [name, *map(float, ll.partition(PEER_PF_TEMPERATURES))],
            )


def _py(v):
    return v if isinstance(v, str) else float(v)


PEER_PARAM_INFO = {  # Table 1 in the peer's parametrisation: (is_log, lower, upper, special)
    "theta": (True, -3.0, -0.00043, "eta"),
    "T_ex": (False, 1.0, 1000.0, None),
    "N_tot": (True, 12.0, 22.0, None),
    "delta_v": (True, -0.5, 1.5, None),
    "v_offset": (False, -12.0, 12.0, None),
}


PEER_SCRIPT = HERE / "_peer_spectuner_identify.py"


def peer_digest(case: dict, db: Path) -> str:
    """SHA-256 (16 hex digits) of everything a peer run depends on: the case (spectrum,
    candidates, bounds, processes), the content of its line database and the peer script."""
    from spectuner_nb.catalog.starter import sha256_file

    keyed = {k: v for k, v in case.items() if k not in ("db", "result_dir")}
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode())
    digest.update(sha256_file(db).encode())
    digest.update(PEER_SCRIPT.read_bytes())
    return digest.hexdigest()[:16]


def run_peer(mix, catalog, workdir: Path, n_process: int, store: Store, i: int) -> dict:
    """Identify mock ``i`` with spectuner 2.0 in its venv; the record (or the error).

    The record is stored under ``peer{i}`` with :func:`peer_digest` of its inputs: a
    resumed run reuses it only for the same inputs, never a record of another mock, other
    candidates or another peer script."""
    if not PEER_PYTHON.exists():
        return {"id": f"peer{i}", "error": "peer venv missing: run bash benchmarks/setup_peers.sh"}
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "peer_db.sqlite"
    write_peer_db(db, catalog, mix.candidates, mix.obs.windows)
    obs = mix.obs
    case = {
        "freqs": [f.tolist() for f in obs.freqs],
        "intensities": [y.tolist() for y in obs.intensities],
        "rms": [float(r) for r in obs.rms],
        "T_bg": [float(t) for t in obs.T_bg],
        "beam": obs.beam if np.ndim(obs.beam) == 0 else [float(b) for b in obs.beam],
        "candidates": mix.candidates,
        "db": str(db),
        "param_info": PEER_PARAM_INFO,
        "n_process": n_process,
        "result_dir": str(workdir / "peer_result"),
    }
    digest = peer_digest(case, db)
    stored = store.get(f"peer{i}")
    if stored is not None and stored.get("digest") == digest:
        return stored
    case_path, out_path = workdir / "peer_case.json", workdir / "peer_out.json"
    case_path.write_text(json.dumps(case))
    out_path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(PEER_PYTHON), str(PEER_SCRIPT), str(case_path), str(out_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    rec = {"id": f"peer{i}", "digest": digest, "wall_s_process": wall}
    if proc.returncode != 0:
        rec["error"] = proc.stderr[-1500:]
    else:
        found = _canonical(catalog, json.loads(out_path.read_text())["identified"])
        rec.update(
            {
                "identified": found,
                "score": mix.score(found),
                "wall_s": json.loads(out_path.read_text())["wall_s"],
            }
        )
    store.add(rec)
    return rec


# ---------------------------------------------------------------- parts
def bench_mocks(args, catalog, client, workdir: Path) -> dict:
    from spectuner_nb.mock import mixture_case

    store = Store(workdir, "mocks", {"seed": args.seed})
    peer_store = Store(workdir, "peer", {"seed": args.seed}, engine=False)
    ours, peer = [], []
    for i in range(args.n_mocks):
        rec = store.get(f"ours{i}")
        mix = (
            mixture_case(i, seed=args.seed, catalog=catalog)
            if rec is None or i < args.n_peer
            else None
        )
        if rec is None:
            rec = {
                "id": f"ours{i}",
                "band": mix.mock.band,
                "n_species": len(mix.mock.species),
                "n_candidates": len(mix.candidates),
                "interloper": mix.interloper,
                "n_detectable": len(mix.detectable),
                **run_ours(mix, catalog, client, "auto", workdir / f"ours{i}"),
            }
            store.add(rec)
        ours.append(rec)
        if i < args.n_peer:
            peer.append(
                run_peer(mix, catalog, workdir / f"peer{i}", max(args.workers, 1), peer_store, i)
            )
        s = rec["score"]
        print(
            f"mock {i}: band {rec['band']}, {rec['n_species']} species, "
            f"{rec['n_detectable']} detectable; ours tp {s['tp']} fn {s['fn']} fp {s['fp']} "
            f"in {rec['wall_s']:.1f} s"
            + (
                f"; peer {peer[-1].get('score')} in {peer[-1].get('wall_s', float('nan')):.1f} s"
                if i < args.n_peer
                else ""
            ),
            flush=True,
        )
    dlog = np.abs([v for r in ours for v in r["dlogN"].values()])
    out = {
        "ours": _rates(ours),
        "median_abs_dlogN_dex": float(np.median(dlog)) if dlog.size else None,
        "n_params": int(dlog.size),
        "wall_s_median": float(np.median([r["wall_s"] for r in ours])),
        "wall_s_total": float(np.sum([r["wall_s"] for r in ours])),
        "with_interloper": _rates([r for r in ours if r["interloper"]]),
        "per_band": {str(b): _rates([r for r in ours if r["band"] == b]) for b in (3, 6, 7)},
    }
    ok_peer = [r for r in peer if "error" not in r]
    if peer:
        same = [ours[i] for i, r in enumerate(peer) if "error" not in r]
        out["peer"] = {
            "spectuner_2.0": _rates(ok_peer) if ok_peer else None,
            "ours_same_mocks": _rates(same) if same else None,
            "n_failed": len(peer) - len(ok_peer),
            "errors": sorted({r["error"][-300:] for r in peer if "error" in r})[:3],
        }
        if ok_peer:
            t_ours = float(np.sum([r["wall_s"] for r in same]))
            t_peer = float(np.sum([r["wall_s"] for r in ok_peer]))
            out["peer"].update(
                {
                    "wall_s_ours": t_ours,
                    "wall_s_peer": t_peer,
                    "time_ratio_peer_over_ours": t_peer / t_ours,
                }
            )
    out["records"] = {"ours": ours, "peer": peer}
    return out


def _g327_observation(workdir: Path):
    """The central pixel of the synthetic G327 cube (written to ``workdir``, read back)."""
    from spectuner_nb.cube import make_synthetic_cube
    from spectuner_nb.cube.synthetic import G327_WINDOWS_MHZ
    from spectuner_nb.observation import Observation

    synth = make_synthetic_cube(
        list(G327_SPECIES),
        windows_mhz=G327_WINDOWS_MHZ,
        n_channels=list(G327_CHANNELS),
        shape=(5, 5),
        seed=0,
    )
    files = synth.write(workdir / "g327")
    return Observation.from_cube_pixel(
        [str(f) for f in files["cubes"]], 2, 2, T_bg=synth.cubes.t_background(2, 2)[0]
    )


def bench_catalog(catalog, client, workdir: Path) -> dict:
    from spectuner_nb.identification import identify

    obs = _g327_observation(workdir)
    times, results = [], []
    for run in ("cold", "warm"):
        t0 = time.perf_counter()
        res = identify(
            obs,
            None,
            catalog=catalog,
            client=client,
            workdir=workdir / run,
            resume=False,
            progress=False,
        )
        times.append(time.perf_counter() - t0)
        results.append(res)
        print(f"whole catalog, G327 layout, {run}: {times[-1]:.1f} s, {res.species}", flush=True)
    truth = set(_canonical(catalog, G327_SPECIES))
    found = set(_canonical(catalog, results[-1].species))
    return {
        "n_channels": int(obs.n_channels),
        "n_catalog_species": len(catalog.species()),
        "cold_s": times[0],
        "warm_s": times[1],
        "identified": sorted(found),
        "truth": sorted(truth),
        "missed": sorted(truth - found),
        "extra": sorted(found - truth),
        "n_peaks": int(results[-1].n_peaks),
        "n_unknown": len(results[-1].unknown),
    }


def _w3_cubes():
    from spectuner_nb.cube import load_cubes
    from spectuner_nb.policy.training.dataset import W3H2O_FILE, W3H2O_VLSR_KMS
    from spectuner_nb.settings import shared_data_dir

    path = shared_data_dir() / W3H2O_FILE
    cubes = load_cubes(path, v_lsr=W3H2O_VLSR_KMS)
    cubes.header["OBJECT"] = "W3(H2O)"
    return path, cubes


def bench_w3(catalog, client, workdir: Path, n_init: int) -> dict:
    from spectuner_nb.cube.results import DETECTION_SIGMA
    from spectuner_nb.identification import identify
    from spectuner_nb.observation import Observation
    from spectuner_nb.parameters import at_bound

    path, cubes = _w3_cubes()
    x, y = cubes.peak_pixel()
    obs = Observation.from_cube_pixel(path, x, y, v_lsr=cubes.v_lsr)
    t0 = time.perf_counter()
    res = identify(
        obs,
        None,
        catalog=catalog,
        client=client,
        workdir=workdir / "identify",
        resume=False,
        progress=False,
    )
    t_id = time.perf_counter() - t0
    table = res.table()
    lines = res.lines
    rms = float(np.max(obs.rms))
    strong = _column(lines, "T_peak") > 5.0 * rms
    assigned = np.array([bool(str(s).strip()) for s in lines["species"]])
    at_edge = (
        {}
        if res.fit is None
        else dict(
            zip(
                res.fit.species,
                np.asarray(res.fit.at_bound, bool)
                .reshape(len(res.fit.species), -1)
                .any(axis=1)
                .tolist(),
                strict=True,
            )
        )
    )
    out = {
        "pixel": [x, y],
        "v_lsr_kms": cubes.v_lsr,
        "rms_k": rms,
        "identify_s": t_id,
        "identified": list(res.species),
        "n_peaks": int(res.n_peaks),
        "n_unknown": len(res.unknown),
        "unknown_mhz": [float(f) for f in _column(res.unknown, "freq")],
        "frac_peaks_5sigma_assigned": float(assigned[strong].mean()) if strong.any() else None,
        "n_peaks_5sigma": int(strong.sum()),
        "species_at_bound": [s for s, hit in at_edge.items() if hit],
        "table": {
            str(r["species"]): {
                "T_ex": float(_column(table, "T_ex")[k]),
                "log10_N": float(np.log10(_column(table, "N_tot")[k])),
            }
            for k, r in enumerate(table)
        },
    }
    print(json.dumps({k: v for k, v in out.items() if k != "table"}, indent=1), flush=True)
    if not res.species:
        return out
    preset, bnds = res.settings["preset"], np.asarray(res.settings["bounds"])
    t0 = time.perf_counter()
    maps = res.fit_cube(
        cubes,
        init="policy",
        n_init=n_init,
        client=client if client is not None else False,
        workdir=workdir / "fit_cube",
        resume=True,
        progress=False,
    )
    out["fit_cube_s"] = time.perf_counter() - t0
    fitted = (maps.flags & 3) == 0
    ny, nx = cubes.shape
    iy, ix = np.mgrid[:ny, :nx]
    peak = np.max([s.max(axis=1) for s in cubes.spectra(iy.ravel(), ix.ravel())], axis=0).reshape(
        ny, nx
    )
    rms = _rms_windows(cubes)
    snr = peak / float(np.max(rms))
    bright = fitted & (snr > 10)
    detected = maps.detected(cubes, rms)
    frac, frac_all, undetected = {}, {}, {}
    for k, name in enumerate(maps.species):
        hit = at_bound(maps.x[..., k, :], bnds).any(axis=-1)
        seen = bright & detected[k]
        frac[name] = float(hit[seen].mean()) if seen.any() else None
        frac_all[name] = float(hit[bright].mean()) if bright.any() else None
        undetected[name] = float(1.0 - seen.sum() / bright.sum()) if bright.any() else None
    out.update(
        {
            "fit_cube_preset": preset,
            "n_pixels_fitted": int(fitted.sum()),
            "n_pixels_snr10": int(bright.sum()),
            "detection_sigma": DETECTION_SIGMA,
            "frac_snr10_at_bound": frac,
            "fit_cube_tie": True,
            "frac_snr10_not_detected": undetected,
            "frac_snr10_at_bound_incl_not_detected": frac_all,
            "median_chi2_snr10": float(np.nanmedian(maps.chi2[bright])) if bright.any() else None,
        }
    )
    print(
        json.dumps(
            {"at_bound (detected)": frac, "not detected": undetected, "at_bound (all)": frac_all},
            indent=1,
        ),
        flush=True,
    )
    return out


def _rms_windows(cubes) -> np.ndarray:
    """Noise per window (K): the windows' global sigma-clipped rms."""
    from spectuner_nb.cube import PreprocessConfig, preprocess

    pre = preprocess(cubes, PreprocessConfig(), cache=False)
    return np.asarray(pre.rms_global, float)


def bench_cold(args, catalog, client, workdir: Path) -> dict:
    from spectuner_nb.mock import mixture_case

    store = Store(workdir, "cold", {"seed": args.seed})
    recs = []
    for i in range(args.n_cold):
        rec = store.get(f"cold{i}")
        if rec is None:
            mix = mixture_case(i, seed=args.seed, regime="cold-core", catalog=catalog)
            rec = {
                "id": f"cold{i}",
                "n_species": len(mix.mock.species),
                "interloper": mix.interloper,
                "n_detectable": len(mix.detectable),
                **run_ours(mix, catalog, client, "cold_core", workdir / f"cold{i}"),
            }
            store.add(rec)
        recs.append(rec)
        print(
            f"cold {i}: {rec['n_detectable']} detectable, {rec['score']}, {rec['wall_s']:.1f} s",
            flush=True,
        )
    dlog = np.abs([v for r in recs for v in r["dlogN"].values()])
    return {
        "ours": _rates(recs),
        "preset": "cold_core",
        "median_abs_dlogN_dex": float(np.median(dlog)) if dlog.size else None,
        "wall_s_median": float(np.median([r["wall_s"] for r in recs])),
        "records": recs,
    }


# ---------------------------------------------------------------- figure
def plot(saved: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    bars = []
    mocks = saved.get("mocks", {})
    for label, rates in (
        ("mocks", mocks.get("ours")),
        ("ours,\npeer set", (mocks.get("peer") or {}).get("ours_same_mocks")),
        ("spectuner 2.0,\npeer set", (mocks.get("peer") or {}).get("spectuner_2.0")),
        ("cold core", saved.get("cold", {}).get("ours")),
    ):
        if rates and rates.get("precision") is not None:
            bars.append(
                (f"{label}\n(n={rates['n_mocks']})", rates["precision"], rates["recall"] or 0.0)
            )
    ax = axes[0]
    if bars:
        pos = np.arange(len(bars))
        ax.bar(pos - 0.2, [b[1] for b in bars], 0.4, label="precision")
        ax.bar(pos + 0.2, [b[2] for b in bars], 0.4, label="recall")
        ax.set_xticks(pos, [b[0] for b in bars], fontsize=7)
    ax.axhline(0.95, color="k", lw=0.8, ls="--")
    ax.set_ylim(0, 1.05)
    ax.set_title("species with ≥ 3 lines > 5σ")
    ax.legend(fontsize=8)
    ax = axes[1]
    dlog = [v for r in mocks.get("records", {}).get("ours", []) for v in r["dlogN"].values()]
    if dlog:
        ax.hist(np.clip(dlog, -1, 1), bins=40)
    ax.axvline(-0.1, color="k", lw=0.8, ls="--")
    ax.axvline(0.1, color="k", lw=0.8, ls="--")
    ax.set_xlabel("Δ log10 N_tot of correct species (dex, clipped at ±1)")
    med = mocks.get("median_abs_dlogN_dex")
    ax.set_title("median |Δ| = " + ("n/a" if med is None else f"{med:.3f} dex"))
    ax = axes[2]
    frac = saved.get("w3", {}).get("frac_snr10_at_bound") or {}
    if frac:
        names = list(frac)
        ax.barh(np.arange(len(names)), [frac[n] or 0.0 for n in names])
        ax.set_yticks(np.arange(len(names)), [n.split(";")[0] for n in names], fontsize=7)
        ax.axvline(0.05, color="k", lw=0.8, ls="--")
    ax.set_xlabel("fraction of S/N > 10 pixels at a bound")
    ax.set_title("W3(H2O): joint χ² map of the identified species")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "part", nargs="?", default="all", choices=("mocks", "catalog", "w3", "cold", "all")
    )
    ap.add_argument("--n-mocks", type=int, default=200)
    ap.add_argument("--n-peer", type=int, default=20, help="mocks also given to spectuner 2.0")
    ap.add_argument("--n-cold", type=int, default=50)
    ap.add_argument("--n-init", type=int, default=50, help="fit_cube initial samples (w3)")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers and peer processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: 6 mocks, 2 for the peer, 3 cold cores"
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench_identify_work",
        help="per-mock records and work folders (resumable)",
    )
    args = ap.parse_args()
    if args.quick:
        args.n_mocks, args.n_peer, args.n_cold = 6, 2, 3
    from spectuner_nb.catalog import default_cache

    catalog = default_cache(full=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved["machine"] = {
        "cpu_count": os.cpu_count(),
        "workers": args.workers,
        "note": "2 cores shared with other jobs",
    }
    client = _client(args.workers)
    parts = ("mocks", "catalog", "w3", "cold") if args.part == "all" else (args.part,)
    cmd = " ".join(["python benchmarks/bench_identify.py", *sys.argv[1:]])
    try:
        for part in parts:
            t0 = time.perf_counter()
            if part == "mocks":
                saved[part] = bench_mocks(args, catalog, client, args.workdir / "mocks")
            elif part == "catalog":
                saved[part] = bench_catalog(catalog, client, args.workdir / "catalog")
            elif part == "w3":
                saved[part] = bench_w3(catalog, client, args.workdir / "w3", args.n_init)
            else:
                saved[part] = bench_cold(args, catalog, client, args.workdir / "cold")
            saved[part]["command"] = cmd
            saved[part]["part_wall_s"] = time.perf_counter() - t0
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            latest = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            saved = {**latest, "machine": saved["machine"], part: saved[part]}  # other runs' parts
            RESULTS.write_text(json.dumps(saved, indent=1))
            summary = {k: v for k, v in saved[part].items() if k != "records"}
            print(part, json.dumps(summary, indent=1), flush=True)
    finally:
        _close(client)
    plot(json.loads(RESULTS.read_text()) if RESULTS.exists() else saved, PNG)
    print(f"saved {RESULTS} and {PNG}")


if __name__ == "__main__":
    main()
