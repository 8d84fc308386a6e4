#!/bin/sh
# Builds the FAISS / hnswlib comparison program used by the 1:N search benchmark
# (facepay bench face). Usage: bench/searchbench/build.sh OUTPUT_BINARY
#
# It needs Debian's libfaiss-dev and libhnswlib-dev; when either is missing it
# installs them with apt-get (which needs root) and says so first.
set -eu

out=${1:?usage: build.sh OUTPUT_BINARY}
here=$(cd "$(dirname "$0")" && pwd)

missing=""
for p in libfaiss-dev libhnswlib-dev; do
	if ! dpkg -s "$p" >/dev/null 2>&1; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "searchbench: installing$missing with apt-get" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "searchbench: apt-get needs root; run as root or install$missing yourself" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
fi

mkdir -p "$(dirname "$out")"
echo "searchbench: g++ -O3 -march=native -fopenmp $here/searchbench.cpp -o $out" >&2
g++ -std=c++17 -O3 -march=native -fopenmp "$here/searchbench.cpp" -o "$out" -lfaiss -lblas -llapack
