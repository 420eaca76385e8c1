"""The Assets the DAGs share: ``branch_transfer`` updates the target store; ``branch_backup`` follows it.

The URI's scheme starts with ``x-`` (Airflow's mark of a private scheme): Airflow then does not look for a
provider's URI normaliser, which would import every provider's asset module (boto3, requests …: 0.6 s) each
time the scheduler parses a DAG file. The name is what the UI shows and what the DAGs refer to.
"""

from airflow.sdk import Asset

TARGET_STORE = Asset(name="handover://target-store", uri="x-handover://target-store")
