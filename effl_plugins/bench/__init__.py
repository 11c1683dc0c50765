"""The benchmark suite behind ``effl bench`` and ``benchmarks/*.py``: timing, cases, peers, reports.

Shipped inside the package so the installed ``effl`` command finds it; the scripts in the
repository's ``benchmarks/`` are thin ``main()`` entry points over these modules. Nothing here
imports torch, kornia or albumentations until a benchmark runs.
"""
