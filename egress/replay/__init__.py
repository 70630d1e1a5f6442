"""Replay: tables made with the analysis library, made again on the extract.

:mod:`.spec` is what the library records beside a table (the grammar of its filters);
:mod:`.engine` makes the table again from an extract table and compares it, cell by cell,
with the file submitted. Neither touches a database or a key: the airlock hands the engine
the extract table it decrypted.
"""
