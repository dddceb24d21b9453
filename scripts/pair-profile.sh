#!/bin/bash
# CPU profiles of `lockstep run` and of a pair (primary and secondary) under the same offered load, pinned
# as the bench pins (node / primary on core 0; secondary and autocannon on core 1), then the primary's
# and the secondary's profile each set against run's, per request, inside the measured window.
#   scripts/pair-profile.sh [GUEST] [RATE req/s, 0: closed loop] [SECONDS] [CONNECTIONS]
#   e.g. scripts/pair-profile.sh bench-trivial.js 5000 6 8     (npm run build first)
#   POST_BYTES=4096 scripts/pair-profile.sh bench-body.js 1500    POST /echo-length with a 4 KB body
set -e
cd "$(dirname "$0")/.."
G=${1:-bench-trivial.js}; RATE=${2:-5000}; S=${3:-6}; C=${4:-8}
OUT=$(mktemp -d /tmp/lockstep-pair-profile.XXXX)
AC=node_modules/.bin/autocannon
RATE_ARGS=""; [ "$RATE" != 0 ] && RATE_ARGS="-R $RATE"
URL=http://127.0.0.1:18730/; REQUEST_ARGS=()
if [ -n "$POST_BYTES" ]; then URL=http://127.0.0.1:18730/echo-length; REQUEST_ARGS=(-m POST -b "$(head -c "$POST_BYTES" /dev/zero | tr '\0' b)"); fi
ready() { for i in $(seq 1 100); do curl -s "127.0.0.1:$1/_lockstep/status" | grep -q "$2" && return 0; sleep 0.2; done; echo "not ready: $2" >&2; exit 1; }
load() { # warm-up, then the measured window; prints the requests answered in it
  taskset -c 1 $AC -c $C -d 2 $RATE_ARGS "${REQUEST_ARGS[@]}" $URL > /dev/null 2>&1
  taskset -c 1 $AC -c $C -d $S $RATE_ARGS "${REQUEST_ARGS[@]}" --json $URL 2>/dev/null | node -e 'console.log(JSON.parse(require("fs").readFileSync(0))["2xx"])'
}
D=$(mktemp -d)
taskset -c 0 node --cpu-prof --cpu-prof-dir=$OUT/run bin/lockstep.js run guest-programs/$G --dir $D --port 18730 > /dev/null 2>&1 & P=$!
ready 18730 '"role"'
RUN_REQUESTS=$(load); kill -INT $P; wait $P || true; rm -rf $D
D=$(mktemp -d)
taskset -c 0 node --cpu-prof --cpu-prof-dir=$OUT/primary bin/lockstep.js primary guest-programs/$G --dir $D --port 18730 --log-listen 127.0.0.1:18731 > /dev/null 2>&1 & P=$!
ready 18730 '"role"'
taskset -c 1 node --cpu-prof --cpu-prof-dir=$OUT/secondary bin/lockstep.js secondary guest-programs/$G --dir $D --port 18732 --primary ws://127.0.0.1:18731 > /dev/null 2>&1 & SEC=$!
ready 18730 '"protection":"protected"'
PAIR_REQUESTS=$(load); kill -INT $SEC; sleep 0.5; kill -INT $P; wait $P $SEC || true; rm -rf $D
echo "pair-profile: $G, $C connections, ${RATE_ARGS:-closed loop}, ${S} s window; run answered $RUN_REQUESTS, the pair $PAIR_REQUESTS; profiles in $OUT"
echo "== A: lockstep run, B: the primary"
node scripts/cpuprofile-diff.mjs $OUT/run/*.cpuprofile $RUN_REQUESTS $OUT/primary/*.cpuprofile $PAIR_REQUESTS $S 35
echo "== A: the primary, B: the secondary"
node scripts/cpuprofile-diff.mjs $OUT/primary/*.cpuprofile $PAIR_REQUESTS $OUT/secondary/*.cpuprofile $PAIR_REQUESTS $S 35
