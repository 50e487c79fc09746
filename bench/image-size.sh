#!/usr/bin/env bash
# What the worker image's runtime stage copies, measured without a container engine: the
# node_modules its build stage installs plus the repository files it copies, before (the whole
# dependency tree and `COPY . .`, as worker/Dockerfile did until the lean image) and now
# (worker/Dockerfile's steps: `npm ci --omit=dev` via CNG_SETUP_PRODUCTION=1, gdal-async's
# deps/ build/ src/ removed but for its GRIB tables, only WORKER_IMAGE_SOURCES copied).
#
#   bash bench/image-size.sh
#
# Both trees are installed with --ignore-scripts from package-lock.json into a temporary
# directory (npm's cache makes the second install quick). The compiled GDAL binding (a few MB,
# the same in both) and the Debian base with GDAL are not included: they do not change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cng-image-size.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mb() { du -sk "$@" | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'; }

install() { # <dir> [npm ci options...]
  local dir=$1; shift
  mkdir -p "$dir"
  cp package.json package-lock.json "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error "$@" >/dev/null)
}

install "$tmp/before"
install "$tmp/after" --omit=dev
g=$tmp/after/node_modules/gdal-async
mv "$g/deps/libgdal/gdal/frmts/grib/data" "$tmp/grib-data"
rm -rf "$g/"{deps,build,src}
mkdir -p "$g/deps/libgdal/gdal/frmts/grib" && mv "$tmp/grib-data" "$g/deps/libgdal/gdal/frmts/grib/data"

# Sources: before, every tracked file the .dockerignore let through (it left out dist/); now,
# the files `cng image-tag --files` lists (here through the dependency-free module itself).
src_before=$(git ls-files -z | grep -zv '^dist/' | du -ck --files0-from=- | tail -1 | awk '{ printf "%.0f", $1 / 1024 }')
src_after=$(PATH=$ROOT/node_modules/.bin:$PATH node constructs/worker-image.ts --files | tr '\n' '\0' | du -ck --files0-from=- | tail -1 | awk '{ printf "%.0f", $1 / 1024 }')

nm_before=$(mb "$tmp/before/node_modules")
nm_after=$(mb "$tmp/after/node_modules")

printf '%-34s %10s %10s\n' '' before now
printf '%-34s %8s MB %8s MB\n' 'node_modules' "$nm_before" "$nm_after"
printf '%-34s %8s MB %8s MB\n' '  of which gdal-async' "$(mb "$tmp/before/node_modules/gdal-async")" "$(mb "$tmp/after/node_modules/gdal-async")"
printf '%-34s %8s MB %8s MB\n' 'repository files copied' "$src_before" "$src_after"
total_before=$((nm_before + src_before))
total_after=$((nm_after + src_after))
printf '%-34s %8s MB %8s MB   (now/before %.2f)\n' 'total over the base image' "$total_before" "$total_after" \
  "$(awk -v a="$total_after" -v b="$total_before" 'BEGIN { print a / b }')"
echo "largest packages now:"
du -sk "$tmp/after/node_modules"/* "$tmp/after/node_modules"/@*/* 2>/dev/null | sort -rn | head -8 |
  awk -v root="$tmp/after/node_modules/" '{ sub(root, "", $2); printf "  %6.1f MB  %s\n", $1 / 1024, $2 }'
