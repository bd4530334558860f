"""Benchmarks for Telehub's quality bars (DESIGN §6); not part of CI's pass/fail.

    python -m benchmarks                 # all four
    python -m benchmarks cold_start      # or requests / cpu / worklist_latency

Each figure is printed with its budget and PASS or OVER; see benchmarks/README.md.
"""
