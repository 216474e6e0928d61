"""Run inside the SAM CLI's own Python (.cache/sam-cli): template JSON in, transformed JSON out.

samtranslator (the library behind `sam validate`/`sam deploy`'s Serverless transform) works
offline when it is handed the managed-policy map instead of asking IAM for it; the template's
policies are all inline, so an empty map is enough.
"""

import json
import sys

from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


def main() -> None:
    request = json.load(sys.stdin)
    translator = Translator(None, Parser())
    output = translator.translate(
        request["template"],
        parameter_values=request["parameters"],
        get_managed_policy_map=lambda: {},
    )
    json.dump(output, sys.stdout)


if __name__ == "__main__":
    main()
