"""The professionals' directory: the regional ROR, or a local mock of it.

One interface (``model.Directory``), two implementations chosen by
``FHIR_DIRECTORY``: ``local`` (the default, ``local.LocalDirectory``: fictional
PACA professionals and units from a data file) and ``ror``
(``ror.RorDirectory``: the ROR FHIR API over httpx). Both search the same
way (``index.DirectoryIndex``): the booklet's rules for names (case, accents
and diaeresis ignored, ``%`` for letters) hold whichever answers.
"""

from __future__ import annotations

from fhir_server.directory.local import LocalDirectory
from fhir_server.directory.model import Directory
from fhir_server.directory.ror import RorDirectory
from fhir_server.settings import DirectorySettings


def build_directory(settings: DirectorySettings) -> Directory:
    if settings.kind == "ror":
        return RorDirectory(settings)
    return LocalDirectory.load(settings.directory_file or None)
