"""Imported by the fork server that starts the notes workers (:mod:`handover.pii.notes`), before any
worker forks from it: the imports, jieba's dictionary and the spaCy pipeline are then loaded once, and a
worker starts with them in memory (a fresh process would spend about three seconds on them). The name
model's code is imported too; its session is built in each worker (a session does not survive a fork)."""

import jieba

from handover.pii import engine
from handover.pii.recognizers import name_model, names

jieba.initialize()
engine.chinese_pipeline()
names._names_known()
if name_model.available():
    import onnxruntime  # noqa: F401
