#!/usr/bin/env python3
"""`imgengine search "text"` end to end, as whole processes, on a large catalog: ONNX text tower vs torch.

    python benchmarks/bench_search_cli.py [--photos 100000] [--runs 5] [--tiny]

Builds a random-weight CLIP (ViT-B/32 shapes unless ``--tiny``: the speed does not depend on the
weights), analyses a few real JPEGs with it through the product, then copies their rows to ``--photos``
catalogued photos with random embeddings. Times the console script ``imgengine search "..." --json``:
the first call (which builds the search store next to the catalog), then steady calls with the torch
text path (no export) and with the ONNX export (``imgengine models export-text``), wall and CPU time.
Target: <= 0.5 s end to end on 100k photos. Also prints the in-process embedding time of one query.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from imgengine.analyzers.vision.embedding import decode_embedding, encode_embedding  # noqa: E402
from imgengine.testing.models import build_clip  # noqa: E402
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene  # noqa: E402

QUERY = "a dog on the beach at sunset"


def script() -> list[str]:
    exe = Path(sys.executable).with_name("imgengine")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "imgengine.cli.app"]


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([*script(), *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"imgengine {' '.join(args)} failed: {p.stderr.strip()}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall * 1000, cpu * 1000, json.loads(p.stdout) if p.stdout.startswith("{") else {}


def grow_catalog(db: Path, n: int, dim: int) -> None:
    """Copies of the analysed rows up to ``n`` photos, each with its own random unit embedding."""
    con = sqlite3.connect(db)
    photo = con.execute("SELECT * FROM photos WHERE status = 'ok' LIMIT 1").fetchone()
    cols = [d[0] for d in con.execute("SELECT * FROM photos LIMIT 0").description]
    results = con.execute("SELECT analyzer, version, data, error, updated_at FROM results WHERE photo_id = ?",
                          (photo[0],)).fetchall()
    have = con.execute("SELECT count(*) FROM photos").fetchone()[0]
    rng = np.random.default_rng(0)
    start = con.execute("SELECT max(id) FROM photos").fetchone()[0] + 1
    with con:
        for base in range(0, n - have, 10_000):
            rows, res = [], []
            for i in range(base, min(n - have, base + 10_000)):
                pid = start + i
                row = dict(zip(cols, photo, strict=True))
                row.update(id=pid, path=f"/bench/photos/{pid:07d}.jpg".encode(),
                           display_path=f"/bench/photos/{pid:07d}.jpg")
                rows.append(tuple(row[c] for c in cols))
                for analyzer, version, data, error, updated in results:
                    if analyzer == "clip" and data:
                        d = json.loads(data)
                        d["embedding"] = encode_embedding(rng.standard_normal(dim).astype(np.float32))
                        data = json.dumps(d)
                    res.append((pid, analyzer, version, data, error, updated))
            con.executemany(f"INSERT INTO photos ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
            con.executemany("INSERT INTO results (photo_id, analyzer, version, data, error, updated_at) "
                            "VALUES (?,?,?,?,?,?)", res)
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tiny", action="store_true", help="a tiny CLIP (fast to build; text tower speed differs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_search_cli_"))
    try:
        t = time.perf_counter()
        clip = build_clip(work / "clip", real_size=not args.tiny)
        env = {**os.environ, "HOME": str(work), "IMGENGINE_CLIP_MODEL": str(clip),
               "IMGENGINE_DETR_MODEL": "absent/detr", "IMGENGINE_MODELS_DIR": str(work / "models"),
               "IMGENGINE_LOG_DIR": str(work / "logs"), "IMGENGINE_DEVICE": "cpu"}
        photos = work / "photos"
        photos.mkdir()
        for i in range(4):
            (photos / f"IMG_{i}.jpg").write_bytes(jpeg_bytes(scene(640, 480, seed=i), camera_exif(), 85))
        subprocess.run([*script(), "analyze", str(photos), "-q"], env=env, check=True)
        db = photos / ".imgengine" / "catalog.db"
        con = sqlite3.connect(db)
        dim = len(decode_embedding(json.loads(con.execute(
            "SELECT data FROM results WHERE analyzer = 'clip' AND data IS NOT NULL").fetchone()[0])["embedding"]))
        con.close()
        grow_catalog(db, args.photos, dim)
        print(f"{'tiny' if args.tiny else 'ViT-B/32'} CLIP (random weights), catalog of {args.photos:,} photos "
              f"with {dim}-d embeddings, built in {time.perf_counter() - t:.0f}s; {os.cpu_count()} cores, load "
              f"average {os.getloadavg()[0]:.1f}")
        query = ["search", QUERY, "--catalog", str(db), "--json", "--limit", "20"]
        wall, cpu, doc = run(query, env)
        print(f"first search (builds the store, torch text path):   {wall:7.0f} ms wall {cpu:7.0f} ms cpu")
        rows = {}
        for label in ("torch", "onnx"):
            if label == "onnx":
                subprocess.run([*script(), "models", "export-text"], env=env, check=True, stdout=subprocess.DEVNULL)
            times = [run(query, env) for _ in range(args.runs)]
            assert all(d["info"]["text_encoder"] == label for _, _, d in times), label
            rows[label] = [d["results"] for _, _, d in times][0]
            walls = [w for w, _, _ in times]
            cpus = [c for _, c, _ in times]
            print(f"search, {label} text path ({args.runs} runs): wall best {min(walls):6.0f} ms median "
                  f"{statistics.median(walls):6.0f} ms, cpu best {min(cpus):6.0f} ms median "
                  f"{statistics.median(cpus):6.0f} ms  (target <= 500 ms)")
        same = [r["path"] for r in rows["torch"]] == [r["path"] for r in rows["onnx"]]
        print(f"top-20 identical between the two text paths: {same}")
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from imgengine.search.query import ClipEncoder
        from imgengine.search.text_encoder import text_encoder
        from imgengine.settings import load_settings

        s = load_settings(environ=env)
        for label, enc in (("onnx", text_encoder(s)[0]), ("torch", ClipEncoder(s))):
            enc.text("warm-up")
            t = time.perf_counter()
            for i in range(10):
                enc.text(f"{QUERY} {i}")
            print(f"one query embedding in process, {label:5s}: {(time.perf_counter() - t) / 10 * 1000:6.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
