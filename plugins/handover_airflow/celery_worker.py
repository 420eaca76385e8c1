"""Handover's Celery workers: the libraries the steps need, imported once per worker, not once per task.

A Celery worker of Airflow 3.3 runs each task instance in a fork of one of its pool processes (the task
supervisor calls ``os.fork``; on Linux nothing is exec'd), and the pool processes are forks of the worker.
What the worker imported before it started its pool is therefore already loaded in every task process —
Airflow preloads its own operators that way (``on_celery_import_modules`` in the provider's
``celery_executor_utils``). Without this, every task instance imports the transfer's modules (~0.8 s of CPU),
every ``verify_chunk`` Great Expectations (~4 s) and every ``protect_chunk`` spaCy, Presidio and jieba's
dictionary (~5 s), for chunks of any size.

Set for the workers (the scheduler builds the same Celery app, so set it for every component):

    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=handover_airflow.celery_worker.CELERY_CONFIG

``CELERY_CONFIG`` is Airflow's own default Celery configuration, unchanged (the worker's app takes the
setting's dict whole, so it must be complete); what the setting adds is that a worker imports this module,
which connects :func:`preload` to Celery's ``worker_init`` — sent by a worker only, before it starts its
pool. Only modules and process-wide caches are loaded (no connection, file or thread is opened), so a fork
may use them.
"""

from __future__ import annotations

import gc
import logging
import time

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

log = logging.getLogger(__name__)

CELERY_CONFIG = DEFAULT_CELERY_CONFIG

# A text with no personal data in it: analysing it loads what the first real analysis would (the
# segmenter's dictionary, the recognizers' patterns), once.
_WARM_TEXT = "客户来电咨询账户余额，已告知办理渠道。"


@worker_init.connect
def preload(**_) -> None:
    """Import the steps' libraries and fill their process-wide caches in the worker, before it forks."""
    started = time.process_time()
    import great_expectations  # noqa: F401  — verify_chunk's suites
    from handover import analytics, quality, transfer, vault, verify  # noqa: F401
    from handover.pii import engine

    engine.analyzer().analyze(_WARM_TEXT, language=engine.LANGUAGE)
    gc.freeze()  # as Airflow's own preload does: the pool's forks share these pages (it unfreezes when ready)
    log.info("Handover's step libraries preloaded in %.1f s of CPU", time.process_time() - started)
