#!/usr/bin/env bash
# Side by side with node-oidc-provider (../shared/bench/oidc-provider-peer, installed with `npm ci` in a copy):
# interleaved rounds of the peer's own load generator (bench.mjs, the peer's flow shape: bc-authorize, one pending
# poll, approval through an approve URL, the redeeming poll, ID token verified) against
#   - the peer on its in-memory store, - the peer on in-process dynalite, - this service (test/bench/bench.ts --serve:
#   embedded dynalite in memory, approval through the store via test/bench/serve.ts's hook), once per embedded store
#   mode in MODES (CIBA_EMBEDDED_STORE: `worker`, the default of `npm start`, `direct`, `child` or `inline`; a mode
#   with `+nocache`, such as `worker+nocache`, runs with CIBA_DYNALITE_PARSE_CACHE=off: dynalite parsing every
#   expression, as it ships), each its own server,
# level by level (each level's runs one after the other; round r starts with the r-th mode, so that no mode always
# runs right after the peer), then target/peer ratios per store (the peer's ratio.mjs) and this service's CPU per
# flow split by thread (main, the store's, the rest), per mode in $OUT/{mode}/. The CPU speed of this kind of VM
# drifts 30-50 % within minutes: only interleaved rounds compare. The service runs without the bench's meter and store
# counters (BENCH_METER=0, serve.ts), as `npm start` runs it. CIBA_DATA_DIR (default: memory) is passed on: one mode
# per run then, as one server holds a store directory.
#
# PIN=1 (meant for CONC=1) runs every server on the first CPU and the load generator on the second (taskset), so that
# a hand-over between a server's threads (its store's thread, libuv's pool) never has to wake an idle CPU
# (docs/performance.md "Targets missed").
#
#   PEER_DIR=/tmp/peer [ROUNDS=3] [N=1000] [WARMUP=100] [CONC=1,8,32] [USERS=1000] [MODES=worker,worker+nocache] \
#     [PIN=1] bash test/bench/compare-peer.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PEER_DIR:?set PEER_DIR to an installed copy of the peer (npm ci)}"
ROUNDS=${ROUNDS:-3}; N=${N:-1000}; WARMUP=${WARMUP:-100}; CONC=${CONC:-1,8,32}; USERS=${USERS:-1000}
MODES=${MODES:-worker}
SERVER_CPU=(); LOADGEN_CPU=()
if [ "${PIN:-0}" = 1 ]; then
  command -v taskset > /dev/null || { echo "PIN=1 needs taskset (util-linux)"; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "PIN=1 needs two CPUs: one for the servers, one for the load generator"; exit 1; }
  SERVER_CPU=(taskset -c 0); LOADGEN_CPU=(taskset -c 1)
fi
OUT=${OUT:-bench-results/compare-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
start_peer() { # store -> sets PEER_BASE, PEER_PID
  "${SERVER_CPU[@]}" node "$PEER_DIR/server.mjs" --port 0 --approve hook --store "$1" > "$OUT/peer-$1.log" 2>&1 & PEER_PID=$!; pids+=("$PEER_PID")
  for _ in $(seq 300); do PEER_BASE=$(grep -o 'READY .*' "$OUT/peer-$1.log" | cut -d' ' -f2 || true); [ -n "$PEER_BASE" ] && return; sleep 0.1; done
  echo "peer ($1) did not start"; cat "$OUT/peer-$1.log"; exit 1
}
start_peer memory; MEM_BASE=$PEER_BASE; MEM_PID=$PEER_PID
start_peer dynalite; DYN_BASE=$PEER_BASE; DYN_PID=$PEER_PID
IFS=, read -r -a modes <<< "$MODES"
declare -A OURS
for m in "${modes[@]}"; do
  mkdir -p "$OUT/$m/memory" "$OUT/$m/dynalite"
  cache=on; [[ $m == *+nocache ]] && cache=off
  CIBA_EMBEDDED_STORE=${m%%+*} CIBA_DYNALITE_PARSE_CACHE=$cache BENCH_METER=0 \
    "${SERVER_CPU[@]}" node --import tsx test/bench/bench.ts --serve --users "$USERS" \
    > "$OUT/ours-$m.json.log" 2> "$OUT/ours-$m.log" & pids+=($!)
  for _ in $(seq 600); do [ -s "$OUT/ours-$m.json.log" ] && break; sleep 0.2; done
  OURS[$m]=$(head -1 "$OUT/ours-$m.json.log"); [ -n "${OURS[$m]}" ] || { echo "service ($m) did not start"; cat "$OUT/ours-$m.log"; exit 1; }
done
field() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "${OURS[$1]}" "$2"; }
BENCH=("${LOADGEN_CPU[@]}" node "$PEER_DIR/bench.mjs" --approve url --pending-polls 1 --n "$N" --warmup "$WARMUP" --users "$USERS" --alg ES256)
# CPU ticks per thread of a process (`tid ticks` lines), to split this service's CPU into its main thread (HTTP, the
# handlers, the SDK client), the store's thread (dynalite: the busiest other thread) and the rest (GC helpers, libuv).
ticks() { for t in /proc/"$1"/task/*; do echo "$(basename "$t") $(awk '{print $14+$15}' "$t/stat" 2>/dev/null || echo 0)"; done; }
# The shares of the process's CPU over the run, added to the load generator's JSON (its serverCpuMsPerFlow times them).
split_cpu() { # pid before-file after-file json
  node -e '
    const [pid, a, b, file] = process.argv.slice(1); const fs = require("node:fs");
    const read = (f) => Object.fromEntries(fs.readFileSync(f, "utf8").trim().split("\n").map((l) => l.split(" ").map(Number)));
    const before = read(a), after = read(b);
    const used = Object.entries(after).map(([t, v]) => [Number(t), v - (before[t] ?? 0)]);
    const total = used.reduce((s, [, v]) => s + v, 0) || 1;
    const main = used.find(([t]) => t === Number(pid))?.[1] ?? 0;
    const store = Math.max(0, ...used.filter(([t]) => t !== Number(pid)).map(([, v]) => v));
    const json = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const r of json.results) {
      const cpu = r.serverCpuMsPerFlow;
      Object.assign(r, { mainThreadCpuMsPerFlow: (cpu * main) / total, storeThreadCpuMsPerFlow: (cpu * store) / total,
        otherThreadsCpuMsPerFlow: (cpu * (total - main - store)) / total });
      console.log(`   CPU ms/flow: main thread ${r.mainThreadCpuMsPerFlow.toFixed(2)}, store thread ${r.storeThreadCpuMsPerFlow.toFixed(2)}, other threads ${r.otherThreadsCpuMsPerFlow.toFixed(2)}`);
    }
    fs.writeFileSync(file, JSON.stringify(json, null, 2));' "$1" "$2" "$3" "$4"
}
# Merges a round's per-level files into the one file per round that ratio.mjs reads.
merge() { # out files...
  node -e 'const [out, ...files] = process.argv.slice(1); const fs = require("node:fs");
    const all = files.map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
    fs.writeFileSync(out, JSON.stringify({ meta: all[0].meta, results: all.flatMap((j) => j.results) }, null, 2));' "$@"
}
IFS=, read -r -a levels <<< "$CONC"
mkdir -p "$OUT/levels"
for r in $(seq "$ROUNDS"); do
  # Level by level, each level interleaved: the peer in memory, this service (each mode), the peer on dynalite.
  for c in "${levels[@]}"; do
    "${BENCH[@]}" --c "$c" --base "$MEM_BASE" --server-pid "$MEM_PID" --client-id bench-es256 \
      --client-secret bench-es256-secret --label "peer-memory#$r" --json "$OUT/levels/peer-memory.$r.$c.json"
    # The modes in a different order each round (round r starts with mode r), so none always runs first.
    k=$(( (r - 1) % ${#modes[@]} )); rotated=("${modes[@]:$k}" "${modes[@]:0:$k}")
    for m in "${rotated[@]}"; do
      pid=$(field "$m" pid)
      ticks "$pid" > "$OUT/levels/ticks-before"
      "${BENCH[@]}" --c "$c" --base "$(field "$m" issuer)" --server-pid "$pid" --client-id "$(field "$m" client_id)" \
        --client-secret "$(field "$m" client_secret)" --approve-url "$(field "$m" approve_url)" \
        --label "ciba-service($m)#$r" --json "$OUT/levels/$m.$r.$c.json"
      ticks "$pid" > "$OUT/levels/ticks-after"
      split_cpu "$pid" "$OUT/levels/ticks-before" "$OUT/levels/ticks-after" "$OUT/levels/$m.$r.$c.json"
    done
    "${BENCH[@]}" --c "$c" --base "$DYN_BASE" --server-pid "$DYN_PID" --client-id bench-es256 \
      --client-secret bench-es256-secret --label "peer-dynalite#$r" --json "$OUT/levels/peer-dynalite.$r.$c.json"
  done
  for store in memory dynalite; do
    merge "$OUT/peer-$store.$r.json" $(for c in "${levels[@]}"; do echo "$OUT/levels/peer-$store.$r.$c.json"; done)
  done
  for m in "${modes[@]}"; do
    merge "$OUT/$m/memory/target.$r.json" $(for c in "${levels[@]}"; do echo "$OUT/levels/$m.$r.$c.json"; done)
    cp "$OUT/$m/memory/target.$r.json" "$OUT/$m/dynalite/target.$r.json"
    cp "$OUT/peer-memory.$r.json" "$OUT/$m/memory/peer.$r.json"
    cp "$OUT/peer-dynalite.$r.json" "$OUT/$m/dynalite/peer.$r.json"
  done
done
for m in "${modes[@]}"; do
  echo "## $m: against the peer on its in-memory store"; node "$PEER_DIR/ratio.mjs" "$OUT/$m/memory" | tee "$OUT/$m"/ratio-memory.md
  echo "## $m: against the peer on in-process dynalite"; node "$PEER_DIR/ratio.mjs" "$OUT/$m/dynalite" | tee "$OUT/$m"/ratio-dynalite.md
  echo "## $m: this service's CPU per flow by thread (medians across rounds; the peer's dynalite shares its thread)"
  node -e 'const fs = require("node:fs"); const dir = process.argv[1];
    const runs = fs.readdirSync(dir).filter((f) => /^target\.\d+\.json$/.test(f)).flatMap((f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8")).results);
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
    console.log("| c | flows/s | server CPU ms/flow | main thread | store thread (dynalite) | other threads |\n| --- | --- | --- | --- | --- | --- |");
    for (const c of [...new Set(runs.map((r) => r.c))]) { const R = runs.filter((r) => r.c === c); const m = (k) => med(R.map((r) => r[k])).toFixed(2);
      console.log(`| ${c} | ${m("flowsPerSec")} | ${m("serverCpuMsPerFlow")} | ${m("mainThreadCpuMsPerFlow")} | ${m("storeThreadCpuMsPerFlow")} | ${m("otherThreadsCpuMsPerFlow")} |`); }' \
    "$OUT/$m/memory" | tee "$OUT/$m"/cpu-threads.md
done
