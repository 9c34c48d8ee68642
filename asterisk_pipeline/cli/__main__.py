"""``python -m asterisk_pipeline.cli``: the same as the ``asterisk-pipeline`` script."""
import sys

from .main import main

sys.exit(main())
