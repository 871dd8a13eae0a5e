#!/usr/bin/env bash
# Side by side with node-oidc-provider (../shared/bench/oidc-provider-peer, installed with `npm ci` in a copy):
# interleaved rounds of the peer's own load generator (bench.mjs, the peer's flow shape: bc-authorize, one pending
# poll, approval through an approve URL, the redeeming poll, ID token verified) against
#   - the peer on its in-memory store, - the peer on in-process dynalite, - this service (test/bench/bench.ts --serve:
#   embedded dynalite in memory, approval through the store via test/bench/serve.ts's hook),
# then target/peer ratios per store (the peer's ratio.mjs). The CPU speed of this kind of VM drifts 30-50 % within
# minutes: only interleaved rounds compare.
#
#   PEER_DIR=/tmp/peer [ROUNDS=3] [N=1000] [WARMUP=100] [CONC=1,8,32] [USERS=1000] bash test/bench/compare-peer.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PEER_DIR:?set PEER_DIR to an installed copy of the peer (npm ci)}"
ROUNDS=${ROUNDS:-3}; N=${N:-1000}; WARMUP=${WARMUP:-100}; CONC=${CONC:-1,8,32}; USERS=${USERS:-1000}
OUT=${OUT:-bench-results/compare-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT/memory" "$OUT/dynalite"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
start_peer() { # store -> sets PEER_BASE, PEER_PID
  node "$PEER_DIR/server.mjs" --port 0 --approve hook --store "$1" > "$OUT/peer-$1.log" 2>&1 & PEER_PID=$!; pids+=("$PEER_PID")
  for _ in $(seq 300); do PEER_BASE=$(grep -o 'READY .*' "$OUT/peer-$1.log" | cut -d' ' -f2 || true); [ -n "$PEER_BASE" ] && return; sleep 0.1; done
  echo "peer ($1) did not start"; cat "$OUT/peer-$1.log"; exit 1
}
start_peer memory; MEM_BASE=$PEER_BASE; MEM_PID=$PEER_PID
start_peer dynalite; DYN_BASE=$PEER_BASE; DYN_PID=$PEER_PID
node --import tsx test/bench/bench.ts --serve --users "$USERS" > "$OUT/ours.json.log" 2> "$OUT/ours.log" & pids+=($!)
for _ in $(seq 600); do [ -s "$OUT/ours.json.log" ] && break; sleep 0.2; done
OURS=$(head -1 "$OUT/ours.json.log"); [ -n "$OURS" ] || { echo "service did not start"; cat "$OUT/ours.log"; exit 1; }
field() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "$OURS" "$1"; }
BENCH=(node "$PEER_DIR/bench.mjs" --approve url --pending-polls 1 --n "$N" --warmup "$WARMUP" --c "$CONC" --users "$USERS" --alg ES256)
for r in $(seq "$ROUNDS"); do
  "${BENCH[@]}" --base "$MEM_BASE" --server-pid "$MEM_PID" --client-id bench-es256 --client-secret bench-es256-secret \
    --label "peer-memory#$r" --json "$OUT/memory/peer.$r.json"
  "${BENCH[@]}" --base "$(field issuer)" --server-pid "$(field pid)" --client-id "$(field client_id)" \
    --client-secret "$(field client_secret)" --approve-url "$(field approve_url)" --label "ciba-service#$r" --json "$OUT/memory/target.$r.json"
  "${BENCH[@]}" --base "$DYN_BASE" --server-pid "$DYN_PID" --client-id bench-es256 --client-secret bench-es256-secret \
    --label "peer-dynalite#$r" --json "$OUT/dynalite/peer.$r.json"
  cp "$OUT/memory/target.$r.json" "$OUT/dynalite/target.$r.json"
done
echo "## against the peer on its in-memory store"; node "$PEER_DIR/ratio.mjs" "$OUT/memory" | tee "$OUT/ratio-memory.md"
echo "## against the peer on in-process dynalite"; node "$PEER_DIR/ratio.mjs" "$OUT/dynalite" | tee "$OUT/ratio-dynalite.md"
