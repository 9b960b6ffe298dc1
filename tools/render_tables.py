#!/usr/bin/env python3
"""Renders the measurement tables of README.md and docs/performance.md from bench/results.json.

    python3 tools/render_tables.py           rewrite the generated regions in place
    python3 tools/render_tables.py --check   exit 1 if a region differs from the JSON

A generated region sits between
    <!-- begin generated: NAME (tools/render_tables.py from bench/results.json) -->
    <!-- end generated: NAME -->
and is replaced whole; everything outside the markers is left alone.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results.json")
FILES = ["README.md", os.path.join("docs", "performance.md")]
SHAPES = [(4096, 4096), (11008, 4096), (4096, 11008)]


def kernel(data, out, inp, batch, fmt, act, threads, weights):
    for k in data["kernels"]:
        if (k["out"], k["in"], k["batch"], k["format"], k["act"], k["threads"], k["weights"]) == \
                (out, inp, batch, fmt, act, threads, weights):
            return k
    sys.exit("render_tables: no kernel %dx%d batch %d %s %s %d %s in bench/results.json"
             % (out, inp, batch, fmt, act, threads, weights))


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def time_of(k):
    """1 thread: the thread's CPU time (the machine may be shared); 2 threads: wall time."""
    return k["median_cpu_us"] if k["threads"] == 1 else k["median_us"]


def limits(data):
    L = data["limits"]
    rows = [
        ("DRAM read, 512 MiB buffer (GB/s)", "%.1f" % L["dram_read_gbs_1t"], "%.1f" % L["dram_read_gbs_2t"]),
        ("L1-resident read, 16 KiB (GB/s)", "%.1f" % L["l1_read_gbs"], ""),
        ("L2-resident read, 512 KiB (GB/s)", "%.1f" % L["l2_read_gbs"], ""),
        ("L3-resident read, 8 MiB (GB/s)", "%.1f" % L["l3_read_gbs"], ""),
        ("peak int8 dot (vpdpbusd, GOPS)", "%.0f" % L["int8_gops_1t"], "%.0f" % L["int8_gops_2t"]),
        ("peak fp32 FMA (GFLOPS)", "%.0f" % L["fp32_gflops_1t"], "%.0f" % L["fp32_gflops_2t"]),
        ("BASE3 decode + dot, no memory (G weights/s)", "%.1f" % L["base3_gweights_1t"], ""),
    ]
    return table(["limit", "1 thread", "2 threads"], rows)


def kernels(data):
    rows = []
    for k in data["kernels"]:
        t = time_of(k)
        rows.append(("%dx%d" % (k["out"], k["in"]), k["batch"], k["format"].upper(), k["act"].upper(),
                     k["threads"], k["weights"], "%.1f" % k["median_us"],
                     "%.1f" % k["median_cpu_us"] if k["threads"] == 1 else "-",
                     "%.1f" % k["gbs"], "%.0f" % k["gops"], "%.0f%% %s" % (k["pct_of_limit"], k["limit"]),
                     "%.1f" % (k["scalar_1t_us"] / t), "%.1f" % (k["blas_us"] / t)))
    return table(["out x in", "batch", "format", "act", "threads", "weights", "median us", "CPU us",
                  "GB/s", "GOPS", "% of limit", "x scalar (1 thr)", "x OpenBLAS"], rows)


def base3_vs_2bit(data):
    rate = data["limits"]["base3_gweights_1t"] * 1e3  # weights per us
    rows = []
    for p in data["cold_pairs"]:
        hot = kernel(data, p["out"], p["in"], 1, "base3", "int8", 1, "hot")["median_cpu_us"]
        rows.append(("%dx%d" % (p["out"], p["in"]), "%.1f" % p["cpu_us_2bit"], "%.1f" % p["cpu_us_base3"],
                     "%.2f" % (p["cpu_us_base3"] / p["cpu_us_2bit"]), "%.1f" % hot,
                     "%.2f" % (hot / p["cpu_us_2bit"]), "%.1f" % (p["out"] * p["in"] / rate)))
    return table(["out x in", "2BIT cold", "BASE3 cold", "BASE3 / 2BIT", "BASE3 hot", "hot / 2BIT cold",
                  "BASE3 decode bound"], rows)


def summary(data):
    rows = []
    for out, inp in SHAPES:
        c2 = kernel(data, out, inp, 1, "2bit", "int8", 1, "cold")
        c3 = kernel(data, out, inp, 1, "base3", "int8", 1, "cold")
        b2 = kernel(data, out, inp, 128, "2bit", "int8", 1, "hot")
        rows.append(("%dx%d" % (out, inp),
                     "%.0f us (%.1f GB/s)" % (time_of(c2), c2["gbs"]),
                     "%.0f us" % time_of(c3),
                     "%.1fx" % (c2["blas_us"] / time_of(c2)),
                     "%.0f GOPS" % b2["gops"],
                     "%.1fx" % (b2["blas_us"] / time_of(b2))))
    return table(["layer (out x in)", "2BIT batch 1, cold", "BASE3 batch 1, cold", "vs OpenBLAS sgemv",
                  "2BIT batch 128", "vs OpenBLAS sgemm"], rows)


RENDER = {"limits": limits, "kernels": kernels, "base3-vs-2bit": base3_vs_2bit, "summary": summary}
REGION = re.compile(r"(<!-- begin generated: ([a-z0-9-]+) [^>]*-->\n)(.*?)(<!-- end generated: \2 -->)", re.S)


def render(text, data):
    def one(m):
        name = m.group(2)
        if name not in RENDER:
            sys.exit("render_tables: unknown region %s" % name)
        return m.group(1) + RENDER[name](data) + "\n" + m.group(4)
    return REGION.sub(one, text)


def main():
    with open(RESULTS, encoding="utf-8") as f:
        data = json.load(f)
    stale = []
    for name in FILES:
        path = os.path.join(ROOT, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = render(text, data)
        if new == text:
            continue
        if "--check" in sys.argv[1:]:
            stale.append(name)
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(new)
    if stale:
        print("render_tables: %s out of sync with bench/results.json; run 'python3 tools/render_tables.py'"
              % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
