#!/usr/bin/env bash
# fuzz.sh: run every go test -fuzz target of the module for FUZZTIME each
# (default 50000x executions; CI uses the default, longer runs are for
# people). Fails on the first crasher, which go test saves under the
# package's testdata/fuzz.
#
# The default is a count, not a duration: with a duration go1.26's fuzz
# coordinator can report its own stop as "context deadline exceeded"
# (golang/go#75804, fixed in go1.27), which is not a crasher.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-50000x}
n=0
while IFS= read -r file; do
	pkg=./$(dirname "$file")
	for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "fuzz: $pkg $t for $FUZZTIME"
		go test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 500x "$pkg" >/tmp/fuzz.$$.log 2>&1 || {
			cat /tmp/fuzz.$$.log
			rm -f /tmp/fuzz.$$.log
			echo "fuzz: $pkg $t FAILED"
			exit 1
		}
		n=$((n + 1))
	done
done < <(grep -rl '^func Fuzz' --include='*_test.go' . | sed 's|^\./||' | sort)
rm -f /tmp/fuzz.$$.log
echo "fuzz: $n targets ran $FUZZTIME each without failure"
