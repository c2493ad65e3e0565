#!/bin/sh
# Each format and shape in a fresh process (see BENCH.md: later uploads in one
# process run slower on this driver stack), base binary then new one
# (BINS="gpubench" for the new one alone). Each decode line pair is the
# engine's fused forward pass and the unfused op sequence, in one process.
BINS=${BINS:-gpubench-base gpubench}
for b in $BINS; do
  echo "== $b"
  for f in F16 Q8_0 Q4_0 Q4_K; do
    for s in 4096x4096 4096x11008 11008x4096; do
      timeout 60 .gl/$b -formats $f -decode "" -batches "" -mv $s 2>&1 | grep "^matvec"
    done
  done
done
for b in $BINS; do
  for f in Q4_K Q8_0; do
    echo "== $b decode $f"
    timeout 150 .gl/$b -formats "" -batches "" -decode $f 2>&1 | grep "^decode.*tokens/s"
  done
done
