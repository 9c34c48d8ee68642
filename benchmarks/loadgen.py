"""An open-loop HTTP load generator: a fixed request rate, latency measured from the scheduled
send time (so a slow answer delays nothing and hides nothing — no coordinated omission).

    python -m benchmarks.loadgen URL --rate 200 --seconds 15   → one JSON line of figures
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _load(url: str, rate: float, seconds: float, connections: int) -> dict[str, object]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await client.get(url)  # warm-up: connection and the first (uncached) answer
        total = int(rate * seconds)
        start = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                response = await client.get(url)
                key = str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - scheduled)
            statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "url": url, "requests": len(ordered), "seconds": round(elapsed, 2),
        "achieved_rate": round(len(ordered) / elapsed, 1), "statuses": statuses,
        "p50_ms": round(1000 * percentile(ordered, 0.50), 2),
        "p90_ms": round(1000 * percentile(ordered, 0.90), 2),
        "p99_ms": round(1000 * percentile(ordered, 0.99), 2),
        "max_ms": round(1000 * ordered[-1], 2) if ordered else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_load(args.url, args.rate, args.seconds, args.connections))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
