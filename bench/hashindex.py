"""HashIndex lookup speed and memory at 100k, 1M and 10M rows (run by hand, a few minutes).

    .venv/bin/python bench/hashindex.py [--sizes 100000,1000000,10000000] [--queries 300]

Rows are random (64-bit pHash, 256-bit PDQ), loaded the way the app loads the database: in
batches of 100k hex strings through `HashIndex.add_hex`. Half the queries are stored rows with
8 pHash bits and 24 PDQ bits flipped (a real match), half are random (no match). Per size:

- faiss IndexBinaryFlat (what HashIndex uses): exhaustive radius search + PDQ confirmation;
- a plain numpy scan over the same rows (XOR + popcount over a uint64 array, same confirmation);
- faiss IndexBinaryMultiHash (4 tables of 16 bits, 4 flips: exact for radius <= 19), the
  hash-based alternative, pHash stage only.

One core: OMP_NUM_THREADS=1 is set before faiss and numpy load. Random codes spread evenly;
real pHashes cluster, which gives the exact scan the same cost but hash tables fuller buckets,
and the PDQ confirmation more candidates (the last line times a lookup with 10k candidates).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before faiss/numpy start their thread pools

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cara import hashindex as hx  # noqa: E402

BATCH = 100_000


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def flip_bits(rng: np.random.Generator, code: np.ndarray, nbits: int) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(bits.size, nbits, replace=False)] ^= 1
    return np.packbits(bits)


def timed(fn, queries) -> np.ndarray:
    out = []
    for q in queries:
        t = time.perf_counter_ns()
        fn(q)
        out.append((time.perf_counter_ns() - t) / 1e6)
    return np.array(out)


def fmt_row(n, path, build_s, index_mb, rss_mb_, t: np.ndarray | None, ratio="") -> str:
    med = f"{np.median(t):9.3f}" if t is not None else f"{'-':>9s}"
    p95 = f"{np.percentile(t, 95):8.3f}" if t is not None else f"{'-':>8s}"
    return (
        f"{n:>10,d}  {path:28s} {build_s:8.2f} {index_mb:9.1f} {rss_mb_:9.1f} {med} {p95} "
        f"{ratio:>7s}"
    )


def bench_size(n: int, n_queries: int, rng: np.random.Generator) -> None:
    faiss.omp_set_num_threads(1)
    phash = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    pdq = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    ids = np.arange(1, n + 1, dtype=np.int64)

    # Queries: half near a stored row, half random.
    queries = []
    for k in range(n_queries):
        if k % 2 == 0:
            j = int(rng.integers(n))
            p, q = flip_bits(rng, phash[j], 8), flip_bits(rng, pdq[j], 24)
        else:
            p = rng.integers(0, 256, 8, dtype=np.uint8)
            q = rng.integers(0, 256, 32, dtype=np.uint8)
        queries.append(hx.ImageHashes(int.from_bytes(p.tobytes(), "big"), q.tobytes(), 100))

    # --- HashIndex (faiss IndexBinaryFlat + numpy PDQ), loaded from hex like the DB rows.
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    index = hx.HashIndex()
    for s in range(0, n, BATCH):
        e = min(n, s + BATCH)
        ph = phash[s:e].tobytes().hex()
        pq = pdq[s:e].tobytes().hex()
        index.add_hex(
            ids[s:e].tolist(),
            [ph[i : i + 16] for i in range(0, len(ph), 16)],
            [pq[i : i + 64] for i in range(0, len(pq), 64)],
        )
    build = time.perf_counter() - t0
    rss = rss_mb() - before
    hits = sum(bool(index.search(q)) for q in queries)
    t_flat = timed(index.search, queries)
    print(fmt_row(n, "HashIndex (faiss flat)", build, index.nbytes / 2**20, rss, t_flat))

    # --- plain numpy scan over the same rows.
    t0 = time.perf_counter()
    p64 = phash.view(">u8").reshape(-1).astype(np.uint64)
    build = time.perf_counter() - t0
    rp, rq = hx.PHASH_RADIUS, hx.PDQ_RADIUS

    def numpy_search(q: hx.ImageHashes) -> list[int]:
        cand = np.flatnonzero(np.bitwise_count(p64 ^ np.uint64(q.phash)) <= rp)
        d = np.bitwise_count(pdq[cand] ^ np.frombuffer(q.pdq, dtype=np.uint8)).sum(axis=1)
        return ids[cand[d <= rq]].tolist()

    np_hits = sum(bool(numpy_search(q)) for q in queries)
    assert np_hits == hits, (np_hits, hits)
    t_np = timed(numpy_search, queries)
    ratio = f"{np.median(t_np) / np.median(t_flat):.1f}x"
    print(fmt_row(n, "numpy XOR+popcount scan", build, (p64.nbytes + pdq.nbytes) / 2**20, 0, t_np, ratio))
    del p64

    # --- faiss IndexBinaryMultiHash, pHash stage only (exact at our radius: 4 x 16-bit
    # tables, 4 flips each; pigeonhole: distance <= 19 leaves one table within 4 flips).
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    mh = faiss.IndexBinaryMultiHash(64, 4, 16)
    mh.nflip = 4
    mh.add(phash)
    build = time.perf_counter() - t0
    rss = rss_mb() - before
    codes = [np.frombuffer(q.phash.to_bytes(8, "big"), dtype=np.uint8)[None] for q in queries]
    t_mh = timed(lambda c: mh.range_search(c, rp + 1), codes)
    ratio = f"{np.median(t_mh) / np.median(t_flat):.1f}x"
    print(fmt_row(n, "faiss MultiHash 4x16 (pHash)", build, n * 8 / 2**20, rss, t_mh, ratio))
    del mh
    gc.collect()

    # --- a lookup whose pHash radius holds 10k rows (clustered real data): confirmation cost.
    if n >= 1_000_000:
        base = queries[0]
        near = []
        for _ in range(10_000):
            p = flip_bits(rng, np.frombuffer(base.phash.to_bytes(8, "big"), np.uint8), 6)
            near.append(hx.ImageHashes(int.from_bytes(p.tobytes(), "big"), base.pdq, 100))
        index.add(list(range(n + 1, n + 1 + len(near))), near)
        t_c = timed(index.search, [base] * 50)
        print(fmt_row(n, "  same, 10k candidates", 0, index.nbytes / 2**20, 0, t_c))
    print(f"{'':12s}({hits}/{len(queries)} queries matched)")
    del index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    rng = np.random.default_rng(20240601)
    print(
        f"faiss {faiss.__version__}, numpy {np.__version__}, OMP threads "
        f"{faiss.omp_get_max_threads()}, radii pHash <= {hx.PHASH_RADIUS}, "
        f"PDQ <= {hx.PDQ_RADIUS}\n"
    )
    print(
        f"{'rows':>10s}  {'path':28s} {'build s':>8s} {'index MB':>9s} {'RSS +MB':>9s} "
        f"{'median ms':>9s} {'p95 ms':>8s} {'vs flat':>7s}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(n, args.queries, rng)


if __name__ == "__main__":
    main()
