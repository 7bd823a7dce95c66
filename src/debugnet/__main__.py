import sys

from debugnet.cli import main

sys.exit(main())
