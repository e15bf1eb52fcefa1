#!/usr/bin/env bash
# scripts/ab.sh REV [sweep args...]: is the working tree slower than revision REV, here and now?
#
# 1. Builds REV (side A) in a temporary git worktree with its own target folder (target/ab/),
#    and the working tree (side B) as usual; copies both `lab` binaries aside, so a rebuild
#    during the run cannot swap one.
# 2. Runs quick sweeps interleaved A B A B ... for AB_ROUNDS rounds (default 5), each one
#    `lab sweep --quick --repetitions 1 --out ...` plus the sweep args given (e.g.
#    `--workloads hash` or `--config FILE`). Interleaving, not one sweep per side with
#    `--repetitions 5`: a sweep runs a point's repetitions back to back and one side entirely
#    before the other, so anything that drifts on a shared runner (a neighbour's job, thermal
#    limits) would land on one side only and look like a change, while its repetitions look
#    tight. Alternating rounds spreads each side over the whole job, so the drift becomes
#    spread within each side, which the statistics see.
# 3. `lab baseline` pools side A's rounds (one sweep, one machine: their repetitions are put
#    together; `lab merge` is for shards and rightly refuses points measured twice), and
#    `lab check` pools side B's rounds against it and prints Markdown.
#
# Exit status: lab check's (0 no regression, 1 a regression or a failed invariant, 2 an error).
# AB_KEEP=1 keeps the work folder (results and baseline) and prints where it is.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
root=$(git rev-parse --show-toplevel)
rev=$(git -C "$root" rev-parse --verify --quiet "$1^{commit}") || {
  echo "ab.sh: error: $1 is not a revision of $root; give a commit, branch or tag, like HEAD~1" >&2
  exit 2
}
shift
rounds=${AB_ROUNDS:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: error: AB_ROUNDS=$rounds is not a positive whole number" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/looplab-ab.XXXXXX")
worktree="$work/src-a"
cleanup() {
  if [[ -d $worktree ]]; then
    git -C "$root" worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
  fi
  git -C "$root" worktree prune 2>/dev/null || true
  if [[ -n ${AB_KEEP:-} ]]; then
    echo "ab.sh: results kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== A: $rev, built in $worktree (target $root/target/ab)" >&2
git -C "$root" worktree add --detach --quiet "$worktree" "$rev"
cargo build --release --quiet --bin lab --manifest-path "$worktree/Cargo.toml" --target-dir "$root/target/ab"
cp "$root/target/ab/release/lab" "$work/lab-a"
echo "== B: the working tree" >&2
cargo build --release --quiet --bin lab --manifest-path "$root/Cargo.toml"
cp "$root/target/release/lab" "$work/lab-b"

a_dirs=() b_dirs=()
for round in $(seq 1 "$rounds"); do
  for side in a b; do
    echo "== round $round of $rounds: ${side^^}" >&2
    out="$work/$side-$round"
    "$work/lab-$side" sweep --quick --repetitions 1 --quiet --out "$out" "$@" >/dev/null
    if [[ $side == a ]]; then a_dirs+=("$out"); else b_dirs+=("$out"); fi
  done
done

"$work/lab-b" baseline "${a_dirs[@]}" --save "$work/baseline-a.json" >&2
status=0
"$work/lab-b" check "${b_dirs[@]}" --baseline "$work/baseline-a.json" --markdown || status=$?
exit "$status"
