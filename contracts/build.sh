#!/bin/sh
# Rebuilds the fund contracts' ABIs and bytecode (internal/fundchain/artifacts) from
# contracts/*.sol with solc from npm (solcjs, a pinned version installed once into a cache
# folder). Run through `go generate ./internal/fundchain`; needs node and npm. The tests use
# the committed artifacts and need no compiler.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../internal/fundchain/artifacts}
version=0.8.28
cache=${PAIMON_SOLC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paimon-solc-$version}
if [ ! -f "$cache/node_modules/solc/package.json" ]; then
	mkdir -p "$cache"
	npm install --prefix "$cache" --no-save --no-audit --no-fund "solc@$version" >&2
fi
NODE_PATH="$cache/node_modules" node "$here/build.js" "$here" "$out"
