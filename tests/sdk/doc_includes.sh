#!/bin/sh
# SPDX-License-Identifier: MIT
# Keeps docs/plugin-abi.md's tutorial true: every code block the document
# introduces with
#     <!-- include: PATH -->          (the whole file) or
#     <!-- include: PATH#REGION -->   (a region of a C file)
# must equal that file or region (up to trailing blank lines), and a C
# file quoted by regions must be quoted whole: every region, once, in file
# order.
# Regions start at a line "/* @doc NAME */" and run to the next such line;
# the lines before the first marker are the region "head".
#   doc_includes.sh SOURCE_ROOT
set -eu
root=$1
doc=$root/docs/plugin-abi.md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnn-doc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The quoted blocks: tmp/doc/N (content), tmp/doc/N.ref (PATH or PATH#REGION).
mkdir "$tmp/doc"
awk -v dir="$tmp/doc" '
    function die(msg) { print msg > "/dev/stderr"; bad = 1; exit 2 }
    state == 0 && /^<!-- include: [^ ]+ -->$/ { n++; ref = $3; state = 1; next }
    state == 1 {
        if ($0 !~ /^```/)
            die("line " NR ": no code block after the include of " ref)
        state = 2
        printf "%s\n", ref > (dir "/" n ".ref")
        printf "" > (dir "/" n)
        next
    }
    state == 2 && /^```$/ { state = 0; next }
    state == 2 { print > (dir "/" n) }
    END {
        if (bad)
            exit 2
        if (state)
            die("unterminated code block")
        print n + 0 > (dir "/count")
    }
' "$doc"
count=$(cat "$tmp/doc/count")
[ "$count" -gt 0 ] || { echo "FAIL: $doc includes no code"; exit 1; }

# Split a C file into regions: tmp/regions/<file-id>/<k>.<name>.
split_regions() { # file outdir
    mkdir -p "$2"
    awk -v dir="$2" '
        BEGIN { k = 0; file = dir "/0.head"; printf "" > file }
        /^\/\* @doc [a-z_]+ \*\/$/ {
            k++
            file = dir "/" k "." $3
            printf "" > file
            next
        }
        { print > file }
    ' "$1"
}

# A file or region without its trailing blank lines (the blank line that
# separates regions in the source is not part of the quoted code).
trim() {
    awk '
        { line[NR] = $0 }
        NF { last = NR }
        END { for (i = 1; i <= last; i++) print line[i] }
    ' "$1"
}

status=0
i=1
while [ "$i" -le "$count" ]; do
    ref=$(cat "$tmp/doc/$i.ref")
    path=${ref%%#*}
    if [ ! -f "$root/$path" ]; then
        echo "FAIL: block $i quotes $path, which does not exist"
        status=1
        i=$((i + 1))
        continue
    fi
    if [ "$path" = "$ref" ]; then
        want=$root/$path
    else
        region=${ref#*#}
        id=$(printf '%s' "$path" | tr '/.' '__')
        [ -d "$tmp/regions/$id" ] || split_regions "$root/$path" "$tmp/regions/$id"
        want=$(ls "$tmp/regions/$id"/*."$region" 2>/dev/null | head -n 1)
        if [ -z "$want" ]; then
            echo "FAIL: $path has no region '$region'"
            status=1
            i=$((i + 1))
            continue
        fi
        echo "$(basename "$want")" >> "$tmp/regions/$id.quoted"
    fi
    trim "$want" >"$tmp/want"
    trim "$tmp/doc/$i" >"$tmp/got"
    if ! cmp -s "$tmp/want" "$tmp/got"; then
        echo "FAIL: the block quoting $ref differs from the file:"
        diff -u "$tmp/want" "$tmp/got" || true
        status=1
    else
        echo "ok: $ref"
    fi
    i=$((i + 1))
done

# Every region of a file quoted by regions, once, in order.
for quoted in "$tmp"/regions/*.quoted; do
    [ -f "$quoted" ] || continue
    dir=${quoted%.quoted}
    ls "$dir" | sort -n > "$tmp/all"
    if ! cmp -s "$tmp/all" "$quoted"; then
        echo "FAIL: the document must quote every region once, in order:"
        diff -u "$tmp/all" "$quoted" || true
        status=1
    fi
done
exit $status
