#!/bin/sh
# Runs each fuzz target named on the command line for FUZZ_SECONDS, FUZZ_JOBS at a time, from
# its committed seeds (tests/fuzz/corpus/<target>/) plus what earlier runs found
# (build-fuzz/corpus/<target>/, not committed).  One line per target, then the totals:
#   fuzz: virtio_blk: 123456 execs, 0 crashes (30 s)
#   fuzz: 22 targets, 1234567 execs, 0 crashes
# A crash leaves its input in build-fuzz/crashes/ and its report in build-fuzz/logs/<target>.log;
# the exit status is then 1.  Reproduce: build-fuzz/fuzz_<target> build-fuzz/crashes/<file>
set -eu
B=${FUZZ_BUILD:-build-fuzz}
S=${FUZZ_SECONDS:-30}
J=${FUZZ_JOBS:-2}
mkdir -p "$B/logs" "$B/crashes" "$B/results"

one() {
	t=$1
	mkdir -p "$B/corpus/$t" "tests/fuzz/corpus/$t"
	rc=0
	# -timeout: one input running longer than 20 s is a hang (a stalled device), a failure.
	"$B/fuzz_$t" -max_total_time="$S" -timeout=20 -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1 \
		-artifact_prefix="$B/crashes/$t-" "$B/corpus/$t" "tests/fuzz/corpus/$t" \
		>"$B/logs/$t.log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/logs/$t.log" | tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$B/logs/$t.log" | tail -n 1)
	crashes=0
	[ "$rc" = 0 ] || crashes=1
	echo "${execs:-0} $crashes" >"$B/results/$t"
	echo "fuzz: $t: ${execs:-0} execs, $crashes crashes (${S} s)"
	[ "$rc" = 0 ] || sed -n '/^==[0-9]*==ERROR\|^SUMMARY\|runtime error\|Test unit written/p' \
		"$B/logs/$t.log" | head -n 5 | sed 's/^/fuzz:   /'
}

if [ "${1:-}" = --one ]; then
	one "$2"
	exit 0
fi

for t in "$@"; do rm -f "$B/results/$t"; done
printf '%s\n' "$@" | xargs -P "$J" -I{} sh "$0" --one {}
n=0 execs=0 crashes=0
for t in "$@"; do
	set -- $(cat "$B/results/$t" 2>/dev/null || echo "0 1")
	n=$((n + 1)) execs=$((execs + $1)) crashes=$((crashes + $2))
done
echo "fuzz: $n targets, $execs execs, $crashes crashes"
[ "$crashes" = 0 ]
