"""durable-rules' structural limits, and the margins ddx keeps below them: every such number, in one place.

durable-rules 2.0.28 (its C core, ``durable_rules_engine``) has fixed
structural constants; driven past them it returns an error code, or hangs.
The ``ENGINE_*`` values are the engine's, as measured and listed in README.md
("durable-rules, driven safely"), each with a test in tests/test_engine.py:

* :data:`ENGINE_TRUE_PATHS` -- a fact that completes more than 64 condition
  paths at once is refused (error 303; 65 paths that one fact completes
  together are refused in the test);
* :data:`ENGINE_TESTS_PER_NODE` -- 512 child tests under one node hang the
  process (600 rules on one property, run in a child with a timeout);
* :data:`ENGINE_RULES_PER_PATH` -- 256 rules per identical condition path
  (error 108);
* :data:`ENGINE_NEX_PER_NODE` -- 128 "not recorded" (``$nex``) tests under
  one node;
* :data:`ENGINE_FACT_PROPERTIES` -- 255 properties per fact;
* :data:`ENGINE_RULES` -- 4096 rules per ruleset.

ddx never asks the engine to hold more. Three layers keep it so:

* loading refuses a rule set past ``MAX_*`` (:func:`ddx.knowledge.load_knowledge`,
  an ``engine-limit`` error naming the limit): a rule's own alternatives may
  all hold at once and one rule is never split across rulesets, so a rule
  stays far below the per-ruleset bound (24 of 60); facts carry only the keys
  rules test, so 240 keys stay below 255 properties; 4,000 rules below 4,096;
* the shard planner (:func:`ddx.engine.plan_shards`) splits the active rules
  into rulesets with at most ``SHARD_TRUE_PATHS`` paths one fact can complete
  together, ``SHARD_BRANCHES`` paths in all (which also bounds the rules on
  one identical path and the tests under one node) and ``SHARD_NEX``
  ``$nex`` tests;
* ``ddx rules check`` (:mod:`ddx.authoring.check`) warns when a rule set uses
  :data:`APPROACH` of a loading limit, and re-counts the rules per identical
  path in every planned ruleset against :data:`MAX_RULES_PER_PATH`.
"""

from __future__ import annotations

# the engine's own limits (durable-rules 2.0.28)
ENGINE_TRUE_PATHS = 64  # paths one fact may complete at once (error 303 beyond)
ENGINE_TESTS_PER_NODE = 512  # child tests under one node (the process hangs)
ENGINE_RULES_PER_PATH = 256  # rules per identical condition path (error 108)
ENGINE_NEX_PER_NODE = 128  # "not recorded" ($nex) tests under one node
ENGINE_FACT_PROPERTIES = 255  # properties per fact
ENGINE_RULES = 4096  # rules per ruleset

# refused when the rules are loaded
MAX_BRANCHES_PER_RULE = 24  # alternatives after expanding any/in (engine: 64 alpha tests true at once)
MAX_FACT_PROPERTIES = 240  # distinct finding keys rules may test (engine: 255 properties per message)
MAX_RULES = 4000  # engine: 4096 rules per ruleset (we also shard)

# the shard planner's bounds per ruleset
SHARD_TRUE_PATHS = 60  # paths one fact can complete per ruleset (the engine refuses 65: error 303)
SHARD_BRANCHES = 200  # paths per ruleset in all (far below 256 per path and 512 tests per node)
SHARD_NEX = 100  # "not recorded" ($nex) tests per ruleset (the engine allows 128 under one node)

# ddx rules check
APPROACH = 0.75  # warn when a structural limit is three-quarters used
MAX_RULES_PER_PATH = 200  # rules sharing one identical condition path (durable-rules: 256, error 108)
