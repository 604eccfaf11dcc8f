#!/bin/sh
# manpages.sh OUTDIR [MAXPAGES] - a retrieval collection from the man pages
# of this machine, in BEIR layout, plus pretraining text and training pairs.
#
# Every page in sections 1 and 8 becomes a document (its DESCRIPTION) and
# a query (the one-line summary of its NAME section: "ls - list directory
# contents" gives "list directory contents").  Pages are split by a hash of
# their name: 80% train (pairs for contrastive fine-tuning), 20% test
# (queries and qrels).  The pretraining text is every section but NAME, so
# test queries are never seen in training.
set -eu
out=$1
max=${2:-4000}
mandir=${MANDIR:-/usr/share/man}
mkdir -p "$out/qrels"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# English pages of sections 1 and 8, sampled deterministically by name,
# at most two per family (git-*, perf-*, ...) so that no suite of
# near-identical pages dominates the collection.
find "$mandir/man1" "$mandir/man8" -maxdepth 1 -type f -name '*.gz' 2>/dev/null |
    awk '{ n = $0; sub(/.*\//, "", n); h = 0
           for (i = 1; i <= length(n); i++) h = (h * 31 + index("abcdefghijklmnopqrstuvwxyz0123456789-_.", substr(n, i, 1))) % 1000003
           print h "\t" $0 }' | sort -n | cut -f2 |
    awk '{ n = $0; sub(/.*\//, "", n); sub(/[-_.].*/, "", n); if (fam[n]++ < 2) print }' |
    head -n "$max" > "$tmp/pages"
[ -s "$tmp/pages" ] || { echo "manpages.sh: no man pages under $mandir" >&2; exit 1; }

while read -r f; do
    zcat -f "$f" 2>/dev/null | iconv -f utf-8 -t utf-8 -c 2>/dev/null |
    awk -v file="$f" '
    function clean(s) {
        gsub(/\\".*$/, "", s)                  # comment
        gsub(/\\f(\(..|\[[^]]*\]|.)/, "", s)  # font changes
        gsub(/\\\(aq/, "\047", s); gsub(/\\\((em|en)/, "-", s)
        gsub(/\\\(lq|\\\(rq|\\\(dq/, "\"", s)
        gsub(/\\\(../, "", s); gsub(/\\\[[^]]*\]/, "", s)
        gsub(/\\-/, "-", s); gsub(/\\[&:%|^\/,]/, "", s); gsub(/\\e/, "\\", s)
        gsub(/\\s[-+]?[0-9]/, "", s); gsub(/\\[*n]\(?../, "", s)
        gsub(/\\ /, " ", s); gsub(/\\/, "", s)
        gsub(/[\001-\037]/, " ", s)
        return s
    }
    function js(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
    /^\.so / { exit }                            # a link to another page
    /^\.S[Hh] / { sec = toupper($2); gsub(/"/, "", sec); next }
    /^[.\047]/ {
        if ($1 ~ /^\.(B|I|BI|BR|IB|IR|RB|RI|SM|SB)$/) { $1 = ""; line = clean($0); gsub(/"/, "", line) }
        else next
    }
    !/^[.\047]/ { line = clean($0) }
    {
        if (line ~ /^[ \t]*$/) next
        if (sec == "NAME") name = name " " line
        else {
            body = body " " line
            if (sec == "DESCRIPTION" && nd < 150) { desc = desc " " line; nd += split(line, w, " ") }
        }
    }
    END {
        q = name; if (!sub(/ +- +/, "\t", q)) exit
        split(q, p, "\t"); q = p[2]; gsub(/^ +| +$/, "", q)
        if (length(q) < 8 || nd < 12) exit
        id = file; sub(/.*\//, "", id); sub(/\.gz$/, "", id)
        gsub(/ +/, " ", desc); gsub(/ +/, " ", body)
        print id "\t" js(q) "\t" js(substr(desc, 2)) "\t" js(substr(body, 2))
    }'
done < "$tmp/pages" > "$tmp/pages.tsv"

# split by a hash of the id: test when h % 5 == 0
awk -F'\t' -v out="$out" '
{   id = $1; h = 0
    for (i = 1; i <= length(id); i++) h = (h * 131 + index("abcdefghijklmnopqrstuvwxyz0123456789-_.+", substr(id, i, 1))) % 1000003
    if (seen[$2]++) next                         # duplicate summaries are ambiguous queries
    print "{\"_id\":\"" id "\",\"title\":\"\",\"text\":" $3 "}" > (out "/corpus.jsonl")
    print "{\"text\":" $4 "}" > (out "/pretrain.jsonl")
    if (h % 5 == 0) {
        print "{\"_id\":\"" id "\",\"text\":" $2 "}" > (out "/queries.jsonl")
        print id "\t" id "\t1" > (out "/qrels/test.body")
    } else
        print "{\"query\":" $2 ",\"pos\":[" $3 "]}" > (out "/train.jsonl")
}' "$tmp/pages.tsv"
{ printf 'query-id\tcorpus-id\tscore\n'; cat "$out/qrels/test.body"; } > "$out/qrels/test.tsv"
rm -f "$out/qrels/test.body"
echo "manpages.sh: $(wc -l < "$out/corpus.jsonl") documents, $(wc -l < "$out/queries.jsonl") test queries, $(wc -l < "$out/train.jsonl") training pairs" >&2
