#!/usr/bin/env python3
"""Summarizes `ncu --csv --print-units base --metrics …` output: per kernel name, the mean of each
metric over its profiled launches (time in µs, SM clock in GHz, instructions in millions).
Usage: python3 ncu_kernels.py LABEL NCU_CSV"""
import collections, csv, sys

label, path = sys.argv[1], sys.argv[2]
lines = [l for l in open(path) if l.startswith('"')]
rows = list(csv.DictReader(lines))
acc = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    name = r["Kernel Name"].split("(")[0].split("<")[0][:40]
    acc[name][r["Metric Name"]].append(float(r["Metric Value"].replace(",", "")))
if not acc:
    print(label, ": no kernels profiled")
for name, metrics in acc.items():
    mean = lambda k: sum(metrics[k]) / len(metrics[k]) if metrics.get(k) else float("nan")
    print("%-40s %-38s n=%d  %8.1f us  %.3f GHz  %8.0f kcycles  %7.2f M inst  %7.1f MB dram" % (
        label, name, len(metrics["gpu__time_duration.sum"]), mean("gpu__time_duration.sum") / 1e3,
        mean("sm__cycles_elapsed.avg.per_second") / 1e9, mean("sm__cycles_elapsed.max") / 1e3,
        mean("smsp__inst_executed.sum") / 1e6, mean("dram__bytes_read.sum") / 1e6))
