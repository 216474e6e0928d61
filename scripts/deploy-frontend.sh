#!/usr/bin/env bash
# Build the static front end against a deployed stack and upload it to the stack's hosting
# (template.yaml with HostFrontend=true: infra/frontend.yaml's bucket and distribution).
#
#   scripts/deploy-frontend.sh [dev|prod]          (stack name from samconfig.toml)
#   STACK_NAME=my-stack scripts/deploy-frontend.sh
#
# Sign-in settings come from the environment: NEXT_PUBLIC_OIDC_AUTHORITY,
# NEXT_PUBLIC_OIDC_CLIENT_ID, and optionally NEXT_PUBLIC_OIDC_SCOPE, NEXT_PUBLIC_OIDC_TOKEN.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVIRONMENT="${1:-dev}"
STACK_NAME="${STACK_NAME:-todo-assistant-${ENVIRONMENT}}"

output() {
  aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

CHATKIT_URL="$(output ChatKitBaseUrl)"
SESSION_URL="$(output SessionBaseUrl)"
BUCKET="$(output FrontendBucketName)"
DISTRIBUTION="$(output FrontendDistributionId)"
SITE_URL="$(output FrontendUrl)"
if [ -z "$BUCKET" ] || [ "$BUCKET" = "None" ]; then
  echo "$STACK_NAME has no front end hosting: deploy it with HostFrontend=true first" >&2
  exit 1
fi
if [ -z "${NEXT_PUBLIC_OIDC_AUTHORITY:-}" ] || [ -z "${NEXT_PUBLIC_OIDC_CLIENT_ID:-}" ]; then
  echo "set NEXT_PUBLIC_OIDC_AUTHORITY and NEXT_PUBLIC_OIDC_CLIENT_ID (see docs/deploy.md)" >&2
  exit 1
fi

cd frontend
npm ci --no-audit --no-fund
NEXT_TELEMETRY_DISABLED=1 \
NEXT_PUBLIC_CHATKIT_URL="$CHATKIT_URL" \
NEXT_PUBLIC_SESSION_URL="$SESSION_URL" \
NEXT_PUBLIC_CHATKIT_DOMAIN_KEY="${NEXT_PUBLIC_CHATKIT_DOMAIN_KEY:-$ENVIRONMENT}" \
  node_modules/.bin/next build
test -f out/index.html

# Hashed assets never change; pages and route payloads must be re-read after a deploy.
aws s3 sync out/_next/static "s3://$BUCKET/_next/static" \
  --cache-control "public, max-age=31536000, immutable"
aws s3 sync out "s3://$BUCKET" --delete --exclude "_next/static/*" \
  --cache-control "no-cache"
aws cloudfront create-invalidation --distribution-id "$DISTRIBUTION" --paths "/*" >/dev/null

echo "Front end deployed: $SITE_URL"
