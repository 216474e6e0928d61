"""The /chatkit turn around the agent: the ChatKit server, admission checks, Stop, model failures, widget actions."""
