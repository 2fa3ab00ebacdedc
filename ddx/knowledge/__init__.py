"""The knowledge base: what ``rules/`` holds, read and validated — the core's data layer (no ranking here,
no CLI, no Textual).

* :mod:`~ddx.knowledge.vocabulary`: terms, synonyms and allowed values (``rules/vocabulary.yaml``);
* :mod:`~ddx.knowledge.case`: the case model built from the vocabulary (the case-file contract);
* :mod:`~ddx.knowledge.conditions`: rule conditions, parsed and compiled to predicates;
* :mod:`~ddx.knowledge.models`: one pydantic model per rules file (settings, entities, rules, reports,
  outside, vocabulary), and :mod:`~ddx.knowledge.load`: ``load_model``, the one way a rules file is read,
  validated and its errors located (file, line, key);
* :mod:`~ddx.knowledge.ancillary`: test costs, turnarounds, exclusive findings (``rules/ancillary.yaml``);
* :mod:`~ddx.knowledge.base`: :class:`Knowledge` (entities, profiles, rules, settings) and
  :func:`load_knowledge`, which checks what needs more than one file. Its public names are this package's
  (``from ddx.knowledge import load_knowledge``).
"""

from ddx.knowledge.base import *  # noqa: F403 - the package's API is base's __all__
from ddx.knowledge.base import __all__ as __all__
