#!/usr/bin/env bash
# Prints the URI of the Debian archive (the one serving the "bookworm" suite) that apt's sources
# already use, from deb822 files (/etc/apt/sources.list.d/*.sources) or one-line sources.list
# entries. Fails if there is none.
set -euo pipefail
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  # deb822 stanzas are separated by blank lines; keep the URI of a stanza whose Suites has bookworm.
  uri=$(awk 'BEGIN{RS=""} /(^|\n)Suites:[^\n]*(^|[ \t])bookworm([ \t]|\n|$)/ {
          if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s=substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' "$f")
  if [ -n "$uri" ]; then echo "$uri"; exit 0; fi
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  uri=$(awk '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                         if ($(i+1)=="bookworm") { print $i; exit } }' "$f")
  if [ -n "$uri" ]; then echo "$uri"; exit 0; fi
done
echo "install-deps: no Debian bookworm archive found in apt's sources; set SDVK_STOCK_MESA=1 to keep the stock Mesa" >&2
exit 1
