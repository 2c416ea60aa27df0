import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# From the source tree the package is imported from python/; with RAFT_TEST_INSTALLED=1 the
# suite tests the package installed in the environment instead (make test-python-package).
if not os.environ.get("RAFT_TEST_INSTALLED"):
    sys.path.insert(0, os.path.join(HERE, ".."))
# The cluster tests reuse the example's host.
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
