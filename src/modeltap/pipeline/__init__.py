"""The background path: bounded queue, writer thread, local spool, committer."""
