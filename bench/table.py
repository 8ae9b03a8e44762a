#!/usr/bin/env python3
"""The issue's table for one device call, in Markdown.

Usage: python3 bench/table.py ours.jsonl flashmla.jsonl ceilings.json ANCHOR_DIR [ours-fp16.jsonl] [--card h100|h200]

Per configuration: the kernel that ran (the bench's `kernel` field; for results older than that
field, the backend's automatic choice by query rows per KV head), the floor
max(bytes / copy rate, FLOPs / GEMM rate) with both rates from ceilings.json (same call), our
time and its % of the floor, FlashMLA's time in the same call and FlashMLA / ours, the best peer
of ANCHOR_DIR/best-peer-CARD.jsonl scaled by FlashMLA's time here over its time in
ANCHOR_DIR/flashmla-CARD.jsonl (CARD h100 unless --card says), and (with a fp16 file) fp16 / bf16
time. A file may hold several implementations' rows (bench/interleave.py's): ours are the rows
whose impl is not flash_mla, FlashMLA's those whose impl is. Summary lines last.
"""
import json, math, sys

KEY = ("s_q", "mean_sk", "h_q", "varlen")


def load(path, flashmla=None):
    rows = (json.loads(l) for l in open(path) if l.strip().startswith("{"))
    rows = (r for r in rows if "summary" not in r)
    if flashmla is not None:
        rows = (r for r in rows if (r.get("impl") == "flash_mla") == flashmla)
    return {tuple(r[k] for k in KEY): r for r in rows}


def kernel(row, card):
    # The kernel the bench reports; rows without one (older results, interleave.py's) get the
    # automatic choice by query rows per KV head: on the H100 its shipped table (sm80 up to 16),
    # elsewhere the rule (lockstep up to 64).
    if "kernel" in row:
        return row["kernel"].replace("-", " ")
    rows = row["h_q"] // row.get("h_kv", 1) * row["s_q"]
    return "sm80" if rows <= 16 and card == "h100" else "sm90 lockstep" if rows <= 64 else "sm90 seesaw"


def geo(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    args = sys.argv[1:]
    card = "h100"
    if "--card" in args:
        card = args[args.index("--card") + 1]
        del args[args.index("--card"):args.index("--card") + 2]
    ours, theirs = load(args[0], flashmla=False), load(args[1], flashmla=True)
    ceil = json.load(open(args[2]))
    anchor = args[3]
    fm_ref, best = load(f"{anchor}/flashmla-{card}.jsonl"), load(f"{anchor}/best-peer-{card}.jsonl")
    fp16 = load(args[4], flashmla=False) if len(args) > 4 else {}
    print(f"Ceilings in this call: copy {ceil['copy_gbps']} GB/s, bf16 GEMM {ceil['gemm_tflops']} TFLOPS ({ceil['device']}).\n")
    head = "| s_q | mean_sk | h_q | varlen | kernel | floor ms | ours ms | % of floor | FlashMLA ms | FlashMLA / ours | best peer (scaled) ms | best / ours |"
    if fp16:
        head += " fp16 ms | fp16 / bf16 |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    ratios, best_ratios, fractions, fp16_ratios = [], [], [], []
    for key in sorted(ours, key=lambda k: (k[1], k[2], k[0], k[3])):
        r = ours[key]
        ms = r["ms"]
        floor = max(r["gbps"] * ms / ceil["copy_gbps"], r["tflops"] * ms / ceil["gemm_tflops"])   # ms
        fm = theirs[key]["ms"]
        scaled = best[key]["ms"] * fm / fm_ref[key]["ms"]
        ratios.append(fm / ms); best_ratios.append(scaled / ms); fractions.append(floor / ms)
        line = (f"| {key[0]} | {key[1]} | {key[2]} | {'yes' if key[3] else 'no'} | {kernel(r, card)} | {floor:.3f} | {ms:.4f} | "
                f"{100 * floor / ms:.0f}% | {fm:.4f} | {fm / ms:.3f} | {scaled:.4f} ({best[key].get('best_impl', best[key]['impl'])}) | {scaled / ms:.3f} |")
        if fp16:
            f = fp16[key]["ms"]
            fp16_ratios.append(f / ms)
            line += f" {f:.4f} | {f / ms:.3f} |"
        print(line)
    print(f"\nGeometric mean FlashMLA / ours {geo(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
          f"best peer / ours {geo(best_ratios):.3f}; at least as fast as FlashMLA: {sum(x >= 1 for x in ratios)}/{len(ratios)}, "
          f"as the best peer: {sum(x >= 1 for x in best_ratios)}/{len(best_ratios)}; % of floor {100 * min(fractions):.0f}–"
          f"{100 * max(fractions):.0f}%, at least 85%: {sum(x >= 0.85 for x in fractions)}/{len(fractions)}, "
          f"at least 90%: {sum(x >= 0.9 for x in fractions)}/{len(fractions)}.")
    if fp16:
        print(f"fp16 / bf16 time: geometric mean {geo(fp16_ratios):.3f}, worst {max(fp16_ratios):.3f}; "
              f"within 3%: {sum(x <= 1.03 for x in fp16_ratios)}/{len(fp16_ratios)}.")


if __name__ == "__main__":
    main()
