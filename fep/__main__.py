import sys

from fep.cli import main

sys.exit(main())
