# pytest configuration: the drop-in (python/flashmla_swift) is imported from this checkout when it is not installed.
import os
import sys

# Import the package from this checkout (python/flashmla_swift) when it is not installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
