# Shared shell helpers for scripts/*. Sourced, not run.

# ensure_packages PKG...: apt-get install the Debian packages that are missing; one apt-get update
# first only when an install fails (the machine's package lists may be stale or absent).
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

# rewrite_in_large_writes FILE: writes FILE afresh in 4 MiB writes, so that the page cache holds it in large folios
# (up to 2 MiB), which a file made by `dotnet publish` (copy_file_range) does not get. An executable linked for 2 MiB
# pages (berth-runtime) is then mapped with one entry per 2 MiB. Only the cached copy differs: the bytes are the same.
rewrite_in_large_writes() {
  local file=$1
  dd if="$file" of="$file.tmp" bs=4M status=none
  chmod --reference="$file" "$file.tmp"
  mv -f "$file.tmp" "$file"
}
