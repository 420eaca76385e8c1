"""Imported by the fork server that starts the notes workers (:mod:`handover.pii.notes`), before any
worker forks from it: the imports, jieba's dictionary and the spaCy pipeline are then loaded once, and a
worker starts with them in memory (a fresh process would spend about three seconds on them)."""

import jieba

from handover.pii import engine

jieba.initialize()
engine.chinese_pipeline()
