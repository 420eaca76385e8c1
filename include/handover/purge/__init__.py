"""Retention purge and erasure (PIPL Art. 47): rules, the purge over the store, erasure requests and tombstones."""
