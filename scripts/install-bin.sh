#!/usr/bin/env bash
# Puts `strata` on PATH from this clone: writes PREFIX/bin/strata, a small sh wrapper that runs
# this clone's packages/cli/dist/bin.js with the Node that ran the install (or `node` on PATH if
# that one is gone). Paths on the command line are then relative to where you stand, and a later
# `git pull && pnpm build` updates the command without installing again.
#
#   scripts/install-bin.sh [--prefix DIR] [--force]     install or update (PREFIX/bin/strata)
#   scripts/install-bin.sh --uninstall [--prefix DIR]   remove the wrapper again
#
# PREFIX defaults to ~/.local (a user) or /usr/local (root); the PREFIX environment variable works
# too. Run it again at any time: it rewrites its own wrapper and refuses to replace anything else
# at PREFIX/bin/strata unless --force is given.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

die() {
  printf 'install-bin.sh: %s\n' "$1" >&2
  exit "${2:-1}"
}

# The first line after the shebang of every wrapper this script writes: how it recognises its own.
MARKER='# strata wrapper written by scripts/install-bin.sh'

prefix=${PREFIX:-}
action=install
force=0
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || die '--prefix needs a directory' 2; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --uninstall) action=uninstall; shift ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" 2 ;;
  esac
done
if [ -z "$prefix" ]; then
  if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix=${HOME:?HOME is not set; give --prefix DIR}/.local; fi
fi
case $prefix in
  /*) ;;
  *) prefix=$(pwd -P)/$prefix ;;
esac
bindir=${prefix%/}/bin
target=$bindir/strata

# True when $1 is a wrapper this script wrote (for any clone).
is_ours() {
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  case $(sed -n 2p "$1") in "$MARKER"*) return 0 ;; *) return 1 ;; esac
}

if [ "$action" = uninstall ]; then
  if [ ! -e "$target" ] && [ ! -L "$target" ]; then
    echo "strata: nothing to remove at $target"
    exit 0
  fi
  is_ours "$target" || die "$target was not written by install-bin.sh; leaving it alone"
  rm -f "$target"
  echo "strata: removed $target"
  exit 0
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cli=$repo/packages/cli/dist/bin.js
[ -f "$cli" ] || die "$cli does not exist: run 'pnpm install && pnpm build' in $repo first"
node=$(command -v node) || die 'node is not on PATH (strata needs Node >= 20.19)'
node=$(readlink -f "$node")
"$node" -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 19)) { console.error(`install-bin.sh: strata needs Node >= 20.19; ${process.execPath} is ${process.version}`); process.exit(1); }
' || exit 1

if [ -e "$target" ] || [ -L "$target" ]; then
  if ! is_ours "$target" && [ "$force" != 1 ]; then
    die "$target exists and was not written by install-bin.sh; move it away, or pass --force to replace it"
  fi
fi

# Single-quoted for sh, with any ' in the path closed, escaped and reopened.
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

mkdir -p "$bindir"
temp=$(mktemp "$bindir/.strata.XXXXXX")
trap 'rm -f "$temp"' EXIT
cat >"$temp" <<EOF
#!/bin/sh
$MARKER for the clone at $(quote "$repo").
# Remove it with: $(quote "$repo/scripts/install-bin.sh") --uninstall --prefix $(quote "$prefix")
node=$(quote "$node")
[ -x "\$node" ] || node=node
exec "\$node" --max-semi-space-size=1 $(quote "$cli") "\$@"
EOF
chmod 0755 "$temp"
if is_ours "$target" && cmp -s "$temp" "$target"; then
  state='already installed'
else
  mv -f "$temp" "$target"
  state='installed'
fi
rm -f "$temp"
trap - EXIT

version=$("$target" --version) || die "$target does not run; is the build complete? (pnpm build in $repo)"
echo "strata $version: $state $target"
echo "  runs $cli with $node"
echo "  remove it with: $repo/scripts/install-bin.sh --uninstall --prefix $prefix"
case ":${PATH:-}:" in
  *":$bindir:"*)
    found=$(command -v strata || true)
    if [ -n "$found" ] && [ "$found" != "$target" ]; then
      echo "  warning: 'strata' finds $found first on PATH; put $bindir before its directory"
    fi
    ;;
  *)
    echo "  $bindir is not on PATH; add it, e.g. in ~/.profile or ~/.bashrc:"
    echo "    export PATH=\"$bindir:\$PATH\""
    ;;
esac
