#!/bin/bash
# `lockstep run` of two (or more) builds side by side, time-based: requests/s and the node's CPU time per
# request (utime + stime from /proc, 10 ms ticks) over SECONDS after a WARM-second warm-up, for each
# guest, builds alternated (the order reversed every other round). Node on core 0, autocannon (8
# connections, GET /) on core 1. Prints one line a run: build guest round req/s cpu_us_per_req load.
#   scripts/run-rps-ab.sh ROUNDS WARM SECONDS GUESTS name=BUILD ...   e.g. scripts/run-rps-ab.sh 5 2 5 bench-write.js,bench-trivial.js before=/tmp/before after=.
# A build is a directory laid out like a checkout (bin/, dist/, guest-programs/, node_modules/).
REPS=$1; WARM=$2; SECS=$3; GUESTS=$4; shift 4
AC="$(cd "$(dirname "$0")/.." && pwd)/node_modules/.bin/autocannon"
echo "# $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) warm ${WARM}s measure ${SECS}s, node on core 0, autocannon -c 8 on core 1"
for r in $(seq $REPS); do
 builds=("$@"); (( r % 2 == 0 )) && builds=($(printf '%s\n' "$@" | tac))
 for G in ${GUESTS//,/ }; do
 for spec in "${builds[@]}"; do
  name=${spec%%=*}; B=${spec#*=}; D=$(mktemp -d); PORT=$((30000 + RANDOM % 5000))
  taskset -c 0 node $B/bin/lockstep.js run $B/guest-programs/$G --port $PORT --dir $D > /dev/null 2>&1 &
  PID=$!
  for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/_lockstep/status && break; sleep 0.1; done
  taskset -c 1 $AC -c 8 -d $WARM http://127.0.0.1:$PORT/ > /dev/null 2>&1
  T0=$(awk '{print $14+$15}' /proc/$PID/stat)
  N=$(taskset -c 1 $AC -c 8 -d $SECS -j http://127.0.0.1:$PORT/ 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).requests.total))')
  T1=$(awk '{print $14+$15}' /proc/$PID/stat)
  echo "$name $G $r $(( N / SECS )) $(( (T1-T0)*10000000 / N / 1000 )) $(cut -d' ' -f1 /proc/loadavg)"
  kill $PID; wait $PID 2>/dev/null; rm -rf $D
 done; done
done
