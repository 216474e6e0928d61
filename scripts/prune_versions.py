"""Delete old published versions of the stack's Lambda functions.

Every deploy that changes a function publishes a new version (AutoPublishAlias), and with
SnapStart each published version keeps a cached snapshot that is billed while the version
exists. Old versions are never used again once the `live` alias moved on, so this deletes
them: for each function it keeps every version an alias points at (including weighted
routing) and the N newest, and deletes the rest.

    python scripts/prune_versions.py --stack todo-assistant-dev              # dry run
    python scripts/prune_versions.py --stack todo-assistant-dev --keep 3 --delete
    python scripts/prune_versions.py --function my-chatkit-fn --delete

Without --delete it only prints what it would delete. Needs lambda:ListVersionsByFunction,
lambda:ListAliases and lambda:DeleteFunction on the functions (and
cloudformation:DescribeStackResources with --stack). Keep at least one version besides the
alias target to be able to roll back by pointing the alias at it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3

DEFAULT_KEEP = 3


def versions_to_delete(versions: Iterable[str], protected: Iterable[str], keep: int) -> list[str]:
    """Published versions (not `$LATEST`) that are neither protected nor among the `keep`
    newest, oldest first."""
    if keep < 0:
        raise ValueError("keep must be 0 or more")
    numbered = sorted({int(v) for v in versions if v.isdigit()}, reverse=True)
    kept = set(numbered[:keep]) | {int(v) for v in protected if v.isdigit()}
    return [str(v) for v in sorted(numbered) if v not in kept]


@dataclass
class PruneResult:
    function: str
    protected: list[str]
    kept: list[str]
    deleted: list[str] = field(default_factory=list)


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page[key])
    return items


def alias_targets(client: Any, function: str) -> list[str]:
    """Every version an alias routes to: its main version and any weighted extra ones."""
    targets: set[str] = set()
    for alias in _pages(client, "list_aliases", "Aliases", FunctionName=function):
        targets.add(alias["FunctionVersion"])
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        targets.update(weights)
    return sorted(targets)


def prune_function(client: Any, function: str, *, keep: int, delete: bool) -> PruneResult:
    versions = [
        v["Version"]
        for v in _pages(client, "list_versions_by_function", "Versions", FunctionName=function)
    ]
    protected = alias_targets(client, function)
    doomed = versions_to_delete(versions, protected, keep)
    kept = [v for v in versions if v.isdigit() and v not in doomed]
    result = PruneResult(function, protected, kept)
    for version in doomed:
        if delete:
            client.delete_function(FunctionName=function, Qualifier=version)
        result.deleted.append(version)
    return result


def stack_functions(cloudformation: Any, stack: str) -> list[str]:
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    return sorted(
        r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Function"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="every Lambda function of this CloudFormation stack")
    target.add_argument("--function", action="append", help="a function name (repeatable)")
    parser.add_argument(
        "--keep",
        type=int,
        default=DEFAULT_KEEP,
        help=f"newest versions to keep besides alias targets (default {DEFAULT_KEEP})",
    )
    parser.add_argument("--delete", action="store_true", help="delete (default: dry run)")
    parser.add_argument("--region", help="AWS region (default: the configured one)")
    parser.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests: moto's server
    args = parser.parse_args(argv)
    if args.keep < 0:
        parser.error("--keep must be 0 or more")

    session = boto3.session.Session(region_name=args.region)
    client = session.client("lambda", endpoint_url=args.endpoint_url)
    functions = args.function or stack_functions(
        session.client("cloudformation", endpoint_url=args.endpoint_url), args.stack
    )
    verb = "deleted" if args.delete else "would delete"
    for function in functions:
        result = prune_function(client, function, keep=args.keep, delete=args.delete)
        print(
            f"{function}: alias targets {', '.join(result.protected) or '-'}; "
            f"kept {', '.join(result.kept) or '-'}; {verb} {', '.join(result.deleted) or '-'}"
        )
    if not args.delete:
        print("dry run: add --delete to delete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
