"""Template parameters a deployment of template.yaml must set."""

from __future__ import annotations

# Parameters a deployment must choose: there is no sensible default for the sign-in issuer.
REQUIRED_PARAMETERS = {"OidcIssuer": "https://idp.example.test/", "OidcAudience": "todo-web"}
