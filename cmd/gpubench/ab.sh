#!/bin/sh
# A/B decode (run from the repository root, binaries in .gl/): each run a
# fresh process, in the order BINS lists (interleave base and new: the card's
# speed drifts between processes, BENCH.md), for each of FORMATS; EXTRA
# adds flags (e.g. "-pos 1000" — gpubench builds before the fourth session
# lack -pos).
for f in ${FORMATS:-Q8_0 Q4_K}; do
  for b in ${BINS:-gpubench-base gpubench gpubench gpubench-base}; do
    echo "== $b $f $EXTRA"
    timeout 150 .gl/$b -formats "" -batches "" -decode $f -unfused=false $EXTRA 2>&1 | grep -E "tokens/s \(|per call|resident"
  done
done
