"""Handover: branch transfer (网点转让) of customer records, without Airflow."""
