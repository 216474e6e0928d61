"""Benchmarks that print figures (medians, ratios against a baseline run in the same process).

Run all of them with `python -m bench`, or one with `python -m bench.<name>`.
"""

import os

# Runs before any benchmark module imports the package: its logger reads LOG_LEVEL once, and
# per-request INFO logs would drown the printed tables (both backends skip them alike).
os.environ["LOG_LEVEL"] = "WARNING"
# Metric lines (EMF on stdout) would interleave with the tables too; both backends skip them.
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
# Benchmarks never reach AWS: dummy credentials, fixed region, no inherited profile or key.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "OPENAI_API_KEY", "AWS_LAMBDA_FUNCTION_NAME"):
    os.environ.pop(_name, None)
