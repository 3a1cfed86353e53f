#!/usr/bin/env bash
# Instructions per write of the KVStore work one write costs (independent of machine load):
# `wraft-kvcodec-bench` encodes a 256-byte PUT as the node taking the request does
# (KVCommand.encoded()), then decodes and applies it as every replica does (KVStore.apply), under
# callgrind. Prints instructions per write in total and for encode, apply and decode.
# (The whole node cannot be counted this way: valgrind 3.19 dies in libdispatch's signal thread
# of any async-main Swift program, wraft included.)
# Usage: bench/callgrind-per-write.sh [WRITES] [BINARY]   (needs valgrind; builds the release
#        product unless BINARY is given). To compare an older commit, build the same target there
#        (add WRaftKVCodecBench/main.swift and its target to that Package.swift) and pass BINARY.
set -euo pipefail
cd "$(dirname "$0")/.."
writes=${1:-20000}
binary=${2:-}
if [ -z "$binary" ]; then
  swift build -c release --product wraft-kvcodec-bench >/dev/null
  binary=.build/release/wraft-kvcodec-bench
fi
out=$(mktemp /tmp/callgrind-per-write.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" "$writes" 2>/dev/null
annotated=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null)
per_write() {  # label, regular expression for the function's line
  awk -v label="$1" -v pattern="$2" -v writes="$writes" '
    $0 ~ pattern { gsub(",", "", $1); printf "  %-40s %8.0f Ir per write\n", label, $1 / writes; exit }' <<<"$annotated"
}
echo "$binary, $writes writes (callgrind file $out):"
per_write "total (startup included)" "PROGRAM TOTALS"
per_write "KVCommand.encoded()" 'KVCommandV7encoded'
per_write "KVStore.apply (decode + execute)" 'KVStoreAAV5apply'
per_write "KVCommand(decoding:)" 'KVCommandV8decoding'
