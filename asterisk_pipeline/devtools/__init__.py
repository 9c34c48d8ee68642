"""Development tools: the PBX simulator, the demo supervisor and the one Listen_AMI row builder.

NOT production code. Nothing the pipeline runs on (``sync``, ``warehouse``, ``pbx``, ``defs``,
``api``, the CLI's operator commands) imports this package. Its only doors are the CLI's
``simulate`` command, which imports it lazily inside the command, and ``make run``
(``python -m asterisk_pipeline.devtools.demo``); tests and benchmarks import it freely.

One job per module:

* :mod:`.rows` - the Listen_AMI row builder (tables, bodies, rows, writing them into a file),
  shared by the simulator and the tests' hand-built rows.
* :mod:`.calls` - what a generated conversation is (``SimEvent``, ``SimCall``) and its ground
  truth (``SimCall.truth``, the ``.truth.jsonl`` file).
* :mod:`.dialplan` - an enterprise's simulated PBX: extensions, trunks, mobiles, callers.
* :mod:`.simple` - one-UniqueId calls; :mod:`.conversation` - the building blocks of
  multi-UniqueId ones; :mod:`.scenarios` - the SPEC §2.3 shapes built from them.
* :mod:`.dirt` - the garbage real files hold.
* :mod:`.plan` - a day's conversations in start order (the busy day too).
* :mod:`.delivery` - events become stored rows: webhook statuses, failures, retries.
* :mod:`.dayfile` - a whole day file in one transaction; :mod:`.live` - rows appended the way
  the live listener appends them; :mod:`.fleet` - day files of several enterprises and days.
* :mod:`.live_writer` - the demo's writer that follows the PBX clock.
* :mod:`.demo` - ``make run``: the simulated fleet, ``dagster dev`` and the sidecar.

The simulator is deterministic: every function is a pure function of its arguments (and, for
the append helpers, of the file's current content), with one ``random.Random`` seeded from the
arguments - never the global generator, never the wall clock. It uses only the standard library.
"""
