#!/bin/bash
# Lambda Web Adapter entry: the adapter (layer, /opt/bootstrap) proxies invocations to uvicorn.
PATH="$PATH:$LAMBDA_TASK_ROOT/bin" \
PYTHONPATH="$PYTHONPATH:/opt/python:$LAMBDA_RUNTIME_DIR:$LAMBDA_TASK_ROOT" \
exec python -m uvicorn --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --timeout-graceful-shutdown 1 app:app
