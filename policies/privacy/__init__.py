"""What happens to an aggregate result before review: DP noise (dp.py), disclosure control (sdc.py),
and a PII scan of every output cell (scan.py). Pure functions over Arrow tables; no I/O."""
