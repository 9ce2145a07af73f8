import sys

from epymarl_sn.cli import main

sys.exit(main())
