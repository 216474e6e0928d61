"""Structured JSON logs for CloudWatch (Powertools). Never log tokens or message text."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "todo-assistant")

logger = Logger(service=SERVICE_NAME, level=os.environ.get("LOG_LEVEL", "INFO"))
