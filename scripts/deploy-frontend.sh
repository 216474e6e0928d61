#!/usr/bin/env bash
# Build the static front end against a deployed stack and upload it to the stack's hosting
# (template.yaml with HostFrontend=true: infra/frontend.yaml's bucket and distribution).
#
#   scripts/deploy-frontend.sh [dev|prod]          (stack name from samconfig.toml)
#   STACK_NAME=my-stack scripts/deploy-frontend.sh
#
# From the environment: NEXT_PUBLIC_OIDC_AUTHORITY, NEXT_PUBLIC_OIDC_CLIENT_ID (sign-in),
# NEXT_PUBLIC_CHATKIT_DOMAIN_KEY (the key OpenAI's domain allowlist gives the site's domain),
# and optionally NEXT_PUBLIC_OIDC_SCOPE, NEXT_PUBLIC_OIDC_TOKEN.
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
for name in NEXT_PUBLIC_OIDC_AUTHORITY NEXT_PUBLIC_OIDC_CLIENT_ID NEXT_PUBLIC_CHATKIT_DOMAIN_KEY; do
  if [ -z "${!name:-}" ]; then
    echo "set $name (docs/deploy.md, \"Hosting the front end\")" >&2
    exit 1
  fi
done

cd frontend
npm ci --no-audit --no-fund
NEXT_TELEMETRY_DISABLED=1 \
NEXT_PUBLIC_CHATKIT_URL="$CHATKIT_URL" \
NEXT_PUBLIC_SESSION_URL="$SESSION_URL" \
  node_modules/.bin/next build
test -f out/index.html

# Hashed assets never change; pages and route payloads must be re-read after a deploy.
aws s3 sync out/_next/static "s3://$BUCKET/_next/static" \
  --cache-control "public, max-age=31536000, immutable"
aws s3 sync out "s3://$BUCKET" --delete --exclude "_next/static/*" \
  --cache-control "no-cache"
aws cloudfront create-invalidation --distribution-id "$DISTRIBUTION" --paths "/*" >/dev/null

echo "Front end deployed: $SITE_URL"
