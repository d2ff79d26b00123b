"""logad.parsing: the pure parts of the parse stage (no Ray; files only in ``worker``).

* :mod:`~logad.parsing.masking` - named RE2 rules applied to whole Arrow arrays;
* :mod:`~logad.parsing.distinct` - per-block reject / mask / distinct / join-back functions;
* :mod:`~logad.parsing.miner` - drain3's Drain with content-hash template ids;
* :mod:`~logad.parsing.templates` - mine the distinct messages once, build the templates table;
* :mod:`~logad.parsing.steps` - the stage's four steps, composed in one process (``parse_blocks``)
  and by the Ray runner;
* :mod:`~logad.parsing.worker` - what one parse worker does with its units (row groups);
* :mod:`~logad.parsing.state` - plain-JSON template state, drain3 snapshot export/import;
* :mod:`~logad.parsing.accuracy` - GA, FGA and grouping agreement;
* :mod:`~logad.parsing.loghub` - the loghub 2k benchmark reader.
"""

__all__: list[str] = []
