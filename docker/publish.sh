#!/usr/bin/env sh
# The one publish command: the Dockerfile runs it, and so does CI's publish-and-run check, so they cannot drift.
# Usage: docker/publish.sh <output folder>   (restore first: dotnet restore Llama2.Server/Llama2.Server.csproj)
set -eu
out="${1:?usage: docker/publish.sh <output folder>}"
dotnet publish Llama2.Server/Llama2.Server.csproj -c Release --no-restore -o "$out" -p:UseAppHost=false
