import sys

from tb.formal import main

sys.exit(main())
