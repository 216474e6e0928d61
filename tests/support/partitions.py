"""A user's partition read straight from DynamoDB with boto3, not through the code under test."""

from __future__ import annotations

from typing import Any

import boto3

from todo_assistant.config import Settings
from todo_assistant.db.keys import user_pk


def partition_keys(settings: Settings, user: str) -> list[str]:
    """Every sort key stored under a user's partition, read straight from DynamoDB."""
    client = boto3.client(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.aws_region
    )
    keys: list[str] = []
    kwargs = {
        "TableName": settings.table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_pk(user)}},
        "ProjectionExpression": "sk",
    }
    while True:
        page = client.query(**kwargs)
        keys += [row["sk"]["S"] for row in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return keys
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def partition_items(settings: Settings, user: str) -> list[dict[str, Any]]:
    """Every attribute of every row under a user's partition (a consistent read)."""
    client = boto3.client(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.aws_region
    )
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": settings.table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_pk(user)}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
