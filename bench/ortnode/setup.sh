#!/bin/sh
# Installs onnxruntime-node 1.30.0 (the runtime the Go engine loads, in its Node
# binding) for `facepay bench face`, without running its install script, which
# downloads from hosts this machine cannot reach: npm pack, sha256 check, unpack.
# Usage: bench/ortnode/setup.sh DIR   (DIR/node_modules is created)
set -eu
dir=${1:?usage: setup.sh DIR}
mkdir -p "$dir/node_modules" "$dir/tgz"
fetch() { # name version sha256
	if [ -f "$dir/node_modules/$1/package.json" ]; then return; fi
	echo "ortnode: fetching $1@$2" >&2
	(cd "$dir/tgz" && npm pack --silent "$1@$2" >/dev/null)
	tgz="$dir/tgz/$1-$2.tgz"
	echo "$3  $tgz" | sha256sum -c --quiet -
	mkdir -p "$dir/node_modules/$1"
	tar xzf "$tgz" -C "$dir/node_modules/$1" --strip-components=1
	rm -f "$tgz"
}
fetch onnxruntime-common 1.30.0 7906c439e0d3e0f4048caa23b64cdfadc0f455c377f579ce1ab2a4b778f07d5f
fetch onnxruntime-node 1.30.0 6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
cp "$(dirname "$0")/embed.cjs" "$dir/embed.cjs"
