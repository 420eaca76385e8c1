"""Airflow glue for Handover: Airflow's params, connections and secrets → the domain package's settings.

Imported only inside tasks (never at DAG parse time), so the scheduler stays fast.
"""
