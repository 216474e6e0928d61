"""The local stack: embedded DynamoDB/S3, all apps on one port, and a terminal chat client."""
