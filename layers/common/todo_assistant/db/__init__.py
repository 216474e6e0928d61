"""The one DynamoDB table every feature shares: its rows, its keys, payload encoding, expiry rules."""
