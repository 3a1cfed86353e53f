#!/usr/bin/env bash
# Builds one fuzz target with libFuzzer and runs it against its corpus, then minimizes the corpus.
#
#   Fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# TARGET is Frames, Codec, Control, WAL or HTTP (or FuzzFrames, ...). New interesting inputs are
# gathered in .build-fuzz/work/TARGET and merged (libFuzzer -merge=1) with Fuzz/Corpus/TARGET into
# a minimal set that replaces Fuzz/Corpus/TARGET. A crash or a violated property stops the run and
# leaves the input in .build-fuzz/crashes/TARGET/ (see Fuzz/README.md for what to do with it).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 Frames|Codec|Control|WAL|HTTP SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
name=${1#Fuzz}
seconds=$2
shift 2
case $name in
    Frames | Codec | Control | WAL | HTTP) ;;
    *) echo "unknown target $name (Frames, Codec, Control, WAL, HTTP)" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$root/.build-fuzz
corpus=$root/Fuzz/Corpus/$name
work=$scratch/work/$name
crashes=$scratch/crashes/$name
mkdir -p "$corpus" "$work" "$crashes"

swift build -c release --package-path "$root" --product "Fuzz$name" --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
binary=$scratch/release/Fuzz$name
if [[ -z $(ls -A "$corpus") ]]; then
    "$binary" --write-seeds "$corpus"
fi

# Swift's runtime backtracer would catch the trap of a violated property and end the process
# before libFuzzer saves the input: leave the signal to libFuzzer.
export SWIFT_BACKTRACE=enable=no

# New inputs go to $work (the first directory); the kept corpus is read, not written.
# -timeout: an input that takes 10 s is a hang, reported like a crash.
status=0
"$binary" "$work" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$@" || status=$?
if [[ $status -ne 0 ]]; then
    echo "Fuzz$name stopped with status $status; the input is in $crashes/ (Fuzz/README.md: adding a crash)" >&2
    exit "$status"
fi

# Keep a small corpus with the same coverage: merge (set cover) the old corpus and the new inputs into
# an empty directory, then put it in place of the old one.
merged=$scratch/merged/$name
rm -rf "$merged"
mkdir -p "$merged"
"$binary" -set_cover_merge=1 -max_len=4096 "$merged" "$corpus" "$work"
# Inputs kept by name (regressions such as long-address-join, seeds) stay whatever their coverage.
for file in "$corpus"/*; do
    base=$(basename "$file")
    [[ $base =~ ^[0-9a-f]{40}$ ]] || cp "$file" "$merged/$base"
done
rm -rf "$corpus"
mv "$merged" "$corpus"
echo "Fuzz$name: corpus $corpus now holds $(ls "$corpus" | wc -l) files, $(du -sk "$corpus" | cut -f1) KiB"
