"""Client secrets: short-lived signed JWTs that name the user for the chatkit and tasks APIs."""
