"""Mint a client secret with a development key and fill the placeholders of sample events.

For `sam local invoke` (see events/README.md): the sample events carry `{{client_secret}}`
and ids such as `{{thread_id}}` because a client secret expires within minutes.

    python -m todo_assistant_dev.mint_secret --user alice --env-vars events/env.json
    python -m todo_assistant_dev.mint_secret --user alice --env-vars events/env.json \\
        --event events/chatkit/items-list.json --set thread_id=thr_... > /tmp/event.json

It refuses to run without a development signing key (prefix `dev-insecure-`) and inside
Lambda: a real key stays in Secrets Manager and mints nothing outside the session function.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from todo_assistant.auth.client_secrets import ClientSecretService, IssuedSecret, SigningKeys
from todo_assistant.config import (
    DEV_SIGNING_KEY_PREFIX,
    ConfigurationError,
    Settings,
    running_in_lambda,
)
from todo_assistant.wiring.shared import signing_keys

PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
# Values land inside JSON strings (the body is JSON inside JSON): nothing that needs escaping.
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:\-]{1,4096}$")


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Replace every `{{name}}`; fail on a missing name or a value that would need escaping."""
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise ValueError(f"no value for placeholder(s) {', '.join(missing)}: use --set name=value")
    for name, value in values.items():
        if not SAFE_VALUE.match(value):
            raise ValueError(f"value of {name!r} has characters that would need JSON escaping")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def dev_signing_keys(settings: Settings) -> SigningKeys:
    if running_in_lambda():
        raise ConfigurationError("refusing to mint client secrets inside AWS Lambda")
    if settings.token_signing_key_secret_id:
        raise ConfigurationError(
            "TOKEN_SIGNING_KEY_SECRET_ID is set: that key is a real one; refusing to mint with it"
        )
    keys = signing_keys(settings)
    if not all(key.startswith(DEV_SIGNING_KEY_PREFIX) for key in keys.keys.values()):
        raise ConfigurationError(
            f"TOKEN_SIGNING_KEY is not a development key (prefix {DEV_SIGNING_KEY_PREFIX!r}); "
            "refusing to mint with a real key"
        )
    return keys


def mint(settings: Settings, user_id: str) -> IssuedSecret:
    keys = dev_signing_keys(settings)
    service = ClientSecretService(
        keys.keys,
        keys.current_kid,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        ttl_seconds=settings.client_secret_ttl_seconds,
    )
    return service.issue(user_id)


def sam_env_vars(path: Path, function: str | None) -> dict[str, str]:
    """Variables of a `sam local --env-vars` file: `Parameters`, then the function's own."""
    document = json.loads(path.read_text())
    values = dict(document.get("Parameters", {}))
    if function:
        values.update(document.get(function, {}))
    return {str(name): str(value) for name, value in values.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m todo_assistant_dev.mint_secret", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--user", required=True, help="user id the client secret names")
    parser.add_argument(
        "--env-vars", type=Path, help="sam local --env-vars file to read the signing key from"
    )
    parser.add_argument("--function", help="function section of the --env-vars file to apply")
    parser.add_argument("--event", type=Path, help="print this event with placeholders filled")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="value of another placeholder, e.g. thread_id=thr_...",
    )
    args = parser.parse_args(argv)

    if args.env_vars:
        os.environ.update(sam_env_vars(args.env_vars, args.function))
    try:
        issued = mint(Settings(), args.user)
        if args.event is None:
            print(issued.client_secret)
            return 0
        values: dict[str, str] = {}
        for item in args.set:
            name, equals, value = item.partition("=")
            if not equals:
                raise ValueError(f"--set {item!r}: expected NAME=VALUE")
            values[name] = value
        values["client_secret"] = issued.client_secret
        print(fill_placeholders(args.event.read_text(), values), end="")
    except (ConfigurationError, ValueError) as error:
        print(f"mint_secret: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
