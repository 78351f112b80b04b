"""``python -m bedrock_otel.docs_gen [--check] [REPO]``: write or check the generated documentation."""

import sys

from . import main

sys.exit(main())
