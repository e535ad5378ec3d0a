"""Cloud posture record kinds: PostureResult.

See DESIGN, "Measuring every domain".

Declared with ``@record_kind`` as in ``collectors/records.py``; imported at the end of
that module so that the declarations are registered with the others.
"""

from __future__ import annotations
