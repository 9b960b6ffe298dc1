#!/usr/bin/env python3
"""Renders the measurement tables of README.md and docs/performance.md from bench/results.json
(the project's machine) and bench/results_avx2only.json (a CPU with AVX2 but not AVX-512;
regions named avx2only-*).

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
RESULTS_AVX2ONLY = os.path.join(ROOT, "bench", "results_avx2only.json")
AVX2ONLY = "avx2only-"
FILES = ["README.md", os.path.join("docs", "performance.md")]
SHAPES = [(4096, 4096), (11008, 4096), (4096, 11008)]


def kernel(data, out, inp, batch, fmt, act, threads, weights, rows=None):
    for k in data["kernels"] if rows is None else rows:
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
        ("peak int8 dot (%s, GOPS)" % L.get("int8_instruction", "vpdpbusd"), "%.0f" % L["int8_gops_1t"],
         "%.0f" % L["int8_gops_2t"]),
    ]
    if "avx2" in data:
        A = data["avx2"]
        rows.append(("AVX2 backend peak int8 dot (%s, GOPS)" % A["int8_instruction"], "%.0f" % A["int8_gops_1t"],
                     "%.0f" % A["int8_gops_2t"]))
        if "fp32_gflops_1t" in A:
            rows.append(("AVX2 backend peak fp32 FMA (ymm, GFLOPS)", "%.0f" % A["fp32_gflops_1t"],
                         "%.0f" % A["fp32_gflops_2t"]))
    rows += [
        ("peak fp32 FMA (%sGFLOPS)" % ("%s, " % L["fp32_width"] if "fp32_width" in L else ""),
         "%.0f" % L["fp32_gflops_1t"], "%.0f" % L["fp32_gflops_2t"]),
        ("BASE3 decode + dot, no memory (G weights/s)", "%.1f" % L["base3_gweights_1t"], ""),
    ]
    return table(["limit", "1 thread", "2 threads"], rows)


def pct_dram_2t(data, k):
    """batch 1: the weights' read rate against the 2-thread DRAM read limit"""
    if k["batch"] != 1:
        return "-"
    return "%.0f%%" % (100.0 * k["gbs"] / data["limits"]["dram_read_gbs_2t"])


def kernel_rows(data, rows):
    out = []
    for k in rows:
        t = time_of(k)
        out.append(("%dx%d" % (k["out"], k["in"]), k["batch"], k["format"].upper(), k["act"].upper(),
                    k["threads"], k["weights"], "%.1f" % k["median_us"],
                    "%.1f" % k["median_cpu_us"] if k["threads"] == 1 else "-",
                    "%.1f" % k["gbs"], "%.0f" % k["gops"], "%.0f%% %s" % (k["pct_of_limit"], k["limit"]),
                    pct_dram_2t(data, k), "%.1f" % (k["scalar_1t_us"] / t),
                    "%.1f" % (k["blas_us"] / t) if k["blas_us"] > 0 else "n/a"))
    return table(["out x in", "batch", "format", "act", "threads", "weights", "median us", "CPU us",
                  "GB/s", "GOPS", "% of limit", "% of 2-thr DRAM", "x scalar (1 thr)", "x OpenBLAS"], out)


def kernels(data):
    return kernel_rows(data, data["kernels"])


NO_AVX2 = "(no AVX2 rows in this bench/results.json: `make bench` on an x86 machine with AVX2 adds them)"


def avx2(data):
    if "avx2" not in data:
        return NO_AVX2
    return kernel_rows(data, data["avx2"]["kernels"])


def threads(data):
    """batch 1 and 128, INT8: two threads against one, from the kernel rows"""
    rows = []
    for out, inp in SHAPES:
        for fmt in ("2bit", "base3"):
            def t(batch, th, w):
                return time_of(kernel(data, out, inp, batch, fmt, "int8", th, w))
            c1, c2 = t(1, 1, "cold"), t(1, 2, "cold")
            h1, h2 = t(1, 1, "hot"), t(1, 2, "hot")
            b1, b2 = t(128, 1, "hot"), t(128, 2, "hot")
            k2 = kernel(data, out, inp, 1, fmt, "int8", 2, "cold")
            rows.append(("%dx%d" % (out, inp), fmt.upper(), "%.1f" % c1, "%.1f" % c2, "%.2fx" % (c1 / c2),
                         pct_dram_2t(data, k2), "%.1f" % h1, "%.1f" % h2, "%.2fx" % (h1 / h2), "%.2fx" % (b1 / b2)))
    return table(["out x in", "format", "cold 1 thr", "cold 2 thr", "cold x", "cold 2 thr, % of 2-thr DRAM",
                  "hot 1 thr", "hot 2 thr", "hot x", "batch 128 x"], rows)


def base3_vs_2bit(data):
    rate = data["limits"]["base3_gweights_1t"] * 1e3  # weights per us
    rows = []
    for p in data["cold_pairs"]:
        hot = kernel(data, p["out"], p["in"], 1, "base3", "int8", 1, "hot")["median_cpu_us"]
        two = ("-", "-", "-")
        if "wall_us_2bit_2t" in p:
            two = ("%.1f" % p["wall_us_2bit_2t"], "%.1f" % p["wall_us_base3_2t"],
                   "%.2f" % (p["wall_us_base3_2t"] / p["wall_us_2bit_2t"]))
        rows.append(("%dx%d" % (p["out"], p["in"]), "%.1f" % p["cpu_us_2bit"], "%.1f" % p["cpu_us_base3"],
                     "%.2f" % (p["cpu_us_base3"] / p["cpu_us_2bit"]), "%.1f" % hot,
                     "%.2f" % (hot / p["cpu_us_2bit"]), "%.1f" % (p["out"] * p["in"] / rate)) + two)
    return table(["out x in", "2BIT cold", "BASE3 cold", "BASE3 / 2BIT", "BASE3 hot", "hot / 2BIT cold",
                  "BASE3 decode bound", "2 thr 2BIT cold", "2 thr BASE3 cold", "2 thr BASE3 / 2BIT"], rows)


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


def summary_threads(data):
    """README: batch 1, cold, INT8 with two threads, and the AVX2 backend with one"""
    rows = []
    for out, inp in SHAPES:
        row = ["%dx%d" % (out, inp)]
        for fmt in ("2bit", "base3"):
            c1 = kernel(data, out, inp, 1, fmt, "int8", 1, "cold")
            c2 = kernel(data, out, inp, 1, fmt, "int8", 2, "cold")
            row.append("%.0f us (%.2fx, %s)" % (time_of(c2), time_of(c1) / time_of(c2), pct_dram_2t(data, c2)))
        for fmt in ("2bit", "base3"):
            if "avx2" in data:
                a = kernel(data, out, inp, 1, fmt, "int8", 1, "cold", data["avx2"]["kernels"])
                row.append("%.0f us (%.1f GB/s)" % (time_of(a), a["gbs"]))
            else:
                row.append("n/a")
        rows.append(row)
    return table(["layer (out x in)", "2BIT, 2 threads (x 1 thread, % of 2-thr DRAM)", "BASE3, 2 threads",
                  "AVX2 backend 2BIT, 1 thread", "AVX2 backend BASE3, 1 thread"], rows)


RENDER = {"limits": limits, "kernels": kernels, "base3-vs-2bit": base3_vs_2bit, "summary": summary,
          "summary-threads": summary_threads, "threads": threads, "avx2": avx2}
REGION = re.compile(r"(<!-- begin generated: ([a-z0-9-]+) [^>]*-->\n)(.*?)(<!-- end generated: \2 -->)", re.S)


def render(text, data, data_avx2only):
    def one(m):
        name = m.group(2)
        src = data
        if name.startswith(AVX2ONLY):
            name, src = name[len(AVX2ONLY):], data_avx2only
        if name not in RENDER:
            sys.exit("render_tables: unknown region %s" % m.group(2))
        body = RENDER[name](src) if src is not None else "(no %s)" % os.path.relpath(RESULTS_AVX2ONLY, ROOT)
        return m.group(1) + body + "\n" + m.group(4)
    return REGION.sub(one, text)


def main():
    with open(RESULTS, encoding="utf-8") as f:
        data = json.load(f)
    data_avx2only = None
    if os.path.exists(RESULTS_AVX2ONLY):
        with open(RESULTS_AVX2ONLY, encoding="utf-8") as f:
            data_avx2only = json.load(f)
    stale = []
    for name in FILES:
        path = os.path.join(ROOT, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = render(text, data, data_avx2only)
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
