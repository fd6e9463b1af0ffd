"""facegate tooling: model build, evaluation, benchmarks, the local stack and the `facegate` CLI.

Never shipped to Lambda; the runtime package `facegate` never imports it (import-linter contract).
"""
