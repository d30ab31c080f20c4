"""A verb module whose import fails, as with a missing dependency."""

import lago_no_such_dependency  # noqa: F401

broken = None
