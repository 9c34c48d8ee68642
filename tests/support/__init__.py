"""The helpers the tests share — no tests here, no fixtures except the sshd plugin (ssh_fixtures).

Flat modules for what several folders use (factories, pg, private_pg, ssh_fixtures, dagster_dev,
snapshot, cli, sidecar, standin, cluster, pbx, defs); subpackages for a suite's own builders
(conversations/, faults/, hostile/). Names here are public: a test imports nothing private from
another test module or a conftest.
"""
