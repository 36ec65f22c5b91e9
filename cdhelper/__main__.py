import sys

from cdhelper.cli import main

sys.exit(main())
