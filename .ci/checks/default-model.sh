#!/usr/bin/env bash
# The shipped default model comes from the committed code and the commands docs/training.md gives: this remakes its
# inputs from Debian's bible-kjv (the corpus, checked by SHA-256), checks that train-tokenizer gives the shipped
# tokenizer byte for byte and that pretokenize gives the documented dataset, then that the CLI runs the shipped model
# when no checkpoint is named and writes the documented greedy sample. (Training itself takes most of an hour on 2
# cores, so it is not repeated here.)
# Last line: "N passed, N failed"; exit code non-zero on any failure.
source "$(dirname "$0")/../check-lib.sh"

command -v bible >/dev/null \
  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y bible-kjv) >"$work/apt.log" 2>&1
if ! command -v bible >/dev/null; then
  cat "$work/apt.log" >&2
  fail "bible-kjv is installed (apt-get install -y bible-kjv)"
  finish
fi

bible -f gen1:1-rev22:21 </dev/null | sed 's/^[^ ]* //' >"$work/kjv.txt"
check "the corpus has 31,102 verses" test "$(wc -l <"$work/kjv.txt")" -eq 31102
check "the corpus is the text the model was trained on (SHA-256)" \
  test "$(sha256sum <"$work/kjv.txt" | cut -d ' ' -f 1)" = b5c4940bcfeee072c0935b5200d0f9d88a00a0199cb0961d16133458fcdfae5d

if ! dotnet build Llama2.Cli -c Release >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  fail "Llama2.Cli builds"
  finish
fi
cli=(dotnet Llama2.Cli/bin/Release/net10.0/Llama2.Cli.dll)
shipped=Llama2.Engine/DefaultModel

check "train-tokenizer runs" "${cli[@]}" train-tokenizer "$work/kjv.txt" --split lines --vocab-size 2048 -o "$work/tok2048.bin"
check "train-tokenizer gives the shipped tokenizer byte for byte" cmp "$work/tok2048.bin" "$shipped/tok2048.bin"
check "pretokenize runs" "${cli[@]}" pretokenize "$work/kjv.txt" --split lines -z "$shipped/tok2048.bin" -o "$work/data"
dataset=$(tr -d ' \n' <"$work/data/dataset.json")
check "pretokenize gives the documented dataset (1,036,383 training and 119,660 validation tokens)" \
  grep -q '"train":{"file":"train.bin","documents":27887,"tokens":1036383},"validation":{"file":"val.bin","documents":3215,"tokens":119660}' <<<"$dataset"

# The greedy sample docs/training.md shows (README its start), as the CLI writes it with no checkpoint named.
expected="And God said unto them, Ye are men of the children of Israel, and have not the children of Israel done to the \
children of Israel, but to the children of Israel, and to the children of Israel, and to the children of Israel, and \
have not hearkened unto the voice of the LORD, nor have done evil in the sight of the LORD."
text=$("${cli[@]}" -t 0 -i "And God said" 2>/dev/null)
echo "$text"
check "the CLI runs the shipped model with no checkpoint named, to the documented greedy sample" test "$text" = "$expected"
finish
