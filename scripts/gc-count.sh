#!/bin/bash
# V8 garbage collections of a node under a fixed load of 4 KB POSTs (bench-body.js): Mark-Compacts and
# scavenges inside a measured window (`node --trace-gc`), and the node's CPU per request. The node is
# pinned to core 0, autocannon (and a secondary) to core 1.
#   scripts/gc-count.sh MODE [RATE] [SECONDS] [-- extra node flags]     (npm run build first)
#   MODE: run | run-record | primary-alone | pair
#   e.g. scripts/gc-count.sh pair 1500 5;  scripts/gc-count.sh primary-alone 1500 5 -- --checkpoint-every-bytes 0
set -e
cd "$(dirname "$0")/.."
MODE=${1:?mode: run, run-record, primary-alone or pair}; RATE=${2:-1500}; S=${3:-5}
shift $(( $# < 3 ? $# : 3 )); [ "$1" = "--" ] && shift
EXTRA=("$@")
D=$(mktemp -d); LOG=$D/node.log
BODY=$(head -c 4096 /dev/zero | tr '\0' b)
URL=http://127.0.0.1:18780/echo-length
AC=node_modules/.bin/autocannon
case $MODE in
  run) ARGS=(run guest-programs/bench-body.js) ;;
  run-record) ARGS=(run guest-programs/bench-body.js --record $D/log) ;;
  primary-alone|pair) ARGS=(primary guest-programs/bench-body.js --log-listen 127.0.0.1:18781) ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
taskset -c 0 node --trace-gc bin/lockstep.js "${ARGS[@]}" --dir $D/dir --port 18780 "${EXTRA[@]}" > $LOG 2>&1 & NODE=$!
trap 'kill $NODE ${SEC:-} 2>/dev/null; wait 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 1 100); do curl -s 127.0.0.1:18780/_lockstep/status > /dev/null && break; sleep 0.2; done
if [ "$MODE" = pair ]; then
  taskset -c 1 node bin/lockstep.js secondary guest-programs/bench-body.js --dir $D/dir --port 18782 --primary ws://127.0.0.1:18781 > /dev/null 2>&1 & SEC=$!
  for i in $(seq 1 100); do curl -s 127.0.0.1:18780/_lockstep/status | grep -q '"protection":"protected"' && break; sleep 0.2; done
fi
taskset -c 1 $AC -c 8 -d 2 -R $RATE -m POST -b "$BODY" $URL > /dev/null 2>&1
FROM=$(wc -l < $LOG); CPU0=$(awk '{print $14+$15}' /proc/$NODE/stat)
N=$(taskset -c 1 $AC -c 8 -d $S -R $RATE -m POST -b "$BODY" --json $URL 2>/dev/null | node -e 'console.log(JSON.parse(require("fs").readFileSync(0))["2xx"])')
CPU1=$(awk '{print $14+$15}' /proc/$NODE/stat)
WINDOW=$(tail -n +$((FROM + 1)) $LOG)
TICK_US=$((1000000 / $(getconf CLK_TCK)))
echo "gc-count: $MODE${EXTRA[*]:+ ${EXTRA[*]}}, $RATE req/s offered for $S s: $N answered; Mark-Compacts $(grep -c Mark-Compact <<< "$WINDOW" || true), scavenges $(grep -c Scavenge <<< "$WINDOW" || true); node CPU $(( (CPU1 - CPU0) * TICK_US / N )) us per request (all threads)"
