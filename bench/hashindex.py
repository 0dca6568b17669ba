"""HashIndex lookup speed and memory at 100k, 1M and 10M rows (run by hand, 2-4 minutes).

    .venv/bin/python bench/hashindex.py [--sizes 100000,1000000,10000000] [--queries 300]

Rows are random (64-bit pHash, 256-bit PDQ), loaded the way the app loads the database: in
batches of 100k hex strings through `HashIndex.add_hex`. Half the queries are stored rows with
8 pHash bits and 24 PDQ bits flipped (a real match), half are random (no match). Every path
does the same exact lookup (pHash within the radius, then PDQ confirmation) and must return
the same rows:

- HashIndex: faiss's vectorised `hammings` kernel over 64k-row blocks + numpy threshold;
- faiss IndexBinaryFlat.range_search over the same codes (its own copy), same confirmation;
- a plain numpy scan: XOR + popcount over a uint64 array, same confirmation.

These three are timed round-robin, query by query, so they share the machine's state (other
load, caches) fairly; the ratio column is each path's median over HashIndex's. Each keeps its
own copy of the codes, so round-robin also evicts the others' from the CPU caches; HashIndex
is then timed alone, back to back, as well. Then:

- faiss IndexBinaryMultiHash (4 tables of 16 bits, 4 flips: exact for radius <= 19), the
  hash-table alternative, pHash stage only. (IndexBinaryHash, one table, is exact only when it
  flips up to `radius` bits of its key: it then visits every bucket, a slower flat scan.)
- a HashIndex lookup whose pHash radius holds 10k rows (a popular image stored many times).

One core: OMP_NUM_THREADS=1 is set before faiss and numpy load. Random codes spread evenly;
real pHashes cluster, which leaves an exhaustive scan's cost unchanged but fills hash buckets
and gives the PDQ confirmation more candidates.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before faiss/numpy start their thread pools

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cara.aifilter import hashindex as hx  # noqa: E402

BATCH = 100_000


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def flip_bits(rng: np.random.Generator, code: np.ndarray, nbits: int) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(bits.size, nbits, replace=False)] ^= 1
    return np.packbits(bits)


def row(n, path, build_s, index_mb, rss, t: np.ndarray | None, ratio="") -> str:
    med = f"{np.median(t):9.3f}" if t is not None else f"{'-':>9s}"
    p95 = f"{np.percentile(t, 95):8.3f}" if t is not None else f"{'-':>8s}"
    build = f"{build_s:8.2f}" if build_s is not None else f"{'-':>8s}"
    return f"{n:>10,d}  {path:30s} {build} {index_mb:9.1f} {rss:8.1f} {med} {p95} {ratio:>7s}"


def make_queries(rng, phash, pdq, n_queries) -> list[hx.ImageHashes]:
    out = []
    for k in range(n_queries):
        if k % 2 == 0:
            j = int(rng.integers(len(phash)))
            p, q = flip_bits(rng, phash[j], 8), flip_bits(rng, pdq[j], 24)
        else:
            p = rng.integers(0, 256, 8, dtype=np.uint8)
            q = rng.integers(0, 256, 32, dtype=np.uint8)
        out.append(hx.ImageHashes(int.from_bytes(p.tobytes(), "big"), q.tobytes(), 100))
    return out


def build_hashindex(ids, phash, pdq) -> tuple[hx.HashIndex, float, float]:
    before = rss_mb()
    t0 = time.perf_counter()
    index = hx.HashIndex()
    for s in range(0, len(ids), BATCH):
        ph = phash[s : s + BATCH].tobytes().hex()
        pq = pdq[s : s + BATCH].tobytes().hex()
        index.add_hex(
            ids[s : s + BATCH].tolist(),
            [ph[i : i + 16] for i in range(0, len(ph), 16)],
            [pq[i : i + 64] for i in range(0, len(pq), 64)],
        )
    return index, time.perf_counter() - t0, rss_mb() - before


def confirm(ids, pdq, pos, q: hx.ImageHashes) -> list[int]:
    d = np.bitwise_count(pdq[pos] ^ np.frombuffer(q.pdq, dtype=np.uint8)).sum(axis=1)
    return sorted(ids[pos[d <= hx.PDQ_RADIUS]].tolist())


def bench_size(n: int, n_queries: int, rng: np.random.Generator) -> None:
    faiss.omp_set_num_threads(1)
    phash = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    pdq = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    ids = np.arange(1, n + 1, dtype=np.int64)
    queries = make_queries(rng, phash, pdq, n_queries)
    rp = hx.PHASH_RADIUS

    index, build_hi, rss_hi = build_hashindex(ids, phash, pdq)

    before = rss_mb()
    t0 = time.perf_counter()
    flat = faiss.IndexBinaryFlat(64)
    flat.add(phash)
    build_flat, rss_flat = time.perf_counter() - t0, rss_mb() - before

    before = rss_mb()
    t0 = time.perf_counter()
    p64 = phash.view(">u8").reshape(-1).astype(np.uint64)
    build_np, rss_np = time.perf_counter() - t0, rss_mb() - before

    def via_hashindex(q):
        return sorted(m.id for m in index.search(q))

    def via_flat(q):
        code = np.frombuffer(q.phash.to_bytes(8, "big"), dtype=np.uint8)[None]
        _, _, pos = flat.range_search(code, rp + 1)  # faiss keeps distances < radius
        return confirm(ids, pdq, pos, q)

    def via_numpy(q):
        pos = np.flatnonzero(np.bitwise_count(p64 ^ np.uint64(q.phash)) <= rp)
        return confirm(ids, pdq, pos, q)

    paths: dict[str, Callable] = {
        "HashIndex (faiss hammings)": via_hashindex,
        "faiss IndexBinaryFlat range": via_flat,
        "numpy XOR+popcount scan": via_numpy,
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    hits = 0
    for q in queries:
        results = []
        for name, fn in paths.items():
            t = time.perf_counter_ns()
            results.append(fn(q))
            times[name].append((time.perf_counter_ns() - t) / 1e6)
        assert results[0] == results[1] == results[2], "paths disagree"
        hits += bool(results[0])
    base = np.array(times["HashIndex (faiss hammings)"])
    builds = {
        "HashIndex (faiss hammings)": (build_hi, index.nbytes, rss_hi),
        "faiss IndexBinaryFlat range": (build_flat, n * 8 + ids.nbytes + pdq.nbytes, rss_flat),
        "numpy XOR+popcount scan": (build_np, p64.nbytes + ids.nbytes + pdq.nbytes, rss_np),
    }
    for name, t in times.items():
        t = np.array(t)
        build, nbytes, rss = builds[name]
        ratio = f"{np.median(t) / np.median(base):.1f}x"
        print(row(n, name, build, nbytes / 2**20, rss, t, ratio))
    flat = p64 = None  # free their memory before the hash-table index  # noqa: F841
    # The same lookups back to back, nothing else touching the caches in between.
    t = np.array([timed_once(index.search, q) for q in queries])
    print(row(n, "  HashIndex alone, back to back", None, index.nbytes / 2**20, 0, t))

    bench_multihash(n, phash, queries, base)

    # A lookup with 10k rows in pHash range, all confirmed by PDQ: building the result.
    if n >= 1_000_000:
        q0 = queries[0]
        code = np.frombuffer(q0.phash.to_bytes(8, "big"), np.uint8)
        near = [
            hx.ImageHashes(int.from_bytes(flip_bits(rng, code, 6).tobytes(), "big"), q0.pdq, 100)
            for _ in range(10_000)
        ]
        index.add(range(n + 1, n + 1 + len(near)), near)
        t0 = time.perf_counter()
        t = np.array([timed_once(index.search, q0) for _ in range(30)])
        assert len(index.search(q0)) >= 10_000
        print(row(n, "  HashIndex, 10k rows in range", None, index.nbytes / 2**20, 0, t))
    print(f"{'':12s}({hits}/{len(queries)} queries matched; RSS now {rss_mb():.0f} MB)")


def timed_once(fn, arg) -> float:
    t = time.perf_counter_ns()
    fn(arg)
    return (time.perf_counter_ns() - t) / 1e6


def bench_multihash(n, phash, queries, base) -> None:
    """faiss IndexBinaryMultiHash, pHash stage only. Exact at our radius: 4 tables of 16 bits
    with 4 flips each (pigeonhole: distance <= 19 leaves one 16-bit part within 4 flips)."""
    before = rss_mb()
    t0 = time.perf_counter()
    mh = faiss.IndexBinaryMultiHash(64, 4, 16)
    mh.nflip = 4
    mh.add(phash)
    build = time.perf_counter() - t0
    rss = rss_mb() - before
    # Seconds per lookup at 10M: time fewer of them.
    queries = queries[: max(20, len(queries) * 1_000_000 // n)]
    radius = hx.PHASH_RADIUS + 1

    def lookup(phash: int) -> None:
        mh.range_search(np.frombuffer(phash.to_bytes(8, "big"), np.uint8)[None], radius)

    t = np.array([timed_once(lookup, q.phash) for q in queries])
    ratio = f"{np.median(t) / np.median(base):.0f}x"
    print(row(n, "faiss MultiHash 4x16 (pHash)", build, n * 8 / 2**20, rss, t, ratio))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    rng = np.random.default_rng(20240601)
    print(
        f"faiss {faiss.__version__}, numpy {np.__version__}, OMP threads "
        f"{faiss.omp_get_max_threads()}, radii pHash <= {hx.PHASH_RADIUS}, "
        f"PDQ <= {hx.PDQ_RADIUS}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print(
        f"{'rows':>10s}  {'path':30s} {'build s':>8s} {'index MB':>9s} {'RSS +MB':>8s} "
        f"{'median ms':>9s} {'p95 ms':>8s} {'ratio':>7s}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(n, args.queries, rng)
        gc.collect()
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
