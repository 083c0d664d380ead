import sys

sys.exit("this plugin calls sys.exit at import")
