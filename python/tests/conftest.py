import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
# The cluster tests reuse the example's host.
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
