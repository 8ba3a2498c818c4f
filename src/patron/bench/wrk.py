"""Driving wrk: a Lua script that rotates over many URLs and reports latency percentiles and non-2xx answers."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

RESULT_MARK = "PATRON-BENCH "

SCRIPT = """
local paths = {%(paths)s}
local threads = {}
local counter = 0
non2xx = 0

function setup(thread)
  table.insert(threads, thread)
  -- Threads start at different places in the list so they do not ask for the same URL in lockstep.
  thread:set("counter", #threads * 7919)
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, '
      .. '"non2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), bad, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script(paths: list[str]) -> str:
    if not paths:
        raise ValueError("wrk needs at least one path")
    return SCRIPT % {"paths": ", ".join(_lua_string(path) for path in paths), "mark": RESULT_MARK}


def parse(output: str) -> LoadResult:
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            data = json.loads(line[len(RESULT_MARK) :])
            return LoadResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1_000_000,
                p50_ms=data["p50_us"] / 1000,
                p95_ms=data["p95_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                non2xx=data["non2xx"],
                socket_errors=data["socket_errors"],
            )
    raise ValueError(f"no result in wrk's output:\n{output}")


def run(
    base_url: str, paths: list[str], *, workdir: Path, connections: int = 16, threads: int = 2, seconds: int = 10
) -> LoadResult:
    binary = shutil.which("wrk")
    if binary is None:
        raise FileNotFoundError("wrk is not installed")
    lua = workdir / "rotate.lua"
    lua.write_text(script(paths))
    completed = subprocess.run(  # noqa: S603 (fixed command line)
        [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(lua), base_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return parse(completed.stdout)
