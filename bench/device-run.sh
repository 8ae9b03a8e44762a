#!/usr/bin/env bash
# One device call: the static flashmla binary travels gzipped in .device/ (with a copy of
# ../shared/anchor); nothing is built there. Steps run in the order given:
#   info compile check gridcheck sanitize check90 racelog bench bench80 bench90 benchold bench16
#   ceilings ab ncucmp profile python pybench benchnopdl benchbase probes latency timeline l2probe kernels
#   interleave coldstart hostoverhead fp8
# `check90` checks each Hopper kernel forced; `racelog` groups racecheck's hazards on the seesaw
# kernel by instruction; `ab` times FLASHMLA_KERNEL_OPTIONS variants (AB_OPTIONS) on chosen
# configurations (AB_ONLY) against the baseline; `ncucmp` keeps full ncu reports of our kernel and
# FlashMLA's on one configuration (NCU_CONFIG) from the same call.
# `benchnopdl` times our build with programmatic dependent launch off (FLASHMLA_PDL=0), `benchbase`
# with the kernels' defaults when FLASHMLA_KERNEL_OPTIONS is set for the other steps; `probes`
# runs racecheck on bench/probes/handoff_racecheck.cu and on one call of FlashMLA's kernel.
# `latency` times FlashMLA and the Python bridge
# with pages from DRAM and from a pool that stays in L2 (bench/probes/latency_probe.py; LATENCY_ONLY:
# '/'-separated configuration filters, default h_q=128; needs the bridge's library, as pybench);
# `timeline` reads each call's kernels from a CUPTI trace (bench/probes/timeline_probe.py; TIMELINE_ONLY);
# `l2probe` times a streaming read by L2 policy after a dirty and a clean flush (bench/probes/l2_dirty_probe.cu);
# `kernels` lists each kernel's time, SM clock and instructions under ncu (KERNELS_ONLY).
# `benchold` times .device/flashmla-old.gz (an earlier build, for A/B in one call); `bench16`
# times our fp16 path on the same grid; `ceilings` measures the copy and GEMM rates; `profile` is a
# short ncu of the Hopper kernel; `python` runs pytest; `pybench` times the Python bridge with
# bench_grid.py --check beside FlashMLA.
# SANITIZE_KERNELS (default "sm80 sm90-lockstep sm90-seesaw") and SANITIZE_TOOLS (default "memcheck
# racecheck synccheck") pick what the sanitizers run.
# AB_ROUNDS (default 2) sets how many rounds `ab` runs.
# What travels (carry .device; for `python`/`pybench` also python/flashmla_swift/libFlashMLASwiftC.so,
# made by python/build.sh): .device/flashmla.gz from `swift build -c release --static-swift-stdlib
# --product flashmla` (stripped, gzipped), optionally .device/flashmla-old.gz, and a copy of
# ../shared/anchor as .device/anchor.
# Usage on the device machine: bash bench/device-run.sh CASES STEP...
set -uo pipefail
case ${1:-} in ''|*[!0-9]*) echo "usage: bash bench/device-run.sh CASES STEP..." >&2; exit 2 ;; esac
CASES=$1; shift
[ $# -gt 0 ] || { echo "no step given" >&2; exit 2; }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
TMP=$(mktemp -d)                       # this call's scratch: nothing read back from an earlier call
unpack() { [ .device/$1 -nt .device/$1.gz ] || { gunzip -kf .device/$1.gz && chmod +x .device/$1; }; }
unpack flashmla
[ -f .device/flashmla-old.gz ] && unpack flashmla-old
BIN=$PWD/.device/flashmla
ANCHOR=$PWD/.device/anchor
export FLASHMLA_CACHE_DIR=/tmp/flashmla-cache
status=0
step() { echo "== $*" >&2; }
summary() { grep -E "FAIL|worst|passed|rror" "$1" | tail -${2:-6}; }
# Racecheck's hazards in log $1 grouped by the instructions involved, most frequent first.
group_hazards() {
  grep -E "Potential|Write Thread|Read Thread" "$1" \
    | sed -E 's/at __shared__ 0x[0-9a-f]+ in block \([0-9,]+\)//; s/Thread \([0-9]+,0,0\)/Thread/; s/\(.*\)//' \
    | sort | uniq -c | sort -rn
}
flashmla_baseline() {   # FlashMLA's own times on the grid, once a call
  [ -s "$OUT/flashmla.jsonl" ] || { step "bench: FlashMLA"; (cd "$ANCHOR" && python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2> "$OUT/flashmla.err" || status=1; }
}

bench_vs_flashmla() {   # $1: name of our run, rest: environment for it (RUN_BIN=… picks another binary)
  local name=$1; shift
  step "bench: ours ($name)"
  env "$@" ${RUN_BIN:-$BIN} bench --grid "$ANCHOR/grid.json" --json > "$OUT/ours-$name.jsonl" 2> "$OUT/ours-$name.err" || status=1
  flashmla_baseline
  python3 bench/compare.py "$OUT/ours-$name.jsonl" "$OUT/flashmla.jsonl" > "$OUT/compare-$name.txt" || status=1
  tail -1 "$OUT/compare-$name.txt"
}

# A call returns at most 8 files of $OUT (alphabetical order): after every step, all of them in
# one archive whose name sorts first, so a call with more files, or one cut short, still returns
# every finished step's output.
bundle() { tar -czf "$TMP/all.tar.gz" -C "$OUT" --exclude 0-all.tar.gz . && mv "$TMP/all.tar.gz" "$OUT/0-all.tar.gz"; }
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/gpu.txt"
for what in "$@"; do
  case $what in
    info) step info; $BIN info > "$OUT/info.txt" 2>&1; grep -E "H100|H200|NVRTC|version" "$OUT/info.txt" | head -5 ;;
    compile) step compile; $BIN compile --arch sm_90a > "$OUT/compile.txt" 2>&1 || status=1; tail -1 "$OUT/compile.txt" ;;
    check) step "check $CASES cases"; $BIN check --backend cuda --cases "$CASES" > "$OUT/check.txt" 2>&1 || status=1; summary "$OUT/check.txt" ;;
    check90) for kernel in sm90-lockstep sm90-seesaw; do
        step "check $CASES cases, $kernel forced"
        FLASHMLA_KERNEL=$kernel $BIN check --backend cuda --cases "$CASES" > "$OUT/check-$kernel.txt" 2>&1 || status=1
        summary "$OUT/check-$kernel.txt" 2
      done ;;
    gridcheck) step "check every grid configuration (bf16)"
      $BIN check --backend cuda --grid "$ANCHOR/grid.json" --dtype bf16 --sample-rows 24 > "$OUT/gridcheck.txt" 2>&1 || status=1; summary "$OUT/gridcheck.txt" ;;
    sanitize) for tool in ${SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
        step "compute-sanitizer $tool"
        for kernel in ${SANITIZE_KERNELS:-sm80 sm90-lockstep sm90-seesaw}; do
          FLASHMLA_KERNEL=$kernel compute-sanitizer --tool $tool --error-exitcode 9 $BIN check --backend cuda --cases 3 --token-budget 20000 --seed 7 \
            > $TMP/sanitize.log 2>&1 || { status=1; echo "$tool $kernel FAILED"; }
          { echo "== $tool $kernel"; tail -5 $TMP/sanitize.log; } >> "$OUT/sanitize.txt"   # one file: at most 8 come back
          grep -E "SUMMARY" $TMP/sanitize.log | tail -1
        done
      done ;;
    bench) bench_vs_flashmla auto ;;
    bench80) bench_vs_flashmla sm80 FLASHMLA_KERNEL=sm80 ;;
    bench90) bench_vs_flashmla sm90 FLASHMLA_KERNEL=sm90 ;;   # a Hopper kernel for every row count
    benchold) if [ -x .device/flashmla-old ]; then RUN_BIN=$PWD/.device/flashmla-old bench_vs_flashmla old
      else echo "benchold: no .device/flashmla-old.gz"; status=1; fi ;;
    benchnopdl) bench_vs_flashmla nopdl FLASHMLA_PDL=0 ;;   # without programmatic dependent launch
    benchbase) bench_vs_flashmla base FLASHMLA_KERNEL_OPTIONS= ;;   # the kernels' defaults, whatever FLASHMLA_KERNEL_OPTIONS says
    probes) step "racecheck on the handoff probe (bench/probes) and on FlashMLA's kernel"
      if nvcc -arch=sm_90a -o $TMP/probe bench/probes/handoff_racecheck.cu > "$OUT/probes.txt" 2>&1; then
        for v in 0 1 2; do
          compute-sanitizer --tool racecheck --racecheck-report hazard $TMP/probe $v > $TMP/probe.log 2>&1
          { echo "== probe variant $v"; grep -E "variant|SUMMARY" $TMP/probe.log; group_hazards $TMP/probe.log | head -8; } >> "$OUT/probes.txt"
        done
      else status=1; fi
      compute-sanitizer --tool racecheck --racecheck-report hazard --kernel-name kns=flash_fwd_splitkv \
        python3 bench/probes/racecheck_flashmla.py "$ANCHOR" > $TMP/fmrace.log 2>&1
      { echo "== FlashMLA's kernel"; grep -E "FlashMLA ran|SUMMARY" $TMP/fmrace.log || tail -8 $TMP/fmrace.log; group_hazards $TMP/fmrace.log | head -12; } >> "$OUT/probes.txt"
      cat "$OUT/probes.txt" | grep -E "==|SUMMARY|variant|ran" ;;
    bench16) step "bench: ours, fp16"
      [ -s "$OUT/ours-auto.jsonl" ] || { echo "bench16 compares with bench's run: give bench first"; status=1; continue; }
      $BIN bench --grid "$ANCHOR/grid.json" --dtype fp16 --json > "$OUT/ours-fp16.jsonl" 2> "$OUT/ours-fp16.err" || status=1
      python3 bench/compare.py "$OUT/ours-fp16.jsonl" "$OUT/ours-auto.jsonl" > "$OUT/compare-fp16-vs-bf16.txt" || status=1
      tail -1 "$OUT/compare-fp16-vs-bf16.txt" ;;
    latency) step "latency probe: pages from DRAM against pages from a pool that stays in L2 (${LATENCY_ONLY:-h_q=128})"
      IFS='/' read -ra sets <<< "${LATENCY_ONLY:-h_q=128}"
      for only in "${sets[@]}"; do
        PYTHONPATH=$PWD/python python3 bench/probes/latency_probe.py "$ANCHOR" --only "$only" >> "$OUT/latency.jsonl" 2>> "$OUT/latency.err" || status=1
      done
      python3 bench/probes/latency_probe.py --summarize "$OUT/latency.jsonl" ;;
    l2probe) step "L2 probe: a 608 MB read after a dirty and a clean flush, by cache policy (bench/probes/l2_dirty_probe.cu)"
      if nvcc -arch=sm_90a -O3 -o $TMP/l2probe bench/probes/l2_dirty_probe.cu > "$OUT/l2probe.txt" 2>&1; then
        $TMP/l2probe | tee -a "$OUT/l2probe.txt" || status=1
      else cat "$OUT/l2probe.txt"; status=1; fi ;;
    timeline) step "timeline probe: each call's kernels as they ran, after a dirty and a clean flush (${TIMELINE_ONLY:-s_q=1,mean_sk=4096,h_q=32,varlen=False})"
      PYTHONPATH=$PWD/python python3 bench/probes/timeline_probe.py "$ANCHOR" --only "${TIMELINE_ONLY:-s_q=1,mean_sk=4096,h_q=32,varlen=False}" \
        > "$OUT/timeline.txt" 2> "$OUT/timeline.err" || status=1
      sed -n '/^s_q sk/,$p' "$OUT/timeline.txt" ;;
    kernels) # Each kernel's own time, clock and instruction count (ncu, clocks as they run), ours
        # (bf16 and fp16) and FlashMLA's, on KERNELS_ONLY ('/'-separated configurations).
      m=gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second,sm__cycles_elapsed.max,smsp__inst_executed.sum,dram__bytes_read.sum
      IFS='/' read -ra sets <<< "${KERNELS_ONLY:-s_q=2,mean_sk=4096,h_q=128,varlen=false}"
      for only in "${sets[@]}"; do
        for dt in bf16 fp16; do
          step "ncu kernels: ours $dt $only"
          ncu --csv --print-units base --clock-control none --kernel-name regex:'flashmla_(decode|combine)' --launch-skip 6 --launch-count 6 --metrics $m \
            $BIN bench --grid "$ANCHOR/grid.json" --only "$only" --dtype $dt --iterations 5 > $TMP/k.csv 2> "$OUT/kernels.err"
          python3 bench/probes/ncu_kernels.py "ours-$dt $only" $TMP/k.csv | tee -a "$OUT/kernels.txt"
        done
        fm=$(echo "$only" | sed 's/=false/=False/; s/=true/=True/')
        step "ncu kernels: FlashMLA bf16 $fm"
        (cd "$ANCHOR" && ncu --csv --print-units base --clock-control none --kernel-name regex:'flash_fwd_splitkv|combine' --launch-skip 6 --launch-count 6 --metrics $m \
          python3 bench_grid.py --only "$fm") > $TMP/k.csv 2>> "$OUT/kernels.err"
        python3 bench/probes/ncu_kernels.py "flashmla-bf16 $only" $TMP/k.csv | tee -a "$OUT/kernels.txt"
      done ;;
    interleave) # FlashMLA and the Python bridge timed on the same inputs, configuration by configuration,
        # INTERLEAVE_ROUNDS times with the order rotating (bench/interleave.py); INTERLEAVE_ONLY filters,
        # INTERLEAVE_NAME names the run, INTERLEAVE_DTYPE bf16|fp16|both (fp16, both: ours only), INTERLEAVE_GRAPH=1 times
        # CUDA-graph replays; FLASHMLA_KERNEL applies to ours.
      name=${INTERLEAVE_NAME:-auto}; dt=${INTERLEAVE_DTYPE:-bf16}
      mods="--module flash_mla --module flashmla_swift"; [ "$dt" != bf16 ] && mods="--module flashmla_swift"
      step "interleave ($name, $dt${INTERLEAVE_ONLY:+, $INTERLEAVE_ONLY})"
      (cd "$ANCHOR" && PYTHONPATH=$OLDPWD/python python3 $OLDPWD/bench/interleave.py . $mods --rounds ${INTERLEAVE_ROUNDS:-3} \
        --dtype $dt ${INTERLEAVE_ONLY:+--only $INTERLEAVE_ONLY} ${INTERLEAVE_CHECK:+--check} ${INTERLEAVE_GRAPH:+--graph}) \
        > "$OUT/interleave-$name.jsonl" 2> "$TMP/interleave-$name.err" || { status=1; tail -5 "$TMP/interleave-$name.err"; }
      grep summary "$OUT/interleave-$name.jsonl" ;;
    coldstart) # The first decode call through the Python bridge from an empty compile cache, then from the
        # warm one (bench/probes/coldstart.py), on the seesaw shape (s_q 2, h_q 128) and a lockstep one (h_q 64).
      for shape in "--s-q 2 --h-q 128" "--s-q 1 --h-q 64"; do
        cold=$TMP/cold-cache-$RANDOM
        for run in cold warm; do
          step "coldstart $run $shape"
          FLASHMLA_CACHE_DIR=$cold PYTHONPATH=$PWD/python python3 bench/probes/coldstart.py "$ANCHOR" $shape \
            | tee -a "$OUT/coldstart.jsonl" || status=1
        done
      done ;;
    hostoverhead) step "host time per call, FlashMLA and the bridge (bench/probes/host_overhead.py)"
      PYTHONPATH=$PWD/python python3 bench/probes/host_overhead.py "$ANCHOR" > "$OUT/host-overhead.txt" 2>&1 || status=1
      grep -E "^\{|tottime" -A4 "$OUT/host-overhead.txt" | head -12 ;;
    fp8) # FP8 caches and page sizes: checks against the reference on the dequantized cache, then the
        # grid timed with the native, per-tensor FP8 and DeepSeek FP8 caches (one file; see BENCHMARKS.md).
      for args in "--page-size random" "--kv-format fp8 --page-size random" "--kv-format fp8-ds --page-size random" \
                  "--kv-format fp8 --page-size 64" "--kv-format fp8-ds --page-size 64"; do
        step "check $CASES cases $args"
        $BIN check --backend cuda --cases "$CASES" $args > $TMP/fp8check.txt 2>&1 || status=1
        { echo "== check $args"; summary $TMP/fp8check.txt 2; } | tee -a "$OUT/fp8-checks.txt"
      done
      for args in "--kv-format fp8" "--kv-format fp8-ds" "--page-size 16" "--page-size 1"; do
        step "bench $args"
        $BIN bench --grid "$ANCHOR/grid.json" --json $args ${FP8_ONLY:+--only $FP8_ONLY} 2> /dev/null | sed "s/^{/{\"layout\": \"$args\", /" >> "$OUT/fp8-bench.jsonl" || status=1
      done ;;
    ceilings) step "ceilings: copy and bf16 GEMM"; python3 bench/ceilings.py | tee "$OUT/ceilings.json" || status=1 ;;
    racelog) step "racecheck sm90-seesaw: hazards grouped by the instructions involved"
      FLASHMLA_KERNEL=sm90-seesaw compute-sanitizer --tool racecheck --racecheck-report hazard --print-limit 5000 $BIN check --backend cuda \
        --cases 2 --token-budget 12000 --seed 7 > $TMP/race.log 2>&1
      { grep -E "SUMMARY|passed" $TMP/race.log; group_hazards $TMP/race.log; } | tee "$OUT/racecheck-summary.txt" ;;
    ab) # AB_ONLY: configurations (bench --only), '/'-separated sets; AB_OPTIONS: ';'-separated
        # FLASHMLA_KERNEL_OPTIONS variants, each timed against the baseline (and flashmla-old) twice.
      IFS=';' read -ra variants <<< "${AB_OPTIONS:-}"
      IFS='/' read -ra sets <<< "${AB_ONLY:-h_q=128}"
      for only in "${sets[@]}"; do
        for round in $(seq 1 ${AB_ROUNDS:-2}); do
          for v in "" "${variants[@]}" old; do
            [ "$v" = old ] && [ ! -x .device/flashmla-old ] && continue
            name=$(echo "$only-$v" | tr -c 'A-Za-z0-9_\n' '_')   # no '=': the device tool refuses such names
            bin=$BIN; opts=$v; [ "$v" = old ] && { bin=$PWD/.device/flashmla-old; opts=; }
            FLASHMLA_KERNEL_OPTIONS="$opts" $bin bench --grid "$ANCHOR/grid.json" --only "$only" --json \
              > "$OUT/ab-$round-$name.jsonl" 2>> "$OUT/ab.err" || status=1
            python3 -c "import json,sys,math; r=[json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]; print('%-22s %-50s'%(sys.argv[3], sys.argv[2]), 'geo ms %.4f'%math.exp(sum(math.log(x['ms']) for x in r)/len(r)), ' '.join('%.3f'%x['ms'] for x in r))" "$OUT/ab-$round-$name.jsonl" "${v:-baseline}" "$only"
          done
        done
      done ;;
    ncucmp) cfg=${NCU_CONFIG:-s_q=1,mean_sk=16384,h_q=128}
      step "ncu full, ours and FlashMLA's kernel on $cfg (varlen false)"
      ncu -f --clock-control none --kernel-name regex:flashmla_decode_sm90 --launch-skip 3 --launch-count 1 --set full --import-source no \
        -o $TMP/prof-ours $BIN bench --grid "$ANCHOR/grid.json" --only $cfg,varlen=false --iterations 3 > "$OUT/ncu-ours-run.txt" 2>&1 || status=1
      (cd "$ANCHOR" && ncu -f --clock-control none --kernel-name regex:flash_fwd_splitkv --launch-skip 3 --launch-count 1 --set full --import-source no \
        -o $TMP/prof-fm python3 bench_grid.py --only $cfg,varlen=False) > "$OUT/ncu-fm-run.txt" 2>&1 || status=1
      for who in ours fm; do
        ncu -i $TMP/prof-$who.ncu-rep --page details > "$OUT/ncu-$who-details.txt" 2>&1
        ncu -i $TMP/prof-$who.ncu-rep --page source --csv --print-source sass > "$OUT/ncu-$who-source.csv" 2>&1
        ncu -i $TMP/prof-$who.ncu-rep --page raw --csv > "$OUT/ncu-$who-raw.csv" 2>&1
        echo "-- $who"; grep -E "^ +(Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|Issue Slots Busy|L2 Hit Rate|Registers Per)" "$OUT/ncu-$who-details.txt" | head -12
      done ;;
    profile) step "ncu: the Hopper kernel on h_q=128, s_q=1, 8k"
      ncu --clock-control none --kernel-name regex:flashmla_decode_sm90 --launch-skip 3 --launch-count 1 \
        --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis --section Occupancy \
        $BIN bench --grid "$ANCHOR/grid.json" --only s_q=1,mean_sk=8192,h_q=128,varlen=false --iterations 3 \
        > "$OUT/ncu.txt" 2>&1 || status=1
      grep -E "Duration|Throughput|Stall|Issued|Pipe|Tensor|Eligible|Active Warps" "$OUT/ncu.txt" | head -30 ;;
    python) step "pytest"; (cd python && python3 -m pytest -q tests) > "$OUT/pytest.txt" 2>&1 || status=1; tail -3 "$OUT/pytest.txt" ;;
    pybench) step "bench_grid.py --module flashmla_swift --check"
      (PYTHONPATH=$PWD/python python3 "$ANCHOR/bench_grid.py" --module flashmla_swift --check) > "$OUT/pybench.jsonl" 2> "$OUT/pybench.err" || status=1
      flashmla_baseline
      python3 bench/compare.py "$OUT/pybench.jsonl" "$OUT/flashmla.jsonl" > "$OUT/compare-python.txt" || status=1; tail -1 "$OUT/compare-python.txt"
      python3 -c "import json,sys; r=[json.loads(l) for l in open('$OUT/pybench.jsonl') if l.startswith('{')]; print(len(r),'configs; worst cos_diff_out',max(x['cos_diff_out'] for x in r),'any NaN',any(x['nan_out'] for x in r))" ;;
    *) echo "unknown step $what"; status=1 ;;
  esac
  bundle
done
exit $status
