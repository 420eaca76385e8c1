"""The Assets the DAGs share: ``branch_transfer`` updates the target store; ``branch_backup`` follows it."""

from airflow.sdk import Asset

TARGET_STORE = Asset("handover://target-store")
