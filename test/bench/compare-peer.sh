#!/usr/bin/env bash
# Side by side with node-oidc-provider (../shared/bench/oidc-provider-peer, installed with `npm ci` in a copy):
# interleaved rounds of the peer's own load generator (bench.mjs, the peer's flow shape: bc-authorize, one pending
# poll, approval through an approve URL, the redeeming poll, ID token verified) against
#   - the peer on its in-memory store, - the peer on in-process dynalite, - this service (test/bench/bench.ts --serve:
#   embedded dynalite in memory, approval through the store via test/bench/serve.ts's hook), once per embedded store
#   mode in MODES (CIBA_EMBEDDED_STORE: `worker`, the default of `npm start`; `direct`; ...), each its own server,
# then target/peer ratios per store (the peer's ratio.mjs), per mode in $OUT/{mode}/. The CPU speed of this kind of
# VM drifts 30-50 % within minutes: only interleaved rounds compare. The service runs without the bench's meter and
# store counters (BENCH_METER=0, serve.ts), as `npm start` runs it.
#
#   PEER_DIR=/tmp/peer [ROUNDS=3] [N=1000] [WARMUP=100] [CONC=1,8,32] [USERS=1000] [MODES=worker,direct] \
#     bash test/bench/compare-peer.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PEER_DIR:?set PEER_DIR to an installed copy of the peer (npm ci)}"
ROUNDS=${ROUNDS:-3}; N=${N:-1000}; WARMUP=${WARMUP:-100}; CONC=${CONC:-1,8,32}; USERS=${USERS:-1000}
MODES=${MODES:-worker}
OUT=${OUT:-bench-results/compare-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
start_peer() { # store -> sets PEER_BASE, PEER_PID
  node "$PEER_DIR/server.mjs" --port 0 --approve hook --store "$1" > "$OUT/peer-$1.log" 2>&1 & PEER_PID=$!; pids+=("$PEER_PID")
  for _ in $(seq 300); do PEER_BASE=$(grep -o 'READY .*' "$OUT/peer-$1.log" | cut -d' ' -f2 || true); [ -n "$PEER_BASE" ] && return; sleep 0.1; done
  echo "peer ($1) did not start"; cat "$OUT/peer-$1.log"; exit 1
}
start_peer memory; MEM_BASE=$PEER_BASE; MEM_PID=$PEER_PID
start_peer dynalite; DYN_BASE=$PEER_BASE; DYN_PID=$PEER_PID
IFS=, read -r -a modes <<< "$MODES"
declare -A OURS
for m in "${modes[@]}"; do
  mkdir -p "$OUT/$m/memory" "$OUT/$m/dynalite"
  CIBA_EMBEDDED_STORE=$m BENCH_METER=0 node --import tsx test/bench/bench.ts --serve --users "$USERS" \
    > "$OUT/ours-$m.json.log" 2> "$OUT/ours-$m.log" & pids+=($!)
  for _ in $(seq 600); do [ -s "$OUT/ours-$m.json.log" ] && break; sleep 0.2; done
  OURS[$m]=$(head -1 "$OUT/ours-$m.json.log"); [ -n "${OURS[$m]}" ] || { echo "service ($m) did not start"; cat "$OUT/ours-$m.log"; exit 1; }
done
field() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "${OURS[$1]}" "$2"; }
BENCH=(node "$PEER_DIR/bench.mjs" --approve url --pending-polls 1 --n "$N" --warmup "$WARMUP" --c "$CONC" --users "$USERS" --alg ES256)
for r in $(seq "$ROUNDS"); do
  "${BENCH[@]}" --base "$MEM_BASE" --server-pid "$MEM_PID" --client-id bench-es256 --client-secret bench-es256-secret \
    --label "peer-memory#$r" --json "$OUT/peer-memory.$r.json"
  for m in "${modes[@]}"; do
    "${BENCH[@]}" --base "$(field "$m" issuer)" --server-pid "$(field "$m" pid)" --client-id "$(field "$m" client_id)" \
      --client-secret "$(field "$m" client_secret)" --approve-url "$(field "$m" approve_url)" --label "ciba-service($m)#$r" \
      --json "$OUT/$m/memory/target.$r.json"
    cp "$OUT/$m/memory/target.$r.json" "$OUT/$m/dynalite/target.$r.json"
  done
  "${BENCH[@]}" --base "$DYN_BASE" --server-pid "$DYN_PID" --client-id bench-es256 --client-secret bench-es256-secret \
    --label "peer-dynalite#$r" --json "$OUT/peer-dynalite.$r.json"
  for m in "${modes[@]}"; do
    cp "$OUT/peer-memory.$r.json" "$OUT/$m/memory/peer.$r.json"
    cp "$OUT/peer-dynalite.$r.json" "$OUT/$m/dynalite/peer.$r.json"
  done
done
for m in "${modes[@]}"; do
  echo "## $m: against the peer on its in-memory store"; node "$PEER_DIR/ratio.mjs" "$OUT/$m/memory" | tee "$OUT/$m/ratio-memory.md"
  echo "## $m: against the peer on in-process dynalite"; node "$PEER_DIR/ratio.mjs" "$OUT/$m/dynalite" | tee "$OUT/$m/ratio-dynalite.md"
done
