#!/bin/bash
# A pair of each build side by side at a fixed request rate (or flat out: RATE=0), builds alternated:
# the CPU time of each process (utime + stime, /proc/<pid>/stat, 10 ms ticks) and the secondary's write
# system calls (/proc/<pid>/io syscw: the frames it sends, acks and replay reports) per request, over the
# measured window after a 2 s warm-up. Primary on core 0, secondary and autocannon (8 connections) on
# core 1. Numbers that do not depend on how busy the machine is: syscalls per request; CPU per request
# at a fixed rate (flat out, a slower run amortizes fixed costs over fewer requests).
#   scripts/pair-frames-ab.sh GUEST RATE SECONDS ROUNDS name=BUILD ...   e.g. scripts/pair-frames-ab.sh bench-trivial.js 0 5 5 before=/tmp/before after=.
# A build is a directory laid out like a checkout (bin/, dist/, guest-programs/, node_modules/).
# Both nodes get a 2 s failure timeout (a loaded machine made default pairs fail over by themselves);
# a round whose secondary was not following to the end is printed as FAILED and left out.
GUEST=$1; RATE=$2; SECS=$3; ROUNDS=$4; shift 4
AC="$(cd "$(dirname "$0")/.." && pwd)/node_modules/.bin/autocannon"
RATEOPT=""; [ "$RATE" != "0" ] && RATEOPT="-R $RATE"
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
syscw() { awk '/^syscw/ {print $2}' /proc/$1/io; }
one() {  # BUILD -> "requests primary_cpu_ms secondary_cpu_ms secondary_syscw"
  local B=$1 D P L S PP SP
  D=$(mktemp -d); P=$((20000 + RANDOM % 10000)); L=$((P+1)); S=$((P+2))
  taskset -c 0 node $B/bin/lockstep.js primary $B/guest-programs/$GUEST --port $P --log-listen 127.0.0.1:$L --dir $D --failure-timeout-ms 2000 2>/dev/null &
  PP=$!
  for i in $(seq 100); do curl -s -o /dev/null localhost:$P/_lockstep/status && break; sleep 0.1; done
  taskset -c 1 node $B/bin/lockstep.js secondary $B/guest-programs/$GUEST --port $S --primary ws://127.0.0.1:$L --dir $D --log-listen 127.0.0.1:0 --failure-timeout-ms 2000 2>/dev/null &
  SP=$!
  for i in $(seq 150); do curl -s localhost:$P/_lockstep/status | grep -q '"protection":"protected"' && break; sleep 0.1; done
  taskset -c 1 $AC -c 8 -d 2 $RATEOPT http://127.0.0.1:$P/ >/dev/null 2>&1
  local a0 b0 w0 a1 b1 w1 n
  a0=$(cpu $PP); b0=$(cpu $SP); w0=$(syscw $SP)
  n=$(taskset -c 1 $AC -c 8 -d $SECS $RATEOPT -j http://127.0.0.1:$P/ 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).requests.total))')
  a1=$(cpu $PP); b1=$(cpu $SP); w1=$(syscw $SP)
  if curl -s localhost:$S/_lockstep/status | grep -q '"state":"following"'; then echo "$n $(( (a1-a0)*10 )) $(( (b1-b0)*10 )) $((w1-w0))"; else echo "0 0 0 0"; fi
  kill -TERM $SP; sleep 0.5; kill -TERM $PP; wait $SP $PP 2>/dev/null; rm -rf $D
}
echo "# $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg); $GUEST, rate ${RATE:-flat out} (0: flat out), ${SECS}s after 2 s warm-up"
echo "# build round req/s primary_us/req secondary_us/req secondary_syscalls/req load"
for r in $(seq $ROUNDS); do
  builds=("$@"); (( r % 2 == 0 )) && builds=($(printf '%s\n' "$@" | tac))
  for spec in "${builds[@]}"; do
    read n a s w <<< "$(one ${spec#*=})"
    awk -v name="${spec%%=*}" -v r=$r -v n=$n -v a=$a -v s=$s -v w=$w -v secs=$SECS -v load="$(cut -d' ' -f1 /proc/loadavg)" \
      'BEGIN { if (n > 0) printf "%s %d %.0f %.1f %.1f %.2f %s\n", name, r, n/secs, a*1000/n, s*1000/n, w/n, load; else printf "%s %d FAILED (the secondary was not following at the end)\n", name, r }'
  done
done
