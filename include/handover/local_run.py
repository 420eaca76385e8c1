"""A whole transfer in one local process, without Airflow — for the CLI, benchmarks and tests.

`run_all` calls the steps of `handover.transfer` in the DAG's order while holding the branch's lock
exclusively (`handover.store.runlock`); with several workers the per-source and per-chunk steps run in
forked processes, as the DAG's mapped tasks run in parallel.
"""

from __future__ import annotations

from handover import transfer
from handover.errors import StoreError
from handover.run import RunContext
from handover.store.connection import open_connection, translated

_POOL_CTX: RunContext | None = None  # what forked workers of run_all see (never pickled: it holds keys)


def _chunk_steps(ref: dict) -> dict:
    return transfer.stage_chunk(_POOL_CTX, transfer.protect_chunk(_POOL_CTX, transfer.verify_chunk(_POOL_CTX, ref)))


def _extract_step(entity: str) -> list[dict]:
    return transfer.extract_source(_POOL_CTX, entity)


def run_all(ctx: RunContext, workers: int = 1, timings: dict | None = None) -> dict:
    """Every step in order — what the DAG does, without Airflow (CLI, benchmarks, tests).

    With `workers` > 1, the per-source and per-chunk steps run in that many forked processes, as the DAG's
    mapped tasks run in parallel. `timings`, if given, receives the wall seconds of each stage. The work
    area and staging are removed at the end whatever happens, as the DAG's teardown does.
    """
    import time
    from multiprocessing import get_context

    global _POOL_CTX
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - clock
        clock = time.perf_counter()

    from handover.store import runlock

    branch = ctx.contract().branch_id
    with translated("run: cannot connect to the target store"):  # BranchBusy: another run has the branch
        guard = runlock.hold_exclusive(lambda: open_connection(ctx.dsn), branch, ctx.run_id)
    ctx.guard_pids.add(guard.get_backend_pid())
    transfer.open_work_area(ctx)
    try:
        transfer.check_contract(ctx)
        transfer.prepare_store(ctx)
        transfer.dump_source_tables(ctx)
        transfer.archive_original(ctx)
        lap("prepare")
        entities = list(ctx.contract().entities)
        if workers > 1:
            _POOL_CTX = ctx
            # Each chunk in a fresh process forked from this one (modules already imported here), as
            # every mapped task instance runs in its own process under Airflow: a worker's memory is one
            # chunk's, however many chunks the branch has.
            import handover.vault
            from handover.verify import validator

            validator()  # Great Expectations imported and its context made once, before the forks
            with get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
                refs = [r for refs in pool.map(_extract_step, entities, chunksize=1) for r in refs]
            transfer.prepare_chunks(ctx)
            lap("extract")
            # Presidio, spaCy, jieba and the analyzer with the customers' names (an automaton over them):
            # made once here, not in every chunk's process — and with no pool alive: a pool forks its
            # workers from a thread of its own, and a fork in the middle of an import here would leave
            # the child waiting forever on the import's lock
            import handover.analytics  # noqa: F401
            from handover.pii import engine

            engine.analyzer(transfer.customer_names(ctx)).analyze("客户张伟来电", language=engine.LANGUAGE)
            with get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
                pool.map(_chunk_steps, refs, chunksize=1)
                lap("verify+protect+stage")
            _POOL_CTX = None
        else:
            refs = [ref for entity in entities for ref in transfer.extract_source(ctx, entity)]
            transfer.prepare_chunks(ctx)
            lap("extract")
            for ref in refs:
                transfer.stage_chunk(ctx, transfer.protect_chunk(ctx, transfer.verify_chunk(ctx, ref)))
            lap("verify+protect+stage")
        transfer.settle(ctx)
        transfer.scan_before_load(ctx)
        lap("settle")
        transfer.load_vault(ctx)
        lap("load")
        transfer.reconcile(ctx)
        transfer.act_on_resend(ctx)
        lap("reconcile")
        result = transfer.publish_manifest(ctx)
        lap("manifest")
        return result
    except Exception as exc:
        try:
            transfer.mark_failed(ctx, reason=type(exc).__name__)
        except StoreError:
            pass
        raise
    finally:
        transfer.close_work_area(ctx)
        guard.close()  # the branch is free
