#!/bin/sh
# out_of_memory.sh GRADC MODEL — running out of memory is an error, not a crash: under a
# 3 GB address-space limit, `gradc check` on a model whose float64 reference values do
# not fit must exit 1 with "MODEL: error: out of memory" (no signal, no abort).
# Not run under AddressSanitizer, which needs far more address space than the limit.
set -u
ulimit -v 3000000 || { echo "out_of_memory.sh: cannot set the limit"; exit 1; }
err=$("$1" check "$2" 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: exit status $rc (expected 1): $err"; exit 1; }
case $err in
*"$2: error: out of memory"*) echo "ok: $err" ;;
*) echo "FAIL: no 'out of memory' message: $err"; exit 1 ;;
esac
