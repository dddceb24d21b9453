#!/bin/bash
# `lockstep run` of two builds side by side: CPU time per request of the node process (utime + stime from
# /proc) over a fixed number of requests after a warm-up, builds alternated. Node on core 0, autocannon on
# core 1. Each build is a directory laid out like a checkout (bin/, dist/, guest-programs/, node_modules/).
#   scripts/run-cpu-ab.sh GUEST ROUNDS BUILD_A BUILD_B   e.g. scripts/run-cpu-ab.sh bench-trivial.js 5 /tmp/before /tmp/after
G=$1; R=$2; BUILDS="$3 $4"; PORT=${PORT:-18700}
AC="$(dirname "$0")/../node_modules/.bin/autocannon"
for r in $(seq 1 $R); do
 for B in $BUILDS; do
  D=$(mktemp -d)
  taskset -c 0 node $B/bin/lockstep.js run $B/guest-programs/$G --port $PORT --dir $D > /dev/null 2>&1 &
  PID=$!
  for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/_lockstep/status && break; sleep 0.1; done
  if [ "$G" = "bench-fetch.js" ] || [ "$G" = "bench-plain.js" ]; then OPTS="-m POST -H content-type=text/plain -b xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; else OPTS=""; fi
  taskset -c 1 $AC -c 8 -a 20000 $OPTS http://127.0.0.1:$PORT/ > /dev/null 2>&1
  T0=$(awk '{print $14+$15}' /proc/$PID/stat); S0=$(date +%s.%N)
  taskset -c 1 $AC -c 8 -a 30000 $OPTS http://127.0.0.1:$PORT/ > $D.ac 2>&1
  T1=$(awk '{print $14+$15}' /proc/$PID/stat); S1=$(date +%s.%N)
  N=$(grep -o "[0-9]*k\? requests in" $D.ac | head -1)
  echo "$G $B round $r: cpu_us_per_req $(echo "($T1-$T0)*10000/30000" | bc -l | cut -c1-6) wall_s $(echo "$S1-$S0" | bc | cut -c1-5) load $(cut -d' ' -f1 /proc/loadavg) ($N)"
  kill $PID; wait $PID 2>/dev/null; rm -rf $D $D.ac
 done
done
