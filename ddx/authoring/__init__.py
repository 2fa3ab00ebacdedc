"""Authoring: everything that works on rule files, for ``ddx rules`` and the TUI rule editor alike.

:mod:`~ddx.authoring.check` is every check of ``ddx rules check`` (schema,
terms, sources, conditions, overlaps, reach, engine limits, examples);
:mod:`~ddx.authoring.regression` runs a rule set over cases (``ddx rules
test``, baselines, the fitted temperature); :mod:`~ddx.authoring.diff` compares
two rule sets rule by rule and case by case (``ddx rules diff``, the editor's
impact preview); :mod:`~ddx.authoring.edit` splices one rule into its file and
saves it atomically with a history; :mod:`~ddx.authoring.session` is the
rule editor without its screen (the rule being edited, the baseline run of the
cases, an edit's check and impact), as :class:`ddx.entry.CaseEntry` is for
cases; :mod:`~ddx.authoring.satisfiability` is the condition logic the checks
reason with. Part of the domain core: nothing here imports the CLI or Textual,
and importing the package imports nothing.
"""
