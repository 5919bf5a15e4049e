"""The writer in a process of its own (``writer: process``, ``modeltap serve``'s default).

* ``parent``: ``WriterProcess``, this process's side: forwards queued events in frames, keeps
  what is not done yet, replaces a writer process that dies, combines the counters.
* ``child``: the writer process itself (``python -m modeltap.pipeline.writer_process.child``):
  a ``Writer`` with its own spool, fed from its stdin, reporting on its stdout.
* ``wire``: the frames both exchange over the pipes.
"""

from modeltap.pipeline.writer_process.parent import WriterProcess, combine_stats

__all__ = ["WriterProcess", "combine_stats"]
