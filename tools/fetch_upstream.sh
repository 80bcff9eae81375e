#!/usr/bin/env bash
# tools/fetch_upstream.sh GIT_DIR [REV]: unpacks the VideoSys sources (the videosys/ package, its
# LICENSE and requirements.txt; not the docs, examples or images) from a git directory (a bare
# mirror of github.com/NUS-HPC-AI-Lab/VideoSys, or a clone's .git) into .upstream/VideoSys, which
# git ignores, for tools/torch_baseline.py to import at run time (its mode "upstream"). REV
# defaults to HEAD. Not a download: it reads only the directory it is given, and nothing it
# unpacks is committed or copied into the repository.
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 GIT_DIR [REV]   (e.g. /work/.mirror/NUS-HPC-AI-Lab+VideoSys/repo)" >&2
  exit 2
fi
rev=${2:-HEAD}
if ! src=$(cd "$1" 2>/dev/null && pwd); then # absolute: the script moves to the repository root
  echo "$0: error: no directory $1" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
dst=.upstream/VideoSys
if ! commit=$(git --git-dir="$src" rev-parse --verify --quiet "$rev^{commit}" 2>/dev/null); then
  echo "$0: error: $src has no commit $rev" >&2
  exit 1
fi
probe=videosys/models/transformers/open_sora_transformer_3d.py
if ! git --git-dir="$src" cat-file -e "$commit:$probe" 2>/dev/null; then
  echo "$0: error: $src at $rev does not look like VideoSys (no $probe)" >&2
  exit 1
fi
# unpack beside the destination, then swap, so an interrupted run leaves the old tree intact
mkdir -p .upstream
tmp=$(mktemp -d .upstream/.VideoSys.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
git --git-dir="$src" archive "$commit" videosys LICENSE requirements.txt | tar -x -C "$tmp"
echo "$commit" > "$tmp/.commit"
rm -rf "$dst"
mv "$tmp" "$dst"
trap - EXIT
echo "fetch_upstream: $dst at $commit ($(git --git-dir="$src" log -1 --format='%cs %s' "$commit"))"
