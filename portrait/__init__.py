"""Portrait: a bank's customer warehouse, portraits and precision marketing.

Importing the package sets one allocator option, before pyarrow loads (pyarrow reads it once, at
its own import): Arrow's allocator (mimalloc) returns freed memory to the system with
``MADV_DONTNEED`` a second after it is freed, so every file the ingest reads faulted its buffers in
again as zeroed 2 MB huge pages (about 230 per 10k x 6 delivery; ``clear_page`` was 8 % of the
machine's CPU samples during an ingest). With ``MIMALLOC_PURGE_DECOMMITS=0`` it returns them with
``MADV_FREE`` instead: the kernel still takes the pages back when it needs memory, and until then
the next buffer reuses them without a fault. A value the user set is kept.
"""

import os

os.environ.setdefault("MIMALLOC_PURGE_DECOMMITS", "0")
