"""`make dev`: start embedded AWS, create the table, serve every app on 127.0.0.1:PORT."""

from __future__ import annotations

import argparse
import os
import sys

from todo_assistant.config import Settings
from todo_assistant_dev.stack import (
    build_local_app,
    embedded_moto,
    local_environment,
    prepare_aws_resources,
)

BANNER = """
Todo assistant is running on {base}
  model     : {model}
  database  : {database} (table {table})
  sign-in   : {sign_in}
  endpoints : POST {base}/session  {session_body}   -> client secret
              POST {base}/chatkit  (ChatKit protocol, Authorization: Bearer <secret>)
              GET  {base}/tasks    (task panel REST API)
{chat}
Point a ChatKit front end at api.url = {base}/chatkit with domainKey "local-dev".
"""
DEV_CHAT = """Chat from another terminal:
  make chat                      (or: .venv/bin/todo-chat --url {base} --user alice)"""
OIDC_CHAT = """make chat signs in with dev sign-in: unset OIDC_ISSUER/OIDC_AUDIENCE to use it."""


def banner(settings: Settings, base: str, database: str) -> str:
    if settings.auth_mode == "oidc":
        sign_in = f"OIDC, tokens of {settings.oidc_issuer} for {settings.oidc_audience}"
        session_body = "Authorization: Bearer <your app's ID token>"
        chat = OIDC_CHAT
    else:
        sign_in = "dev (any user id, no password; set OIDC_ISSUER and OIDC_AUDIENCE for real)"
        session_body = '{"user_id": "alice"}'
        chat = DEV_CHAT.format(base=base)
    return BANNER.format(
        base=base,
        model=settings.resolved_model_provider,
        database=database,
        table=settings.table_name,
        sign_in=sign_in,
        session_body=session_body,
        chat=chat,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--dynamodb-endpoint",
        default=os.environ.get("DYNAMODB_ENDPOINT"),
        help="use this DynamoDB (e.g. DynamoDB Local) instead of the embedded moto server",
    )
    args = parser.parse_args(argv)

    import uvicorn

    with embedded_moto() as moto_endpoint:
        dynamodb = args.dynamodb_endpoint or moto_endpoint
        os.environ.update(local_environment(dynamodb, moto_endpoint))
        settings = Settings()
        prepare_aws_resources(settings)
        app = build_local_app(settings)
        base = f"http://{args.host}:{args.port}"
        database = "DynamoDB at " + dynamodb if args.dynamodb_endpoint else "embedded moto"
        print(banner(settings, base, database), flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
